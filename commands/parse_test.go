package commands

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		private bool
		want    Parsed
		ok      bool
	}{
		{"colon", "jouncebot: next", false, Parsed{Name: "next", Args: nil}, true},
		{"comma", "jouncebot, nowandnext", false, Parsed{Name: "nowandnext"}, true},
		{"case-insensitive nick and command", "JounceBot: NowAndNext", false, Parsed{Name: "nowandnext"}, true},
		{"at sign", "@jouncebot: help deploy", false, Parsed{Name: "help", Args: []string{"deploy"}, Rest: "deploy"}, true},
		{"no space after colon", "jouncebot:next", false, Parsed{Name: "next"}, true},
		{"extra spaces", "  jouncebot:    help    now  ", false, Parsed{Name: "help", Args: []string{"now"}, Rest: "now"}, true},
		{"bare nick is chatter", "jouncebot next", false, Parsed{}, false},
		{"nick inside text", "ask jouncebot: next", false, Parsed{}, false},
		{"quoted from another message", "<amir> jouncebot: deploy 1", false, Parsed{}, false},
		{"longer nick", "jouncebot2: next", false, Parsed{}, false},
		{"nick only", "jouncebot:", false, Parsed{}, false},
		{"private without prefix", "next", true, Parsed{Name: "next"}, true},
		{"private with prefix", "jouncebot: next", true, Parsed{Name: "next"}, true},
		{"room without prefix", "next", false, Parsed{}, false},
		{"empty", "", true, Parsed{}, false},
		{"spaces only", "   \t ", true, Parsed{}, false},
		{"quoted args", `jouncebot: window add "Extra window" 2026-12-01T10:00Z 1h`, false,
			Parsed{Name: "window", Args: []string{"add", "Extra window", "2026-12-01T10:00Z", "1h"}, Rest: `add "Extra window" 2026-12-01T10:00Z 1h`}, true},
		{"unicode args", "jouncebot: help café ☃", false, Parsed{Name: "help", Args: []string{"café", "☃"}, Rest: "café ☃"}, true},
		{"IRC formatting stripped", "\x02jouncebot\x02: \x0304next", false, Parsed{Name: "next"}, true},
		{"invalid UTF-8", "jouncebot: help \xff\xfe", false, Parsed{Name: "help", Args: []string{"\uFFFD"}, Rest: "\uFFFD"}, true},
		{"colour with background", "jouncebot: \x0304,12help\x03 now", false, Parsed{Name: "help", Args: []string{"now"}, Rest: "now"}, true},
		{"NUL and bell", "jouncebot: next\x00\x07", false, Parsed{Name: "next"}, true},
		{"zero-width space", "jouncebot\u200b: next", false, Parsed{Name: "next"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Parse(tt.text, "jouncebot", tt.private)
			if ok != tt.ok {
				t.Fatalf("Parse(%q) ok = %v, want %v", tt.text, ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) mismatch (-want +got):\n%s", tt.text, diff)
			}
		})
	}
}

func TestParseLongLine(t *testing.T) {
	text := "jouncebot: help " + strings.Repeat("x", 10*1024)
	p, ok := Parse(text, "jouncebot", false)
	if !ok || p.Name != "help" {
		t.Fatalf("Parse(10 KB line) = %v, %v; want the help command", p, ok)
	}
	if len(p.Rest) > MaxLine {
		t.Errorf("Rest is %d bytes; want at most %d", len(p.Rest), MaxLine)
	}
}

func TestQuoteNeverEchoesControlBytes(t *testing.T) {
	got := Quote("\x01VERSION\x01\r\nQUIT :bye\x1b[31m" + strings.Repeat("y", 100))
	if strings.ContainsFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		t.Errorf("Quote returned control bytes: %q", got)
	}
	if len([]rune(got)) > 45 {
		t.Errorf("Quote returned %d runes; want it shortened", len([]rune(got)))
	}
}

// FuzzParse reads any chat line as a command, then checks its arguments
// as the deploy command's list would: neither panics, and a refusal is a
// clean sentence.
func FuzzParse(f *testing.F) {
	f.Add("jouncebot: next", false)
	f.Add("\xff\x00jouncebot,\"", true)
	f.Add("jouncebot: deploy --force 445113 https://gerrit.example.org/r/c/x/+/445114/2 fixing -Wall", false)
	f.Add("deploy --bogus 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21", true)
	f.Add("jouncebot: plan \"445113 445114\" -- -1 -x", false)
	list := &List{Max: MaxChanges, Flags: deployFlags, Item: isChange}
	f.Fuzz(func(t *testing.T, s string, private bool) {
		p, ok := Parse(s, "jouncebot", private)
		if !ok {
			return
		}
		if p.Name == "" || strings.ContainsFunc(p.Rest, func(r rune) bool { return r < 0x20 }) {
			t.Errorf("Parse(%q) = %+v", s, p)
		}
		msg := list.check("deploy", p.Args)
		if msg != "" && (!strings.HasSuffix(msg, ". Nothing was done.") || strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 })) {
			t.Errorf("refusal of %q is not a clean sentence: %q", s, msg)
		}
	})
}
