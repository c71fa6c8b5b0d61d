package deploy_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/internal/testenv"
	"github.com/jouncebot/jouncebot/store"
)

// sandboxRun is the engine main runs when no deploy configuration is
// given (deploy.NewSandbox: a 5-minute reminder and a 15-minute test
// timeout), on a database and sandbox kept in a directory, so that it
// can be stopped and started again like the bot.
type sandboxRun struct {
	t      *testing.T
	dir    string
	db     *store.DB
	sb     *deploy.Sandbox
	cancel context.CancelFunc
	done   chan struct{}
	events chan deploy.Event
	mu     sync.Mutex
	texts  []string // since the last start
}

func startSandbox(t *testing.T, dir string) *sandboxRun {
	t.Helper()
	gerrittest.RequireGit(t)
	requireRsync(t)
	s := &sandboxRun{t: t, dir: dir, events: make(chan deploy.Event, 1000)}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *sandboxRun) start() {
	s.t.Helper()
	db, err := store.Open(filepath.Join(s.dir, "jouncebot.db"))
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.texts = nil
	s.mu.Unlock()
	n := deploy.NotifierFunc(func(_ context.Context, ev deploy.Event) {
		s.mu.Lock()
		s.texts = append(s.texts, ev.Text.String())
		s.mu.Unlock()
		s.events <- ev
	})
	sb, err := deploy.NewSandbox(filepath.Join(s.dir, "sandbox"), db, n, nil, nil, nil)
	if err != nil {
		db.Close()
		s.t.Fatal(err)
	}
	sb.SetGate(gerrittest.Gate{Delay: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	s.db, s.sb, s.cancel, s.done = db, sb, cancel, make(chan struct{})
	go func() { defer close(s.done); sb.Engine.Run(ctx) }()
}

// stop stops the bot as a shutdown does.
func (s *sandboxRun) stop() {
	if s.db == nil {
		return
	}
	s.cancel()
	<-s.done
	s.sb.Close()
	s.db.Close()
	s.db = nil
}

func (s *sandboxRun) history() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.texts, "\n")
}

// next returns the next event, failing the test after a deadline.
func (s *sandboxRun) next() deploy.Event {
	s.t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(testenv.Scale(30 * time.Second)):
		s.t.Fatalf("no event; since the start:\n%s", s.history())
		return deploy.Event{}
	}
}

// until returns the events up to and including the first of kind.
func (s *sandboxRun) until(kind deploy.EventKind) []deploy.Event {
	s.t.Helper()
	var out []deploy.Event
	for {
		ev := s.next()
		out = append(out, ev)
		if ev.Kind == kind {
			return out
		}
		if ev.Kind == deploy.EventFailed || ev.Kind == deploy.EventAborted || ev.Kind == deploy.EventDone {
			s.t.Fatalf("the deploy ended (%s) before a %s event; since the start:\n%s", ev.Kind, kind, s.history())
		}
	}
}

