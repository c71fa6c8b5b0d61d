package wiki_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/internal/testenv"
	"github.com/jouncebot/jouncebot/wiki"
	"github.com/jouncebot/jouncebot/wiki/wikitest"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), testenv.Scale(60*time.Second))
	t.Cleanup(cancel)
	return c
}

func TestLoginEditParse(t *testing.T) {
	t.Parallel()
	start := time.Now()
	w := wikitest.Start(t)
	t.Logf("wiki up in %v (template wiki created in %v)", time.Since(start), wikitest.TemplateTime())
	c := w.Client(t)
	if err := c.Login(ctx(t)); err != nil {
		t.Fatalf("Login: %v", err)
	}
	res, err := c.Edit(ctx(t), "Sandbox", func(old string) string {
		if old != "" {
			t.Errorf("new page: transform got %q, want empty text", old)
		}
		return "Hello from '''DeployBot'''."
	}, "test")
	if err != nil {
		t.Fatalf("Edit: %v", err)
	}
	if !res.Changed || res.RevID == 0 || res.Attempts != 1 {
		t.Errorf("Edit result = %+v, want a new revision in one attempt", res)
	}
	text, err := c.PageText(ctx(t), "Sandbox")
	if err != nil || text != "Hello from '''DeployBot'''." {
		t.Errorf("PageText = %q, %v", text, err)
	}
	html, revid, err := c.Parse(ctx(t), "Sandbox")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if revid != res.RevID || !strings.Contains(html, "Hello from <b>DeployBot</b>.") {
		t.Errorf("Parse = revid %d (want %d), html %q", revid, res.RevID, html)
	}
	// An unchanged text saves nothing.
	res2, err := c.Edit(ctx(t), "Sandbox", func(old string) string { return old }, "noop")
	if err != nil || res2.Changed {
		t.Errorf("no-op Edit = %+v, %v; want unchanged", res2, err)
	}
	// The edit is attributed to the bot.
	if log := w.ServerLog(); !strings.Contains(log, "POST /api.php") {
		t.Errorf("server log shows no API requests:\n%s", log)
	}
}

func TestMissingPage(t *testing.T) {
	t.Parallel()
	w := wikitest.Start(t)
	c := w.Client(t)
	if _, _, err := c.Parse(ctx(t), "No such page"); !errors.Is(err, wiki.ErrMissingPage) {
		t.Errorf("Parse of a missing page: err = %v, want ErrMissingPage", err)
	}
	if _, err := c.PageText(ctx(t), "No such page"); !errors.Is(err, wiki.ErrMissingPage) {
		t.Errorf("PageText of a missing page: err = %v, want ErrMissingPage", err)
	}
}

