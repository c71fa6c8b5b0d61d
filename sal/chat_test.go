package sal

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/bot/console"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// TestConsoleRoundTrip logs through the real chat core and console
// transport, and follows the permalink back to the entry.
func TestConsoleRoundTrip(t *testing.T) {
	l, _ := newTestLog(t, Options{})
	var out strings.Builder
	passed := []string{}
	next := bot.HandlerFunc(func(ctx context.Context, r *bot.Request) { passed = append(passed, r.Text) })
	b := bot.New(slog.New(slog.DiscardHandler), Handler(l, next))
	b.Add(console.New(strings.NewReader("!log restarted \x02envoy\x02 T42\n!log\njouncebot: next\n"), &out, "Carol"))
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Scale(10*time.Second))
	defer cancel()
	b.Run(ctx)
	want := "Logged the message at https://bot.example.org/sal/log/1\noperator: Message missing. Nothing logged.\n"
	if out.String() != want {
		t.Errorf("console shows %q, want %q", out.String(), want)
	}
	if d := cmp.Diff([]string{"jouncebot: next"}, passed); d != "" {
		t.Errorf("lines passed on (-want +got):\n%s", d)
	}
	e, err := l.Get(ctx, 1)
	if err != nil || e.Message != "restarted envoy T42" || e.Nick != "operator" || e.Account != "Carol" || e.Project != "tools" {
		t.Errorf("entry 1: %+v, %v", e, err)
	}
}

func TestParseChatQuery(t *testing.T) {
	projects := []string{"production", "releng"}
	tests := []struct {
		in   string
		want Query
		err  string
	}{
		{"restarted apache2", Query{Text: "restarted apache2"}, ""},
		{"project:releng nick:bob scap gerrit:42", Query{Text: "scap gerrit:42", Project: "releng", Nick: "bob"}, ""},
		{"from:2026-11-01 to:2026-11-02 x", Query{Text: "x", From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)}, ""},
		{"project:nope x", Query{}, `There is no SAL project "nope"; the projects are production, releng.`},
		{"from:yesterday", Query{}, `from: expected a date like 2026-11-25, got "yesterday".`},
		{"  ", Query{}, `Say what to look for, e.g. "sal restarted apache2 project:production from:2026-11-01".`},
		{strings.Repeat("x", 5000), Query{}, `That search is too long (5000 characters; at most 300): look for a few telling words.`},
		{"project:" + strings.Repeat("é", 400), Query{}, `That search is too long (408 characters; at most 300): look for a few telling words.`},
	}
	for _, tt := range tests {
		got, err := ParseChatQuery(tt.in, projects)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseChatQuery(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if d := cmp.Diff(tt.want, got); err != nil || d != "" {
			t.Errorf("ParseChatQuery(%q) (-want +got):\n%s %v", tt.in, d, err)
		}
	}
}

func TestChatSearch(t *testing.T) {
	l, _ := newTestLog(t, Options{})
	for i, m := range []string{"restarted apache2 on mw1", "depooled db1", "restarted apache2 on mw2", "restarted apache2 on mw3", "restarted apache2 on mw4"} {
		l.Append(context.Background(), Entry{Time: t0.Add(time.Duration(i) * time.Minute), Nick: "alice", Project: "production", Message: m})
	}
	got, err := l.ChatSearch(context.Background(), "apache2 restarted project:production")
	if err != nil {
		t.Fatal(err)
	}
	want := `The 3 newest of 4 matching Server Admin Log entries (all: https://bot.example.org/sal?project=production&q=apache2+restarted):
2026-11-25 19:04 alice (production): restarted apache2 on mw4 https://bot.example.org/sal/log/5
2026-11-25 19:03 alice (production): restarted apache2 on mw3 https://bot.example.org/sal/log/4
2026-11-25 19:02 alice (production): restarted apache2 on mw2 https://bot.example.org/sal/log/3`
	if d := cmp.Diff(want, got.String()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	got, _ = l.ChatSearch(context.Background(), "depooled")
	if s := got.String(); !strings.HasPrefix(s, "The one matching Server Admin Log entry (all: https://bot.example.org/sal?q=depooled):\n") {
		t.Errorf("one match: %q", s)
	}
	got, _ = l.ChatSearch(context.Background(), "nginx")
	if s := got.String(); s != "No Server Admin Log entries match. Search the log: https://bot.example.org/sal?q=nginx" {
		t.Errorf("no match: %q", s)
	}
}

func TestNoticeRooms(t *testing.T) {
	cfg := testConfigParsed(t)
	var said []string
	send := func(_ context.Context, to bot.Target, text bot.Text) error {
		said = append(said, to.Network+"/"+to.Room+" "+text.String())
		return nil
	}
	notify := NoticeRooms(cfg, send, nil)
	notify(context.Background(), Notice{Description: "the wiki page Server Admin Log", Project: "production", Failing: true, Pending: 3})
	notify(context.Background(), Notice{Description: "the wiki page Server Admin Log", Project: "production", Pending: 3})
	notify(context.Background(), Notice{Description: "x", Project: "gone"})
	want := []string{
		"libera/#ops Server Admin Log: writing to the wiki page Server Admin Log has started failing. Entries are kept (3 waiting) and will be written in order when it works again.",
		"matrix/!ops:example.org Server Admin Log: writing to the wiki page Server Admin Log has started failing. Entries are kept (3 waiting) and will be written in order when it works again.",
		"libera/#ops Server Admin Log: writing to the wiki page Server Admin Log works again; the 3 waiting entries are being written.",
		"matrix/!ops:example.org Server Admin Log: writing to the wiki page Server Admin Log works again; the 3 waiting entries are being written.",
	}
	if d := cmp.Diff(want, said); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
