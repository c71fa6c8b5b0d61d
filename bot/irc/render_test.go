package irc

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/jouncebot/jouncebot/bot"
)

func TestStripControl(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "jouncebot: next", "jouncebot: next"},
		{"bold", "\x02next\x02 please", "next please"},
		{"colour fg", "\x034red\x03 text", "red text"},
		{"colour fg,bg", "\x0304,12blue\x03", "blue"},
		{"colour keeps later digits", "\x03123", "3"},
		{"colour comma without bg", "\x034,x", ",x"},
		{"hex colour", "\x04FF0000,00ff00rgb\x04", "rgb"},
		{"italic underline reverse reset", "\x1di\x1fu\x16r\x0fx\x1es\x11m", "iurxsm"},
		{"ctcp and crlf", "\x01VERSION\x01\r\nPRIVMSG #x :hi", "VERSIONPRIVMSG #x :hi"},
		{"tab", "a\tb", "a b"},
		{"del and nul", "a\x7fb\x00c", "abc"},
		{"invalid utf-8", "caf\xe9", "caf\uFFFD"},
		{"unicode kept", "déploiement ✓", "déploiement ✓"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StripControl(tt.in); got != tt.want {
				t.Errorf("StripControl(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRender(t *testing.T) {
	alice := bot.Person{Name: "Alice Example", IRCNick: "alice", MatrixID: "@alice:example.org"}
	bob := bot.Person{Name: "Bob", IRCNick: "bob_"}
	tests := []struct {
		name       string
		in         bot.Text
		formatting bool
		want       []string
	}{
		{"plain", bot.T("hello"), true, []string{"hello"}},
		{"bold on", bot.Join(bot.T("window "), bot.B("open")), true, []string{"window \x02open\x02"}},
		{"bold off", bot.Join(bot.T("window "), bot.B("open")), false, []string{"window open"}},
		{"code is plain", bot.C("scap backport 123"), true, []string{"scap backport 123"}},
		{"link with label", bot.L("Deployments", "https://w.example/D"), true, []string{"Deployments (https://w.example/D)"}},
		{"link label is url", bot.L("https://w.example/D", "https://w.example/D"), true, []string{"https://w.example/D"}},
		{"mention mid-line", bot.Join(bot.T("ask "), bot.M(alice)), true, []string{"ask alice"}},
		{"mention starts line", bot.Join(bot.M(alice), bot.T(" it's time")), true, []string{"alice: it's time"}},
		{"mention with colon already", bot.Join(bot.M(alice), bot.T(": it's time")), true, []string{"alice: it's time"}},
		{"mention list", bot.Join(bot.M(alice), bot.T(", "), bot.M(bob), bot.T(" and "), bot.M(alice), bot.T(": go")), true,
			[]string{"alice, bob_ and alice: go"}},
		{"mention uses IRC nick not name", bot.Text{{Kind: bot.Mention, Text: "Alice Example", Person: alice}}, true, []string{"alice"}},
		{"mention without IRC nick", bot.Text{{Kind: bot.Mention, Text: "Carol", Person: bot.Person{Name: "Carol"}}}, true, []string{"Carol"}},
		{"lines", bot.Join(bot.B("a\nb"), bot.T("c")), true, []string{"\x02a\x02", "\x02b\x02c"}},
		{"user control bytes removed", bot.Join(bot.T("\x01ACTION\x01 x\r\nQUIT"), bot.B("\x03"+"4y")), true, []string{"ACTION x", "QUIT\x02y\x02"}},
		{"mention at start of second line", bot.Join(bot.T("first\n"), bot.M(bob), bot.T(" second")), true, []string{"first", "bob_: second"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, Render(tt.in, tt.formatting)); d != "" {
				t.Errorf("Render (-want +got):\n%s", d)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want []string
	}{
		{"fits", "hello world", 20, []string{"hello world"}},
		{"exact", "hello world", 11, []string{"hello world"}},
		{"word boundary", "the quick brown fox jumps", 10, []string{"the quick", "brown fox", "jumps"}},
		{"long word hard cut", "abcdefghijklmnopqrstuvwxyz", 10, []string{"abcdefghi", "jklmnopqr", "stuvwxyz"}},
		{"multibyte not cut inside", "ééééééééé", 10, []string{"éééé", "ééééé"}},
		{"bold reopened", "\x02bold words that go on\x02 end", 12, []string{"\x02bold words\x02", "\x02that go\x02", "\x02on\x02 end"}},
		{"spaces collapse at cut", "aaaa    bbbb", 8, []string{"aaaa", "bbbb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Split(tt.in, tt.max)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Split(%q, %d) (-want +got):\n%s", tt.in, tt.max, d)
			}
			for _, p := range got {
				if len(p) > tt.max || !utf8.ValidString(p) {
					t.Errorf("piece %q is longer than %d or invalid UTF-8", p, tt.max)
				}
			}
		})
	}
}

func TestFit(t *testing.T) {
	long := strings.Repeat("word ", 300) // 1500 bytes
	tests := []struct {
		name     string
		in       []string
		max      int
		maxLines int
		want     int
		cut      bool
	}{
		{"short", []string{"a", "b"}, 100, 5, 2, false},
		{"empty lines dropped", []string{"a", "", "b"}, 100, 5, 2, false},
		{"long line split", []string{long}, 400, 10, 4, false},
		{"absurd cut", []string{long, long, long}, 400, 5, 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Fit(tt.in, tt.max, tt.maxLines)
			if len(got) != tt.want {
				t.Fatalf("Fit gave %d lines, want %d: %q", len(got), tt.want, got)
			}
			for _, l := range got {
				if len(l) > tt.max {
					t.Errorf("line of %d bytes > %d", len(l), tt.max)
				}
			}
			if last := got[len(got)-1]; (last == cutNote) != tt.cut {
				t.Errorf("last line %q: cut note = %v, want %v", last, !tt.cut, tt.cut)
			}
		})
	}
}

func TestDropLine(t *testing.T) {
	tests := []struct {
		line string
		drop bool
	}{
		{"WHO alice %tacuhnr,1\r\n", true},
		{"WHO #ops %tacuhnr,1\r\n", false},
		{"NOTICE alice :\x01ERRMSG that is an unknown CTCP query\x01\r\n", true},
		{"NOTICE alice :\x01VERSION jouncebot\x01\r\n", false},
		{"PRIVMSG #ops :WHO alice\r\n", false},
	}
	for _, tt := range tests {
		if got := dropLine([]byte(tt.line)); got != tt.drop {
			t.Errorf("dropLine(%q) = %v, want %v", tt.line, got, tt.drop)
		}
	}
}
