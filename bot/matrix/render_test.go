package matrix

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/sal/wikitext"
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
		{"deploy progress renders its wikitext", bot.T("Finished sync: Backport for [[gerrit:445113|Raise $wgExampleLimit to 20 (T1001)]] (duration: 08m 47s)."),
			"Finished sync: Backport for [[gerrit:445113|Raise $wgExampleLimit to 20 (T1001)]] (duration: 08m 47s).",
			`Finished sync: Backport for <a href="https://gerrit.example.org/r/445113">Raise $wgExampleLimit to 20 (T1001)</a> (duration: 08m 47s).`, nil},
		{"a logged line with a task and a URL", bot.T("\n2026-11-25 14:20 amir (production): restarted T1001 see https://x.example/a. "),
			"\n2026-11-25 14:20 amir (production): restarted T1001 see https://x.example/a. ",
			`<br>2026-11-25 14:20 amir (production): restarted <a href="https://phab.example.org/T1001">T1001</a> see <a href="https://x.example/a">https://x.example/a</a>. `, nil},
		{"hostile wikitext stays text", bot.T(`[[gerrit:1|<script>alert(1)</script>]] [[javascript:alert(1)|x]] [javascript:alert(1) y]`),
			`[[gerrit:1|<script>alert(1)</script>]] [[javascript:alert(1)|x]] [javascript:alert(1) y]`,
			`<a href="https://gerrit.example.org/r/1">&lt;script&gt;alert(1)&lt;/script&gt;</a> x [javascript:alert(1) y]`, nil},
		{"IRC codes leave the HTML", bot.T("\x02bold\x02 \x0304red"), "\x02bold\x02 \x0304red", "bold red", nil},
		{"code is not wikitext", bot.C("[[gerrit:1|x]]"), "[[gerrit:1|x]]", "<code>[[gerrit:1|x]]</code>", nil},
	}
	links := &wikitext.Renderer{Interwiki: map[string]string{"gerrit": "https://gerrit.example.org/r/$1", "phab": "https://phab.example.org/$1"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(tt.in, links)
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