// stoppedAtTheTest deploys the sandbox's config change, stops the bot at
// the test question and starts it again after ago: the question was
// asked that long before (its record says so, as it would after that
// much time down).
func stoppedAtTheTest(t *testing.T, ago time.Duration) *sandboxRun {
	s := startSandbox(t, t.TempDir())
	num := itoa(s.sb.Changes["config"])
	if _, err := s.sb.Engine.Start(context.Background(), deploy.Request{Changes: []string{num}, By: alice, InWindow: true, Window: "sandbox window"}); err != nil {
		t.Fatal(err)
	}
	s.until(deploy.EventNeeds)
	s.stop()
	// The clock a restarted bot reads is the record's: moving the
	// question back is the time the bot was down.
	db, err := bolt.Open(filepath.Join(s.dir, "jouncebot.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.Deploys)
		return b.ForEach(func(k, v []byte) error {
			var d map[string]any
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			gate := d["Sync"].(map[string]any)["Stages"].(map[string]any)["testservers"].(map[string]any)["Gate"].(map[string]any)
			asked, err := time.Parse(time.RFC3339Nano, gate["Asked"].(string))
			if err != nil {
				return err
			}
			gate["Asked"] = asked.Add(-ago)
			nv, err := json.Marshal(d)
			if err != nil {
				return err
			}
			return b.Put(k, nv)
		})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s.start()
	return s
}

// TestGateTimeoutWhileDown: the bot was down longer than the test
// gate's timeout (15 minutes as main wires the sandbox). Started again,
// it says once what happened, as the timeout says it (the deployer
// decides), not the question, the reminder and the timeout one after the
// other; a `tested ok` after that is answered plainly and the deploy goes
// on.
func TestGateTimeoutWhileDown(t *testing.T) {
	t.Parallel()
	s := stoppedAtTheTest(t, 20*time.Minute)
	evs := s.until(deploy.EventNeeds)
	got := evs[len(evs)-1].Text.String()
	want := "alice: nobody confirmed the test on testservers within 15m; jouncebot was restarted meanwhile. Decide: `tested ok` to go on, or `tested fail` to roll back."
	if got != want {
		t.Errorf("after the restart the bot said\n%s\nwant\n%s\nsince the start:\n%s", got, want, s.history())
	}
	if err := s.sb.Engine.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatal(err)
	}
	evs = s.until(deploy.EventDone)
	var said []string
	for _, ev := range evs {
		if ev.Kind == deploy.EventNeeds {
			t.Errorf("asked again after the answer: %q\nsince the start:\n%s", ev.Text, s.history())
		}
		said = append(said, ev.Text.String())
	}
	if h := strings.Join(said, "\n"); !strings.Contains(h, "Alice says "+itoa(s.sb.Changes["config"])+" patchset 1 works on testservers.\nTested on testservers by Alice; going on.") {
		t.Errorf("the answer after the timeout was not taken plainly:\n%s", h)
	}
}

// TestGateTestedOKRacingTimeoutAfterRestart: after a restart past the
// test gate's timeout, the deployer's `tested ok` is recorded just as the
// gate handles its timeout. The answer stands: the bot never says after
// it that nobody confirmed the test, nor reminds anyone to test.
func TestGateTestedOKRacingTimeoutAfterRestart(t *testing.T) {
	// Not parallel: the test point is the package's.
	reached, release := holdAt(t, "gate timeout")
	s := stoppedAtTheTest(t, 20*time.Minute)
	select {
	case <-reached:
	case <-time.After(testenv.Scale(30 * time.Second)):
		t.Fatalf("the gate never handled its timeout; since the start:\n%s", s.history())
	}
	err := s.sb.Engine.Tested(context.Background(), "", alice, true)
	close(release)
	if err != nil {
		t.Fatalf("tested ok: %v", err)
	}
	s.until(deploy.EventDone)
	h := s.history()
	_, after, ok := strings.Cut(h, "Alice says ")
	if !ok {
		t.Fatalf("the answer was not said; since the start:\n%s", h)
	}
	for _, bad := range []string{"nobody confirmed", "reminder", "Please test"} {
		if strings.Contains(after, bad) {
			t.Errorf("after Alice's tested ok the bot said %q; since the start:\n%s", bad, h)
		}
	}
}

// An abort recorded just as the test gate acts on its timeout (here after
// a restart past the timeout) ends the deploy, rolled back: the gate once
// saw the abort, recorded nothing and went round again, for ever, with
// the deploy's lock held and shutdown waiting on it.
func TestGateAbortRacingTimeout(t *testing.T) {
	var n atomic.Int64
	reached, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	deploy.SetTestPoint(t, func(s string, _ deploy.ID) {
		if s != "gate timeout" {
			return
		}
		n.Add(1)
		held := false
		once.Do(func() { close(reached); held = true })
		if held {
			select {
			case <-release:
			case <-t.Context().Done():
			}
		}
	})
	s := stoppedAtTheTest(t, 20*time.Minute)
	select {
	case <-reached:
	case <-time.After(testenv.Scale(30 * time.Second)):
		t.Fatalf("the gate never handled its timeout; since the start:\n%s", s.history())
	}
	if err := s.sb.Engine.Abort(context.Background(), "", alice); err != nil {
		t.Fatal(err)
	}
	close(release)
	deadline := time.After(testenv.Scale(10 * time.Second))
	for {
		select {
		case ev := <-s.events:
			if ev.Kind == deploy.EventAborted {
				return
			}
			continue
		case <-deadline:
		}
		break
	}
	t.Fatalf("no abort; the gate acted on its timeout %d times; since the start:\n%s", n.Load(), s.history())
}
