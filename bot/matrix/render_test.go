package matrix

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/jouncebot/jouncebot/bot"
)

func TestRender(t *testing.T) {
	alice := bot.Person{Name: "Alice", IRCNick: "alice_", MatrixID: "@alice:example.org"}
	tests := []struct {
		name     string
		in       bot.Text
		body     string
		html     string
		mentions []id.UserID
	}{
		{"plain", bot.T("hello"), "hello", "hello", nil},
		{"escaped", bot.T(`<script>&"x"`), `<script>&"x"`, "&lt;script&gt;&amp;&#34;x&#34;", nil},
		{"bold and code", bot.Join(bot.B("b<"), bot.C("c&")), "b<c&", "<b>b&lt;</b><code>c&amp;</code>", nil},
		{"link", bot.L("window", "https://w.example/a?b=1&c=2"), "window (https://w.example/a?b=1&c=2)",
			`<a href="https://w.example/a?b=1&amp;c=2">window</a>`, nil},
		{"link without label", bot.L("", "https://w.example/"), "https://w.example/", `<a href="https://w.example/">https://w.example/</a>`, nil},
		{"unsafe link is text", bot.L("x", "javascript:alert(1)"), "x (javascript:alert(1))", "x (javascript:alert(1))", nil},
		{"mention", bot.Join(bot.M(alice), bot.T(": hi")), "alice_: hi",
			`<a href="https://matrix.to/#/@alice:example.org">alice_</a>: hi`, []id.UserID{"@alice:example.org"}},
		{"mention without matrix id", bot.M(bot.Person{Name: "Bob", IRCNick: "bob"}), "bob", "bob", nil},
		{"mention label escaped", bot.Text{{Kind: bot.Mention, Text: "<b>", Person: alice}}, "<b>",
			`<a href="https://matrix.to/#/@alice:example.org">&lt;b&gt;</a>`, []id.UserID{"@alice:example.org"}},
		{"same person twice", bot.Join(bot.M(alice), bot.T(" "), bot.M(alice)), "alice_ alice_",
			`<a href="https://matrix.to/#/@alice:example.org">alice_</a> <a href="https://matrix.to/#/@alice:example.org">alice_</a>`,
			[]id.UserID{"@alice:example.org"}},
		{"newlines", bot.Join(bot.T("a\nb"), bot.B("c\nd")), "a\nbc\nd", "a<br>b<b>c<br>d</b>", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(tt.in)
			want := &event.MessageEventContent{
				MsgType: event.MsgNotice, Body: tt.body, Format: event.FormatHTML, FormattedBody: tt.html,
				Mentions: &event.Mentions{UserIDs: tt.mentions},
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(event.MessageEventContent{})); diff != "" {
				t.Errorf("render (-want +got):\n%s", diff)
			}
		})
	}
}
