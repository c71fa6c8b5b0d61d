package readiness

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/calendar"
)

// Chat is what the runner needs of the chat side; *bot.Bot is one.
type Chat interface {
	Rooms() []bot.Target
	Send(ctx context.Context, to bot.Target, t bot.Text) error
	DirectTarget(ctx context.Context, network string, p bot.Person) (bot.Target, bool)
}

// Notices records which windows were checked automatically, so a restart
// never checks and reports a window twice; *calendar.Book is one.
type Notices interface {
	NoticeState(key string) (string, error)
	SetNotice(key, state string) error
}

// Runner checks each window Lead before it starts and reports: one
// summary in every room, a private message to each owner whose patch needs
// them, and details naming a local security patch to Security only.
type Runner struct {
	Checker *Checker
	Chat    Chat
	Notices Notices
	// Lead is how long before a window the check runs; 0 disables it.
	Lead time.Duration
	// Person maps a name to whom to mention or message.
	Person func(name string) bot.Person
	// URL is the web address of a window's full report ("" when none).
	URL func(windowShort string) string
	// Security receives details naming a local security patch.
	Security func(ctx context.Context, text string)
	Log      *slog.Logger
}

// Run checks windows as they come within Lead until ctx is done.
func (r *Runner) Run(ctx context.Context) error {
	if r.Lead <= 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		r.Tick(ctx, r.Checker.Now())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Tick checks and reports every window starting within Lead of now that
// has not been checked automatically yet and has patches queued.
func (r *Runner) Tick(ctx context.Context, now time.Time) {
	if r.Lead <= 0 {
		return
	}
	cal := r.Checker.Calendar()
	for _, w := range cal.Between(now, now.Add(r.Lead+time.Second)) {
		if !w.Start.After(now) || w.Start.Sub(now) > r.Lead {
			continue
		}
		key := "readiness|" + w.ID + "|" + w.Start.UTC().Format(time.RFC3339)
		if st, err := r.Notices.NoticeState(key); err != nil || st != "" {
			continue
		}
		queues, err := r.Checker.Queues.Queues()
		if err != nil {
			r.log().Error("readiness: read queues", "err", err)
			continue
		}
		// Recorded first: after a crash mid-check the window is not
		// reported twice (people can still run "check").
		if err := r.Notices.SetNotice(key, "sent"); err != nil {
			r.log().Error("readiness: record check", "err", err)
			continue
		}
		if in, _ := calendar.Split(w, queues[w.ID]); len(in) == 0 {
			continue
		}
		res, err := r.Checker.Check(ctx, w)
		if err != nil {
			r.log().Error("readiness: check", "window", w.ID, "err", err)
			continue
		}
		r.Report(ctx, res)
	}
}

// joinWait bounds how long a report waits for the bot to be in a room
// (the check right after a start is done before the bot joined).
const joinWait = 2 * time.Minute

// waitJoined waits, when the chat can tell, until the bot is in room.
func (r *Runner) waitJoined(ctx context.Context, room bot.Target) {
	j, ok := r.Chat.(interface {
		Joined(bot.Target) (bool, <-chan struct{})
	})
	if !ok {
		return
	}
	limit := time.NewTimer(joinWait)
	defer limit.Stop()
	for {
		joined, changed := j.Joined(room)
		if joined || changed == nil {
			return
		}
		select {
		case <-changed:
		case <-limit.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (r *Runner) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

// Report sends a result: the summary to every room, the owners' private
// messages, and the security details to the security destination.
func (r *Runner) Report(ctx context.Context, res Result) {
	url := ""
	if r.URL != nil {
		url = r.URL(nonEmpty(res.Short, res.WindowID))
	}
	sum := Summary(res, r.Person, url)
	rooms := r.Chat.Rooms()
	for _, room := range rooms {
		r.waitJoined(ctx, room)
		if err := r.Chat.Send(ctx, room, sum); err != nil {
			r.log().Warn("readiness summary not delivered", "room", room.Room, "err", err)
		}
	}
	msgs := OwnerMessages(res)
	owners := make([]string, 0, len(msgs))
	for o := range msgs {
		owners = append(owners, o)
	}
	sort.Strings(owners)
	for _, o := range owners {
		r.tell(ctx, rooms, r.Person(o), msgs[o])
	}
	if r.Security != nil {
		for _, d := range SecurityDetails(res) {
			r.Security(ctx, d)
		}
	}
}

// tell sends a private message on the first network that can reach p.
func (r *Runner) tell(ctx context.Context, rooms []bot.Target, p bot.Person, msg string) {
	seen := map[string]bool{}
	for _, room := range rooms {
		if seen[room.Network] {
			continue
		}
		seen[room.Network] = true
		to, ok := r.Chat.DirectTarget(ctx, room.Network, p)
		if !ok {
			continue
		}
		var t bot.Text
		for i, l := range strings.Split(msg, "\n") {
			if i > 0 {
				t = t.Append(bot.T("\n"))
			}
			t = t.Append(bot.T(l))
		}
		if err := r.Chat.Send(ctx, to, t); err != nil {
			r.log().Warn("readiness message not delivered", "to", p.Name, "err", err)
			continue
		}
		return
	}
}
