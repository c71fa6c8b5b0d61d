// Package bot is jouncebot's chat core. Transports (bot/console, bot/irc,
// bot/matrix) turn what people say into Messages and hand them to a Handler;
// the core sends replies and announcements back through the transport that
// owns the room. Handlers never see protocol details: they read a Message and
// answer with Text, a neutral rich-text form each transport renders its own way.
//
// Use it like this:
//
//	b := bot.New(logger, handler)
//	b.Add(console.New(os.Stdin, os.Stdout))
//	err := b.Run(ctx) // until ctx is done or every transport has ended
package bot

import (
	"strings"
	"time"
)

// Message is one line of chat addressed to, or overheard by, the bot.
type Message struct {
	// ID is unique per transport and opaque to everyone but the transport
	// that made it (an IRC msgid or counter, a Matrix event id).
	ID string
	// Network is the configured name of the network the message came from
	// (e.g. "libera", "matrix", "console").
	Network string
	// Room is the channel or room the message was said in. For a private
	// message it is the sender's private conversation (nick or DM room id).
	Room string
	// Private is true for direct messages; they need no addressing prefix.
	Private bool
	// Nick is the sender's display nick. It is never used for authorisation.
	Nick string
	// Account is the sender's authenticated identity as the network vouches
	// for it: the IRC services account or the Matrix user id. Empty means
	// "not identified".
	Account string
	// Host is where the sender connects from as the network shows it (an
	// IRC user@host), when there is one. It only keeps an unidentified
	// sender from escaping rate limits by changing nick; it never
	// identifies anyone.
	Host string
	// Sender is whom a reply addresses, as a mention the transport renders
	// as a real one: on Matrix the sender's own user id, never a display
	// name they chose (anyone can call themselves "Amir"). Transports whose
	// nicks are unique on the network (IRC) leave it zero, and Nick is used.
	Sender Person
	// Text is the message body with transport formatting removed.
	Text string
	// Time is when the network says the message was sent.
	Time time.Time
}

// Identified reports whether the network vouched for the sender's account.
func (m Message) Identified() bool { return m.Account != "" }

// SenderMention is the mention that addresses the sender of m in a reply.
func (m Message) SenderMention() Text {
	if m.Sender != (Person{}) {
		return M(m.Sender)
	}
	return M(Person{Name: m.Nick, IRCNick: m.Nick})
}

// Target says where a reply or announcement goes.
type Target struct {
	Network string
	Room    string
	Private bool
}

// ReplyTarget is where an answer to m goes: the same room, or privately
// when m was private.
func (m Message) ReplyTarget() Target {
	return Target{Network: m.Network, Room: m.Room, Private: m.Private}
}

// SpanKind says how a Span is rendered.
type SpanKind int

// Span kinds. Transports render each as best they can and fall back to plain
// text for anything they cannot show.
const (
	Plain SpanKind = iota
	Bold
	Code
	Link    // Text is the label, URL the destination.
	Mention // Text is the display name; Person says whom to notify.
)

// Person identifies someone to mention, on every network at once, so an
// announcement can notify them wherever it is delivered.
type Person struct {
	Name     string // display name from config
	IRCNick  string // nick to highlight on IRC
	MatrixID string // user id for a Matrix mention pill
}

// Span is one run of rich text.
type Span struct {
	Kind   SpanKind
	Text   string
	URL    string
	Person Person
}

// Text is neutral rich text: a sequence of spans. The zero value is empty.
type Text []Span

// T returns plain text.
func T(s string) Text { return Text{{Kind: Plain, Text: s}} }

// B returns bold text.
func B(s string) Text { return Text{{Kind: Bold, Text: s}} }

// C returns code text.
func C(s string) Text { return Text{{Kind: Code, Text: s}} }

// L returns a link.
func L(label, url string) Text { return Text{{Kind: Link, Text: label, URL: url}} }

// M returns a mention of p.
func M(p Person) Text {
	name := p.IRCNick
	if name == "" {
		name = p.Name
	}
	return Text{{Kind: Mention, Text: name, Person: p}}
}

// Join concatenates rich texts.
func Join(parts ...Text) Text {
	var out Text
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Append adds parts to t and returns the result.
func (t Text) Append(parts ...Text) Text { return Join(append([]Text{t}, parts...)...) }

// String renders t as plain text, for consoles, logs and tests. Links show
// their URL in parentheses when it differs from the label.
func (t Text) String() string {
	var b strings.Builder
	for _, s := range t {
		if s.Kind == Link && s.Text == "" {
			b.WriteString(s.URL)
			continue
		}
		b.WriteString(s.Text)
		if s.Kind == Link && s.URL != "" && s.URL != s.Text {
			b.WriteString(" (" + s.URL + ")")
		}
	}
	return b.String()
}

// Lines splits t at newlines in its spans, so transports that send one line
// at a time keep formatting per line.
func (t Text) Lines() []Text {
	var lines []Text
	var cur Text
	for _, s := range t {
		parts := strings.Split(s.Text, "\n")
		for i, p := range parts {
			if i > 0 {
				lines = append(lines, cur)
				cur = nil
			}
			if p != "" || (s.Kind == Link && s.URL != "" && len(parts) == 1) {
				n := s
				n.Text = p
				cur = append(cur, n)
			}
		}
	}
	if len(cur) > 0 || len(lines) == 0 {
		lines = append(lines, cur)
	}
	return lines
}