func TestBadPassword(t *testing.T) {
	t.Parallel()
	w := wikitest.Start(t)
	const wrong = "0123456789abcdef0123456789abcdef"
	c, err := wiki.New(wiki.Options{API: w.API, User: w.BotUser, Password: config.NewSecret(wrong)})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Login(ctx(t))
	if err == nil {
		t.Fatal("Login with a wrong password succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, wrong) || !strings.Contains(msg, "DeployBot@ci") {
		t.Errorf("error %q should name the user and never the password", msg)
	}
	if _, err := c.Edit(ctx(t), "Sandbox", func(string) string { return "x" }, ""); err == nil || strings.Contains(err.Error(), wrong) {
		t.Errorf("Edit with a wrong password: err = %v", err)
	}
}

// TestEditConflictReapplied makes a second writer save the page while the
// first is between reading and saving; the first must notice the conflict,
// read again and re-apply its transform so both changes survive.
func TestEditConflictReapplied(t *testing.T) {
	t.Parallel()
	w := wikitest.Start(t)
	w.EditPage(t, "Log", "base\n")
	a, b := w.Client(t), w.Client(t)
	calls := 0
	res, err := a.Edit(ctx(t), "Log", func(old string) string {
		calls++
		if calls == 1 {
			if _, err := b.Edit(ctx(t), "Log", func(old string) string { return "from b\n" + old }, "b"); err != nil {
				t.Fatalf("second writer: %v", err)
			}
		}
		return "from a\n" + old
	}, "a")
	if err != nil {
		t.Fatalf("Edit: %v", err)
	}
	text, err := a.PageText(ctx(t), "Log")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("from a\nfrom b\nbase", text); diff != "" {
		t.Errorf("page text (-want +got):\n%s", diff)
	}
	if calls != 2 || res.Attempts != 2 {
		t.Errorf("transform called %d times, %d attempts; want 2 (one conflict)", calls, res.Attempts)
	}
}

func TestConcurrentEdits(t *testing.T) {
	t.Parallel()
	w := wikitest.Start(t)
	const writers, edits = 3, 5
	var wg sync.WaitGroup
	shared := w.Client(t) // one client used by several goroutines, as in the bot
	for i := range writers {
		c := shared
		if i == 0 {
			c = w.Client(t) // and another instance of the bot
		}
		wg.Go(func() {
			for j := range edits {
				line := fmt.Sprintf("writer %d edit %d", i, j)
				if _, err := c.Edit(ctx(t), "Busy", func(old string) string { return old + "\n" + line }, line); err != nil {
					t.Errorf("%s: %v", line, err)
				}
			}
		})
	}
	wg.Wait()
	text, err := w.Client(t).PageText(ctx(t), "Busy")
	if err != nil {
		t.Fatal(err)
	}
	for i := range writers {
		for j := range edits {
			if line := fmt.Sprintf("writer %d edit %d\n", i, j); strings.Count(text+"\n", line) != 1 {
				t.Errorf("line %q appears %d times in:\n%s", line, strings.Count(text, line), text)
			}
		}
	}
}

func TestWikiDown(t *testing.T) {
	t.Parallel()
	w := wikitest.Start(t)
	w.EditPage(t, "Deployments", "calendar")
	c := w.Client(t, wiki.Options{Retries: 2, RetryDelay: 10 * time.Millisecond})
	if _, _, err := c.Parse(ctx(t), "Deployments"); err != nil {
		t.Fatal(err)
	}
	w.Stop()
	_, _, err := c.Parse(ctx(t), "Deployments")
	if !errors.Is(err, wiki.ErrUnavailable) {
		t.Fatalf("Parse with the wiki down: err = %v, want ErrUnavailable", err)
	}
	if msg, want := err.Error(), "wiki: parse: the wiki is unavailable: cannot reach "+w.API+": connection refused"; msg != want {
		t.Errorf("error = %q, want %q", msg, want)
	}
	_, err = c.Edit(ctx(t), "Deployments", func(old string) string { return old + "!" }, "")
	if !errors.Is(err, wiki.ErrUnavailable) {
		t.Errorf("Edit with the wiki down: err = %v, want ErrUnavailable", err)
	}
	w.Restart(t)
	if html, _, err := c.Parse(ctx(t), "Deployments"); err != nil || !strings.Contains(html, "calendar") {
		t.Errorf("Parse after the wiki came back = %q, %v", html, err)
	}
}

// TestSALPage writes 50 entries over two UTC days the way the SAL wiki
// writer does and checks the page is newest first under day headings.
func TestSALPage(t *testing.T) {
	t.Parallel()
	w := wikitest.Start(t)
	w.EditPage(t, "Server admin log", "{{Navigation}}\nThe log of what changed.\n")
	c := w.Client(t)
	t0 := time.Date(2024, 5, 1, 23, 40, 0, 0, time.UTC)
	var want []string
	start := time.Now()
	for i := range 50 {
		e := wiki.SALEntry{Time: t0.Add(time.Duration(i) * time.Minute), Nick: "alice", Message: fmt.Sprintf("entry %d {{danger}} a|b", i)}
		if _, err := c.WriteSALEntry(ctx(t), "Server admin log", e); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		want = append(want, wiki.SALLine(e))
	}
	t.Logf("50 SAL edits in %v (%v each)", time.Since(start), time.Since(start)/50)
	text, err := c.PageText(ctx(t), "Server admin log")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	lines = append(lines, "{{Navigation}}", "The log of what changed.", "== 2024-05-02 ==")
	for i := 49; i >= 20; i-- {
		lines = append(lines, want[i])
	}
	lines = append(lines, "== 2024-05-01 ==")
	for i := 19; i >= 0; i-- {
		lines = append(lines, want[i])
	}
	if diff := cmp.Diff(strings.Join(lines, "\n"), strings.TrimRight(text, "\n")); diff != "" {
		t.Errorf("page (-want +got):\n%s", diff)
	}
	html, _, err := c.Parse(ctx(t), "Server admin log")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(html, "<li>"); n != 50 {
		t.Errorf("rendered page has %d list items, want 50", n)
	}
	if !strings.Contains(html, "00:29 alice: entry 49 &#123;&#123;danger&#125;&#125; a&#124;b</li>") {
		t.Errorf("the newest entry is not rendered literally:\n%s", html)
	}
}

// BenchmarkStart measures creating and serving a fresh test wiki (a copy
// of the template) until its API answers.
func BenchmarkStart(b *testing.B) {
	wikitest.Start(b).Stop() // the template is made once, outside the loop
	for b.Loop() {
		wikitest.Start(b).Stop()
	}
}

func BenchmarkParse(b *testing.B) {
	w := wikitest.Start(b)
	w.EditPage(b, "Page", "== Hello ==\n* one\n* two [[link]] '''bold'''\n")
	c := w.Client(b)
	for b.Loop() {
		if _, _, err := c.Parse(context.Background(), "Page"); err != nil {
			b.Fatal(err)
		}
	}
}
