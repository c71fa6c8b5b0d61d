package salwiki_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/internal/testenv"
	"github.com/jouncebot/jouncebot/sal"
	"github.com/jouncebot/jouncebot/sal/salwiki"
	"github.com/jouncebot/jouncebot/store"
	"github.com/jouncebot/jouncebot/wiki"
	"github.com/jouncebot/jouncebot/wiki/wikitest"
)

// TestWikiDownFor50Entries logs 50 entries while a real MediaWiki is down,
// brings it back, and checks the page has all of them, in order, and that
// the channel was told once that writing failed and once that it recovered.
func TestWikiDownFor50Entries(t *testing.T) {
	w := wikitest.Start(t)
	cfg, err := config.Parse([]byte(`
bot: {base_url: "https://bot.example.org"}
sal:
  projects:
    - {name: production, rooms: ["console/#ops"], allow: [identified]}
`), "test.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "jouncebot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	const page = "Server Admin Log"
	client := w.Client(t, wiki.Options{Retries: 1, RetryDelay: 10 * time.Millisecond, Timeout: 5 * time.Second})
	var mu sync.Mutex
	var notices []string
	start := time.Date(2026, 11, 24, 23, 40, 0, 0, time.UTC)
	n := 0
	l := sal.New(db, cfg, sal.Options{
		BaseURL: cfg.Bot.BaseURL,
		Routes:  []sal.Route{salwiki.Route("production", page, salwiki.NewWriter(client, page))},
		Notify: func(_ context.Context, no sal.Notice) {
			mu.Lock()
			defer mu.Unlock()
			notices = append(notices, no.Text())
		},
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Now: func() time.Time { n++; return start.Add(time.Duration(n) * time.Minute) }, // crosses midnight
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	src := sal.Source{Network: "console", Room: "#ops", Nick: "alice", Account: "alice"}
	if reply, _ := l.HandleLine(ctx, src, "!log first {{template}} | pipe"); !strings.HasPrefix(reply.String(), "Logged the message at ") {
		t.Fatal(reply)
	}
	waitFor(t, "the first entry on the wiki", func() bool { return strings.Contains(pageText(t, client, page), "first") })

	w.Stop()
	for i := range 50 {
		if reply, _ := l.HandleLine(ctx, src, fmt.Sprintf("!log entry %02d while the wiki is down", i)); !strings.HasPrefix(reply.String(), "Logged the message at ") {
			t.Fatalf("entry %d: %q", i, reply)
		}
	}
	waitFor(t, "the failure notice", func() bool { mu.Lock(); defer mu.Unlock(); return len(notices) == 1 })
	w.Restart(t)
	waitFor(t, "all entries on the wiki", func() bool { return strings.Contains(pageText(t, client, page), "entry 49") })

	text := pageText(t, client, page)
	var lines []string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "* ") || strings.HasPrefix(line, "==") {
			lines = append(lines, line)
		}
	}
	// Newest first under day headings; the first entry was at 23:41.
	var want []string
	for i := 49; i >= 0; i-- {
		if i == 17 {
			want = append(want, "== 2026-11-24 ==")
		}
		at := start.Add(time.Duration(i+2) * time.Minute)
		want = append(want, fmt.Sprintf("* %s alice: entry %02d while the wiki is down", at.Format("15:04"), i))
		if i == 0 {
			want = append(want, "* 23:41 alice: first &#123;&#123;template&#125;&#125; &#124; pipe")
		}
	}
	want = append([]string{"== 2026-11-25 =="}, want...)
	if d := cmp.Diff(want, lines); d != "" {
		t.Errorf("page lines (-want +got):\n%s\npage:\n%s", d, text)
	}
	waitFor(t, "the recovery notice", func() bool { mu.Lock(); defer mu.Unlock(); return len(notices) == 2 })
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(notices[0], "writing to the wiki page Server Admin Log has started failing") || !strings.Contains(notices[1], "works again") {
		t.Errorf("notices: %q", notices)
	}
}

func pageText(t *testing.T, c *wiki.Client, page string) string {
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Scale(10*time.Second))
	defer cancel()
	s, _ := c.PageText(ctx, page)
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testenv.Scale(60 * time.Second))
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
