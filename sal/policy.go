package sal

import (
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
)

// Source says who said a chat line and where.
type Source struct {
	// Network is the configured network name ("libera", "matrix", "console").
	Network string
	// Room is the channel or room id; for a private message, the sender.
	// Only rooms configured for a project accept !log.
	Room string
	// Nick is the sender's display nick, shown in the log. Never used to
	// decide anything.
	Nick string
	// Account is the identity the network vouches for; empty when the
	// sender is not identified.
	Account string
	// Sender is whom replies address (bot.Message.Sender); zero means Nick.
	Sender bot.Person
	// Time is when the line was said; zero means now.
	Time time.Time
}

// mention addresses the sender of the line.
func (s Source) mention() bot.Text {
	return bot.Message{Nick: s.Nick, Sender: s.Sender}.SenderMention()
}

// Kind says what a chat line asks of the log.
type Kind int

// What a chat line can be.
const (
	NotCommand    Kind = iota // not a !log line at all
	Missing                   // "!log" with nothing after it
	NotHere                   // !log in a room that feeds no project
	NotIdentified             // the sender is not identified and must be
	NotAllowed                // the sender may not log to this project
	Help                      // "!log help"
	TooLong                   // a message longer than MaxMessage
	Accepted                  // an entry to store
)

// Parsed is what Parse made of a chat line.
type Parsed struct {
	Kind Kind
	// Project is the project of the room (when the room has one).
	Project string
	// Entry is the entry to store when Kind is Accepted. Its ID is unset.
	Entry Entry
}

// Policy decides who may log where. Build it once from the configuration
// with NewPolicy; it is read-only afterwards and safe for concurrent use.
type Policy struct {
	rooms  []projectRoom
	relays map[string]bool // "network/account"
	cfg    *config.Config
	// same compares a configured room with a message's room; see
	// Options.SameRoom.
	same func(network, configured, room string) bool
}

// projectRoom is one configured room of a project.
type projectRoom struct {
	network, room string
	project       *config.SALProject
}

// NewPolicy builds the policy for cfg. same compares a configured room
// (as written in the config) with the room a message came from; nil
// compares the names (bot.SameRoomName), which knows no Matrix aliases.
func NewPolicy(cfg *config.Config, same func(network, configured, room string) bool) *Policy {
	if same == nil {
		same = func(_, configured, room string) bool { return bot.SameRoomName(configured, room) }
	}
	p := &Policy{relays: map[string]bool{}, cfg: cfg, same: same}
	for i := range cfg.SAL.Projects {
		proj := &cfg.SAL.Projects[i]
		for _, r := range proj.Rooms {
			network, room, _ := strings.Cut(r, "/")
			p.rooms = append(p.rooms, projectRoom{network, room, proj})
		}
	}
	for _, r := range cfg.SAL.Relays {
		p.relays[r] = true
	}
	return p
}

// Project returns the project the room feeds, or nil.
func (p *Policy) Project(network, room string) *config.SALProject {
	for _, r := range p.rooms {
		if r.network == network && p.same(network, r.room, room) {
			return r.project
		}
	}
	return nil
}

// MaxMessage is the longest message accepted, in bytes: a log line, not a
// paste.
const MaxMessage = 4000

// Parse decides what a chat line means: whether it is a !log command, and
// if so whether it may be logged and as what. It is a pure function of the
// policy, the source and the text; the entry is dated src.Time, or now
// when that is zero or later than now.
func (p *Policy) Parse(src Source, text string, now time.Time) Parsed {
	msg, ok := command(text)
	if !ok {
		return Parsed{Kind: NotCommand}
	}
	// A private conversation logs only if its room is configured (the
	// console's is; nobody's IRC nick is).
	proj := p.Project(src.Network, src.Room)
	if proj == nil {
		return Parsed{Kind: NotHere}
	}
	out := Parsed{Project: proj.Name}
	switch {
	case msg == "":
		out.Kind = Missing
		return out
	case strings.EqualFold(msg, "help"):
		out.Kind = Help
		return out
	case len(msg) > MaxMessage:
		out.Kind = TooLong
		return out
	}
	nick := src.Nick
	if src.Account != "" && p.relays[src.Network+"/"+src.Account] {
		if who, rest, ok := relayed(msg); ok {
			nick, msg = who, rest
		}
	} else if kind := p.allowed(proj, src); kind != Accepted {
		out.Kind = kind
		return out
	}
	// A line is logged when it arrived, or earlier when it says so (a late
	// line from a network); never later: a sender's clock (Matrix's
	// origin_server_ts) must not date this entry, and through time order
	// every later one, in the future.
	t := src.Time
	if t.IsZero() || t.After(now) {
		t = now
	}
	out.Kind = Accepted
	out.Entry = Entry{
		Time:    t.UTC().Truncate(time.Second),
		Nick:    nick,
		Account: src.Account,
		Network: src.Network,
		Room:    src.Room,
		Project: proj.Name,
		Message: msg,
	}
	return out
}

// command recognises "!log" lines: exactly "!log" or "!log " followed by
// the message. "!logs" or "!login" are not commands.
func command(text string) (msg string, ok bool) {
	text = strings.TrimRight(text, " \t")
	if text == "!log" {
		return "", true
	}
	rest, ok := strings.CutPrefix(text, "!log ")
	if !ok {
		return "", false
	}
	return strings.TrimSpace(StripFormatting(rest)), true
}

// relayed splits a relay's "user@host message" into its parts.
func relayed(msg string) (who, rest string, ok bool) {
	who, rest, ok = strings.Cut(msg, " ")
	rest = strings.TrimSpace(rest)
	at := strings.IndexByte(who, '@')
	if !ok || at <= 0 || at == len(who)-1 || rest == "" {
		return "", msg, false
	}
	return who, rest, true
}

func (p *Policy) allowed(proj *config.SALProject, src Source) Kind {
	if src.Account == "" {
		return NotIdentified
	}
	person := p.person(src.Network, src.Account)
	for _, rule := range proj.Allow {
		switch {
		case rule == config.SALAllowIdentified:
			return Accepted
		case strings.HasPrefix(rule, config.SALAllowRolePrefix):
			if person.Has(strings.TrimPrefix(rule, config.SALAllowRolePrefix)) {
				return Accepted
			}
		case person != nil && strings.EqualFold(person.Name, rule):
			return Accepted
		}
	}
	return NotAllowed
}

// person finds who an account belongs to, by the kind of network it was
// vouched for on.
func (p *Policy) person(network, account string) *config.Person {
	if n := p.cfg.NetworkByName(network); n != nil {
		if n.Type == "matrix" {
			return p.cfg.PersonByMatrixID(account)
		}
		return p.cfg.PersonByIRCAccount(account)
	}
	// The console (and any transport without a network entry) vouches for
	// a person by name or by one of their accounts.
	if per := p.cfg.PersonByName(account); per != nil {
		return per
	}
	if per := p.cfg.PersonByIRCAccount(account); per != nil {
		return per
	}
	return p.cfg.PersonByMatrixID(account)
}
