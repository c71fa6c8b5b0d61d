package sal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
)

// Handler returns a bot.Handler that handles !log lines and passes every
// other line to next.
func Handler(l *Log, next bot.Handler) bot.Handler {
	return bot.HandlerFunc(func(ctx context.Context, r *bot.Request) {
		src := Source{Network: r.Network, Room: r.Room, Nick: r.Nick, Account: r.Account, Sender: r.Sender, Time: r.Time}
		reply, ok := l.HandleLine(ctx, src, r.Text)
		if !ok {
			next.Handle(ctx, r)
			return
		}
		if err := r.Reply(ctx, reply); err != nil && !errors.Is(err, bot.ErrSlowDown) {
			l.log.Warn("cannot reply to !log", "network", r.Network, "room", r.Room, "err", err)
		}
	})
}

// QueryError is a search the person asking must fix; Msg says how.
type QueryError struct{ Msg string }

func (e *QueryError) Error() string { return e.Msg }

// ChatResults is how many matches a chat search shows.
const ChatResults = 3

// MaxChatQuery is the longest chat search, in characters.
const MaxChatQuery = 300

// ParseChatQuery reads a chat search: words, plus optional project:NAME,
// nick:NICK, from:YYYY-MM-DD and to:YYYY-MM-DD (inclusive).
func ParseChatQuery(s string, projects []string) (Query, error) {
	var q Query
	if n := utf8.RuneCountInString(s); n > MaxChatQuery {
		// Its words would come back in the answer's link, longer than a
		// chat line.
		return q, &QueryError{fmt.Sprintf("That search is too long (%d characters; at most %d): look for a few telling words.", n, MaxChatQuery)}
	}
	var words []string
	for _, f := range strings.Fields(s) {
		key, val, ok := strings.Cut(f, ":")
		if !ok || val == "" {
			words = append(words, f)
			continue
		}
		switch strings.ToLower(key) {
		case "project":
			if !contains(projects, val) {
				return q, &QueryError{fmt.Sprintf("There is no SAL project %q; the projects are %s.", val, strings.Join(projects, ", "))}
			}
			q.Project = val
		case "nick":
			q.Nick = val
		case "from", "to":
			d, err := time.Parse(time.DateOnly, val)
			if err != nil {
				return q, &QueryError{fmt.Sprintf("%s: expected a date like 2026-11-25, got %q.", key, val)}
			}
			if key == "to" {
				q.To = d.AddDate(0, 0, 1)
			} else {
				q.From = d
			}
		default:
			words = append(words, f) // gerrit:123, T1: just words
		}
	}
	q.Text = strings.Join(words, " ")
	if q.Text == "" && q.Project == "" && q.Nick == "" && q.From.IsZero() && q.To.IsZero() {
		return q, &QueryError{"Say what to look for, e.g. \"sal restarted apache2 project:production from:2026-11-01\"."}
	}
	return q, nil
}

// ChatSearch answers "sal <words>" in chat: the newest few matches and a
// link to all of them on the web. Errors the asker must fix are
// *QueryError.
func (l *Log) ChatSearch(ctx context.Context, text string) (bot.Text, error) {
	q, err := ParseChatQuery(text, l.Projects())
	if err != nil {
		return nil, err
	}
	q.Limit, q.Count = ChatResults, true
	res, err := l.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	return FormatChatResults(res, q, l.baseURL), nil
}

// FormatChatResults renders search results for chat.
func FormatChatResults(res Result, q Query, baseURL string) bot.Text {
	v := url.Values{}
	for k, s := range map[string]string{"q": q.Text, "project": q.Project, "nick": q.Nick} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !q.From.IsZero() {
		v.Set("from", q.From.Format(time.DateOnly))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.AddDate(0, 0, -1).Format(time.DateOnly))
	}
	all := baseURL + "/sal?" + v.Encode()
	if len(res.Entries) == 0 {
		return bot.T("No Server Admin Log entries match. Search the log: ").Append(bot.L(all, all))
	}
	head := fmt.Sprintf("The %d newest matching Server Admin Log entries", len(res.Entries))
	if res.More && res.Total > len(res.Entries) {
		head = fmt.Sprintf("The %d newest of %d matching Server Admin Log entries", len(res.Entries), res.Total)
	}
	if !res.More {
		head = fmt.Sprintf("All %d matching Server Admin Log entries", len(res.Entries))
		if len(res.Entries) == 1 {
			head = "The one matching Server Admin Log entry"
		}
	}
	out := bot.T(head+" (all: ").Append(bot.L(all, all), bot.T("):"))
	for _, e := range res.Entries {
		msg := e.Message
		if r := []rune(msg); len(r) > 200 {
			msg = string(r[:199]) + "…"
		}
		link := baseURL + "/sal/log/" + strconv.FormatUint(e.ID, 10)
		out = out.Append(bot.T(fmt.Sprintf("\n%s %s (%s): %s ", e.Time.UTC().Format("2006-01-02 15:04"), e.Nick, e.Project, msg)), bot.L(link, link))
	}
	return out
}

// NoticeRooms returns a Notify function that says each notice in the rooms
// of the notice's project. send is usually (*bot.Bot).Send.
func NoticeRooms(cfg *config.Config, send func(context.Context, bot.Target, bot.Text) error, log *slog.Logger) func(context.Context, Notice) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, n Notice) {
		p := cfg.SAL.SALProjectByName(n.Project)
		if p == nil {
			return
		}
		for _, r := range p.Rooms {
			network, room, _ := strings.Cut(r, "/")
			if err := send(ctx, bot.Target{Network: network, Room: room}, bot.T(n.Text())); err != nil {
				log.Warn("cannot tell a room about the SAL outbox", "room", r, "err", err)
			}
		}
	}
}
