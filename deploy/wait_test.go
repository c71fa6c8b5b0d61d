package deploy_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/store"
)

// stuckGerrit is a Gerrit whose gate never merges: it accepts the vote and
// shows the change open forever.
type stuckGerrit struct {
	mu    sync.Mutex
	votes int
	polls int
}

func (g *stuckGerrit) change() *gerrit.Change {
	return &gerrit.Change{Number: 445113, Project: "operations/mediawiki-config", Branch: "master", ChangeID: "Iabc",
		Subject: "Raise the limit", Status: "NEW", Revision: "deadbeef", PatchSet: 1, Kind: "REWORK",
		Owner: gerrit.Account{Username: "bob", Name: "Bob"}, Labels: map[string][]gerrit.Approval{}}
}

func (g *stuckGerrit) Change(ctx context.Context, n int) (*gerrit.Change, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.polls++
	c := g.change()
	if g.votes > 0 {
		c.Labels["Code-Review"] = []gerrit.Approval{{Account: gerrit.Account{Username: "jouncebot"}, Value: 2, Date: time.Now()}}
	}
	return c, nil
}
func (g *stuckGerrit) Query(context.Context, string) ([]*gerrit.Change, error) { return nil, nil }
func (g *stuckGerrit) SubmittedTogether(context.Context, int) ([]*gerrit.Change, error) {
	return nil, nil
}
func (g *stuckGerrit) Review(context.Context, int, string, gerrit.ReviewInput) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.votes++
	return nil
}
func (g *stuckGerrit) Username() string { return "jouncebot" }
func (g *stuckGerrit) ChangeURL(n int) string {
	return fmt.Sprintf("https://gerrit.example.org/r/c/%d", n)
}

// cleanGit answers the staging checks as for a clean checkout on master.
type cleanGit struct{}

func (cleanGit) Run(_ context.Context, _ string, args ...string) (string, error) {
	if args[0] == "rev-parse" {
		return "master", nil
	}
	return "", nil
}

// TestMergeWaitDefaultTimeout runs the real 30-minute wait in a synctest
// bubble: progress every 5 minutes, a poll every 5 seconds, then a clear stop.
func TestMergeWaitDefaultTimeout(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	synctest.Test(t, func(t *testing.T) {
		g := &stuckGerrit{}
		var mu sync.Mutex
		var texts []string
		end := make(chan deploy.Event, 1)
		n := deploy.NotifierFunc(func(_ context.Context, ev deploy.Event) {
			mu.Lock()
			texts = append(texts, ev.Text.String())
			mu.Unlock()
			if ev.Kind == deploy.EventFailed {
				end <- ev
			}
		})
		a := deploy.NewEngine(db, g, cleanGit{}, n, deploy.Options{StagingDir: t.TempDir()})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); a.Run(ctx) }()
		start := time.Now()
		if _, err := a.Start(ctx, deploy.Request{Changes: []string{"445113"}, By: alice, InWindow: true, Window: "w"}); err != nil {
			t.Fatal(err)
		}
		ev := <-end
		cancel()
		<-done
		if took := time.Since(start); took < 30*time.Minute || took > 30*time.Minute+10*time.Second {
			t.Errorf("gave up after %s, want 30m", took)
		}
		want := "alice: deploy 1 stopped: The gate did not merge 445113 within 30m. +2 was given on 445113; it may still merge. The staging checkout was not changed."
		if ev.Text.String() != want {
			t.Errorf("got  %s\nwant %s", ev.Text, want)
		}
		var progress []string
		for _, s := range texts {
			if strings.HasPrefix(s, "Still waiting") {
				progress = append(progress, s)
			}
		}
		wantProgress := []string{}
		for m := 5; m < 30; m += 5 {
			wantProgress = append(wantProgress, fmt.Sprintf("Still waiting for the gate to merge 445113 (%dm of 30m).", m))
		}
		if d := cmp.Diff(wantProgress, progress); d != "" {
			t.Errorf("progress reports (-want +got):\n%s", d)
		}
		if g.votes != 1 || g.polls < 350 || g.polls > 370 {
			t.Errorf("votes = %d, polls = %d; want 1 vote and a poll every 5s", g.votes, g.polls)
		}
	})
}

