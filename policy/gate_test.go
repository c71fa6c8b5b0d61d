package policy

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/store"
)

// A running gate lapses a request when its timeout passes, by itself, and
// not a moment before.
func TestGateRunLapsesAtTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, err := store.Open(filepath.Join(t.TempDir(), "j.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var mu sync.Mutex
		var said []string
		g := NewGate(db, GateOptions{Notify: func(_ context.Context, origin string, txt bot.Text) {
			mu.Lock()
			defer mu.Unlock()
			said = append(said, txt.String())
		}})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); g.Run(ctx) }()
		now := time.Now()
		r, err := g.Ask(Request{Action: Deploy, By: "Lucas", What: "445113", Created: now, Deadline: now.Add(time.Hour),
			Needs: []Need{{Rule: "Fridays and weekends", Role: "sre"}}})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour - time.Second)
		synctest.Wait()
		mu.Lock()
		if len(said) != 0 {
			t.Errorf("lapsed early: %q", said)
		}
		mu.Unlock()
		time.Sleep(time.Second)
		synctest.Wait()
		mu.Lock()
		if len(said) != 1 {
			t.Errorf("after the timeout: %q", said)
		}
		mu.Unlock()
		got, _, _ := g.Get(r.ID)
		if got.State != Lapsed {
			t.Errorf("state %s", got.State)
		}
		cancel()
		<-done
	})
}

// A request and its approvals survive a restart: a new gate on the same
// database goes on where the old one stopped.
func TestGateKeepsRequestsAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	db, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 14, 10, 0, 0, time.UTC)
	var started []Request
	start := func(_ context.Context, r Request) (string, error) { started = append(started, r); return "4", nil }
	g := NewGate(db, GateOptions{Start: start})
	needs := []Need{{Rule: "Fridays and weekends", Role: "releng"}, {Rule: "Fridays and weekends", Role: "sre"}}
	if _, err := g.Ask(Request{Action: Deploy, By: "Lucas", What: "445113", Created: now, Deadline: now.Add(time.Hour), Needs: needs}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Approve(context.Background(), "r1", Person{Name: "Rita", Roles: []string{"releng"}}, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g = NewGate(db, GateOptions{Start: start})
	r, err := g.Approve(context.Background(), "", Person{Name: "Sam", Roles: []string{"sre"}}, now.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if r.State != Started || r.Deploy != "4" || len(started) != 1 || len(started[0].Approved) != 2 || started[0].Approved[0].By != "Rita" {
		t.Errorf("after the restart: %+v, started %+v", r, started)
	}
}
