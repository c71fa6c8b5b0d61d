package maint_test

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/maint"
	"github.com/jouncebot/jouncebot/store"
)

// fakeHost runs each wiki's job for a fixed time, printing three lines
// per poll; wikis in fail end at once with exit 1.
type fakeHost struct {
	mu      sync.Mutex
	started map[string]time.Time
	runFor  time.Duration
	fail    map[string]bool
}

func (h *fakeHost) Argv(script, wiki string, args []string) []string { return []string{script, wiki} }
func (h *fakeHost) Start(_ context.Context, job string, argv []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.started[job]; !ok {
		h.started[job+"\t"+argv[1]] = time.Now()
		h.started[job] = time.Now()
	}
	return nil
}
func (h *fakeHost) Remove(context.Context, string) error { return nil }
func (h *fakeHost) Stop(context.Context, string) error   { return nil }
func (h *fakeHost) Kill(context.Context, string) error   { return nil }
func (h *fakeHost) Poll(_ context.Context, job string, off int64) (maint.Status, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, at := range h.started {
		if wiki, ok := strings.CutPrefix(k, job+"\t"); ok {
			switch {
			case h.fail[wiki]:
				one := 1
				return maint.Status{Exit: &one, Output: []byte("Fatal error: no such table\n")}, nil
			case time.Since(at) >= h.runFor:
				zero := 0
				return maint.Status{Exit: &zero}, nil
			}
			return maint.Status{Running: true, Output: []byte("a\nb\nc\n")}, nil
		}
	}
	return maint.Status{Gone: true}, nil
}

// Progress is said at most every ProgressEvery: lines of output in that
// time, wikis done of total, failures named; ended runs older than the
// retention are removed.
func TestProgressThrottledAndRetention(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var said []string
		host := &fakeHost{started: map[string]time.Time{}, runFor: 150 * time.Second, fail: map[string]bool{"test2wiki": true}}
		svc := maint.NewService(maint.Options{DB: db, Host: host, Rules: maint.Rules{Lists: map[string][]string{"two": {"test2wiki", "testwiki"}}},
			PollInterval: 5 * time.Second, ProgressEvery: time.Minute, Retention: 24 * time.Hour,
			Notify: func(_ context.Context, _ string, t bot.Text) { mu.Lock(); said = append(said, t.String()); mu.Unlock() }})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); svc.Run(ctx) }()
		if _, err := svc.Start(ctx, maint.Request{Script: "updateSpecialPages.php", Target: "list:two"}, amir, ""); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		mu.Lock()
		got := append([]string(nil), said...)
		mu.Unlock()
		progress := regexp.MustCompile(`^Run 1: updateSpecialPages.php on testwiki: [0-9]+ lines of output in the last 01m 00s; 1 of 2 wikis done \(failed: test2wiki\)\.$`)
		if len(got) != 3 || !progress.MatchString(got[0]) || !progress.MatchString(got[1]) ||
			!strings.HasPrefix(got[2], "amir: Run 1: updateSpecialPages.php on 2 wikis (list:two) failed (failed on 1 of 2 wikis: test2wiki (exit 1)) after ") ||
			!strings.Contains(got[2], "Last lines on test2wiki: Fatal error: no such table") {
			t.Errorf("said:\n%s", strings.Join(got, "\n"))
		}
		// A day later the hourly clean-up has removed the run.
		time.Sleep(25 * time.Hour)
		synctest.Wait()
		if runs, err := svc.List(); err != nil || len(runs) != 0 {
			t.Errorf("after the retention: %d runs, %v", len(runs), err)
		}
		cancel()
		<-done
	})
}

// "maint go" said the moment the dry run's summary is out (while its
// follower is still on its way out) starts the real run.
func TestGoRightAfterDryRun(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var said []string
		var svc *maint.Service
		host := &fakeHost{started: map[string]time.Time{}, runFor: 10 * time.Second}
		svc = maint.NewService(maint.Options{DB: db, Host: host, Rules: maint.Rules{DryRun: config.DefaultMaintDryRuns},
			PollInterval: time.Second, ProgressEvery: time.Hour,
			Notify: func(ctx context.Context, _ string, t bot.Text) {
				mu.Lock()
				said = append(said, t.String())
				mu.Unlock()
				if strings.Contains(t.String(), "with: maint go 1") {
					if _, err := svc.Go(ctx, 1, amir, ""); err != nil {
						panic(err)
					}
				}
			}})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); svc.Run(ctx) }()
		if _, err := svc.Start(ctx, maint.Request{Script: "namespaceDupes.php", Target: "testwiki"}, amir, ""); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		mu.Lock()
		got := strings.Join(said, "\n")
		mu.Unlock()
		if !strings.Contains(got, "Run 1: namespaceDupes.php --fix on testwiki finished (exit 0) in 00m 10s.") {
			t.Errorf("the real run did not run:\n%s", got)
		}
		cancel()
		<-done
	})
}