// scriptedGerrit answers Change with a script of states, then repeats the
// last one.
type scriptedGerrit struct {
	stuckGerrit
	script []func(c *gerrit.Change)
}

func (g *scriptedGerrit) Change(ctx context.Context, n int) (*gerrit.Change, error) {
	c, _ := g.stuckGerrit.Change(ctx, n)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.votes > 0 && len(g.script) > 0 {
		g.script[0](c)
		if len(g.script) > 1 {
			g.script = g.script[1:]
		}
	}
	return c, nil
}

// TestGateRebaseIsNotANewPatchSet: Gerrit's own trivial rebase during the
// wait is accepted with a note, not treated as a rework (a scap complaint).
func TestGateRebaseIsNotANewPatchSet(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	synctest.Test(t, func(t *testing.T) {
		rebased := func(c *gerrit.Change) {
			c.Revision, c.PatchSet, c.Kind, c.Uploader = "cafef00d", 2, "TRIVIAL_REBASE", gerrit.Account{Username: "jenkins-bot"}
		}
		g := &scriptedGerrit{script: []func(*gerrit.Change){
			func(c *gerrit.Change) {}, // still the approved patchset
			rebased,
			func(c *gerrit.Change) { rebased(c); c.Status = "MERGED" },
		}}
		var texts []string
		end := make(chan struct{})
		n := deploy.NotifierFunc(func(_ context.Context, ev deploy.Event) {
			texts = append(texts, ev.Text.String())
			if ev.Kind == deploy.EventFailed || ev.Kind == deploy.EventNeeds || ev.Kind == deploy.EventPrepared {
				close(end)
			}
		})
		a := deploy.NewEngine(db, g, cleanGit{}, n, deploy.Options{StagingDir: t.TempDir()})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); a.Run(ctx) }()
		if _, err := a.Start(ctx, deploy.Request{Changes: []string{"445113"}, By: alice, InWindow: true}); err != nil {
			t.Fatal(err)
		}
		<-end
		cancel()
		<-done
		want := []string{
			"Code-Review +2 given on 445113 (patchset 1).",
			"Waiting up to 30m for the gate to merge 445113.",
			"445113 was rebased by jenkins-bot (patchset 2, trivial rebase); still waiting.",
			"445113 merged.",
		}
		if d := cmp.Diff(want, texts[1:5]); d != "" {
			t.Errorf("(-want +got)\n%s", d)
		}
	})
}

// TestRewrittenPatchSetIsNotANewPatchSet: when Gerrit reports the approved
// patchset number with another commit (a rebuilt or rewritten change, as a
// sandbox rebuilt at restart did), the deploy stops with a sentence saying
// so instead of asking about a "new" patchset 1.
func TestRewrittenPatchSetIsNotANewPatchSet(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	synctest.Test(t, func(t *testing.T) {
		g := &scriptedGerrit{script: []func(*gerrit.Change){
			func(c *gerrit.Change) {}, // the approved patchset
			func(c *gerrit.Change) { c.Revision, c.Uploader = "0123456789abcdef", gerrit.Account{Username: "alice"} },
		}}
		var texts []string
		end := make(chan struct{})
		n := deploy.NotifierFunc(func(_ context.Context, ev deploy.Event) {
			texts = append(texts, ev.Text.String())
			if ev.Kind == deploy.EventFailed || ev.Kind == deploy.EventNeeds || ev.Kind == deploy.EventPrepared {
				close(end)
			}
		})
		a := deploy.NewEngine(db, g, cleanGit{}, n, deploy.Options{StagingDir: t.TempDir()})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); a.Run(ctx) }()
		if _, err := a.Start(ctx, deploy.Request{Changes: []string{"445113"}, By: alice, InWindow: true}); err != nil {
			t.Fatal(err)
		}
		<-end
		cancel()
		<-done
		want := "alice: deploy 1 stopped: Gerrit now reports patchset 1 of 445113 as commit 0123456789, but patchset 1 was approved as deadbeef: the change was rewritten in Gerrit. Look at 445113 in Gerrit, then deploy it again."
		if got := texts[len(texts)-1]; !strings.HasPrefix(got, want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	})
}
