package deploy_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/internal/testenv"
	"github.com/jouncebot/jouncebot/store"
)

// holdWriters starts a write transaction, so that every state change
// waits, and returns its release. Readers go on.
func (e *env) holdWriters() func() {
	e.t.Helper()
	tx, err := e.db.Begin(true)
	if err != nil {
		e.t.Fatal(err)
	}
	return func() { tx.Rollback() }
}

// waitReads waits until n more read transactions than base have ended:
// the racing calls have read the record and now wait to write.
func (e *env) waitReads(base, n int) {
	for e.db.Stats().TxN < base+n || e.db.Stats().OpenTxN > 0 {
		runtime.Gosched() // polling bbolt's counters; nothing to wait on
	}
}

// TestAbortRacingApprove: an abort and an approval of a forced deploy
// arrive together, both having read the deploy as waiting for approval.
// Whichever writes first, the deploy ends aborted and stays so; it is
// never revived by the approval.
func TestAbortRacingApprove(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *deploy.Options) { o.RequireSecondApprover = true })
	for round := range 8 {
		// A change of its own each round: an approval that wins may
		// get as far as the vote before it sees the abort.
		n, err := e.sb.Upload(gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: gerrittest.ConfigBranch, Owner: "alice",
			Subject: "Round " + itoa(round), Files: []gerrittest.File{{Path: "round" + itoa(round) + ".php", Content: "<?php\n"}}})
		if err != nil {
			t.Fatal(err)
		}
		id, err := e.agent.Start(context.Background(), deploy.Request{Changes: []string{itoa(n)}, By: alice, Force: true, Reason: "site is down"})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		e.waitFor(deploy.EventNeeds)
		e.raceAbort(t, id, func() { _ = e.agent.Approve(context.Background(), id, bob) })
	}
}

// TestAbortRacingContinue: the same for `continue` of a deploy paused by
// a new patchset.
func TestAbortRacingContinue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for round := range 4 {
		n, err := e.sb.Upload(gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: gerrittest.ConfigBranch, Owner: "alice",
			Subject: "Round " + itoa(round), Files: []gerrittest.File{{Path: "round" + itoa(round) + ".php", Content: "<?php\n"}}})
		if err != nil {
			t.Fatal(err)
		}
		newPatchSetMidWait(e, n)
		id := e.deploy(alice, n)
		e.waitFor(deploy.EventNeeds)
		e.raceAbort(t, id, func() { _ = e.agent.Continue(context.Background(), id, alice) })
	}
}

// raceAbort runs other and Alice's abort of deploy id together, both
// having read the deploy before either writes, and checks that the
// deploy ends aborted, stays so and holds no lock.
func (e *env) raceAbort(t *testing.T, id deploy.ID, other func()) {
	t.Helper()
	base := e.db.Stats().TxN
	release := e.holdWriters()
	var wg sync.WaitGroup
	var abortErr error
	wg.Go(other)
	wg.Go(func() { abortErr = e.agent.Abort(context.Background(), id, alice) })
	e.waitReads(base, 2)
	release()
	wg.Wait()
	if abortErr != nil {
		t.Fatalf("abort: %v", abortErr)
	}
	e.waitFor(deploy.EventAborted)
	rec, err := e.agent.Record(id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != "aborted" {
		t.Fatalf("deploy %s is %s after the abort, want aborted; history:\n%s", id, rec.State, e.history())
	}
	if st, _ := e.agent.Status(context.Background()); st.Lock != nil {
		t.Fatalf("the lock is still held: %+v", st.Lock)
	}
}

// TestStartBeforeRun: a deploy started before the engine's Run (a command
// that arrives while the bot starts) runs once, as a new deploy: Run's
// scan for deploys to resume after a restart does not take it for one.
func TestStartBeforeRun(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	synctest.Test(t, func(t *testing.T) {
		g := &scriptedGerrit{script: []func(*gerrit.Change){func(c *gerrit.Change) { c.Status = "MERGED" }}}
		var texts []string
		end := make(chan struct{})
		n := deploy.NotifierFunc(func(_ context.Context, ev deploy.Event) {
			texts = append(texts, ev.Text.String())
			if ev.Kind == deploy.EventFailed || ev.Kind == deploy.EventNeeds || ev.Kind == deploy.EventPrepared {
				close(end)
			}
		})
		var log strings.Builder
		a := deploy.NewEngine(db, g, cleanGit{}, n, deploy.Options{StagingDir: t.TempDir(), Log: slog.New(slog.NewTextHandler(&log, nil))})
		ctx, cancel := context.WithCancel(context.Background())
		if _, err := a.Start(ctx, deploy.Request{Changes: []string{"445113"}, By: alice, InWindow: true}); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); a.Run(ctx) }()
		<-end
		cancel()
		<-done
		if strings.Contains(log.String(), "resuming deploy") {
			t.Errorf("a new deploy was taken for one to resume:\n%s", log.String())
		}
		for _, s := range texts {
			if strings.Contains(s, "restart") {
				t.Errorf("a new deploy was announced as resumed: %q\n%s", s, strings.Join(texts, "\n"))
			}
		}
	})
}

// TestContinueRacingPause: `continue` arrives after a deploy paused for a
// new patchset but before its runner let go of it, so the run that
// `continue` asks for finds the deploy still held. The deploy must go on
// all the same, not stay "running" with nothing driving it until the next
// restart. The race is made to happen every time: the runner is held at
// the test point after its pause until the run asked for by `continue`
// has found it busy.
func TestContinueRacingPause(t *testing.T) {
	// Not parallel: the test point is the package's.
	paused, busy, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var once sync.Once
	deploy.SetTestPoint(t, func(step string, _ deploy.ID) {
		switch step {
		case "paused":
			once.Do(func() { close(paused) })
			select {
			case <-release:
			case <-t.Context().Done():
			}
		case "busy":
			select {
			case busy <- struct{}{}:
			case <-t.Context().Done():
			}
		}
	})
	e := newEnv(t)
	n := e.sb.Changes["config"]
	newPatchSetMidWait(e, n)
	e.deploy(alice, n)
	e.waitFor(deploy.EventNeeds)
	wait := func(ch chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(testenv.Scale(15 * time.Second)):
			t.Fatalf("%s never happened; history:\n%s", what, e.history())
		}
	}
	wait(paused, "the runner's pause")
	if err := e.agent.Continue(context.Background(), "", alice); err != nil {
		t.Fatal(err)
	}
	wait(busy, "the run asked for by continue")
	close(release)
	e.waitFor(deploy.EventPrepared)
	if r := e.reviews(n); len(r) != 2 || r[1].PatchSet != 2 {
		t.Errorf("reviews = %+v, want +2 on patchsets 1 and 2", r)
	}
}

// within waits for ch, failing the test with the history after a
// deadline.
func (e *env) within(ch <-chan struct{}, what string) {
	e.t.Helper()
	select {
	case <-ch:
	case <-time.After(testenv.Scale(15 * time.Second)):
		e.t.Fatalf("%s never happened; history:\n%s", what, e.history())
	}
}

// holdAt sets the runner's test point so that it stops at step for the
// deploy's first time there: reached is closed then, and the runner waits
// until release is closed.
func holdAt(t *testing.T, step string) (reached, release chan struct{}) {
	reached, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	deploy.SetTestPoint(t, func(s string, _ deploy.ID) {
		if s != step {
			return
		}
		held := false
		once.Do(func() { close(reached); held = true })
		if !held {
			return
		}
		select {
		case <-release:
		case <-t.Context().Done():
		}
	})
	return reached, release
}

// failAt makes reading the deploy's record fail before step, every time.
func failAt(t *testing.T, step string) {
	deploy.SetTestFault(t, func(s string, _ deploy.ID) error {
		if s == "before "+step {
			return errors.New("read /var/lib/jouncebot/jouncebot.db: input/output error")
		}
		return nil
	})
}

// TestAbortRacingPause: `abort` arrives after a deploy paused for a new
// patchset but before its runner let go of it. The abort is acted on:
// the deploy ends aborted and the lock is free.
func TestAbortRacingPause(t *testing.T) {
	// Not parallel: the test point is the package's.
	reached, release := holdAt(t, "paused")
	e := newEnv(t)
	n := e.sb.Changes["config"]
	newPatchSetMidWait(e, n)
	id := e.deploy(alice, n)
	e.waitFor(deploy.EventNeeds)
	abortWhileHeld(t, e, id, reached, release, "the runner's pause")
}

// TestAbortRacingStoreError: the deploy's runner stops because its record
// could not be read (a full disk), and `abort` arrives before the runner
// let go of the deploy. The abort must be acted on, not left with nobody
// to drive the deploy until the next restart.
func TestAbortRacingStoreError(t *testing.T) {
	// Not parallel: the test hooks are the package's.
	failAt(t, "fetch")
	reached, release := holdAt(t, "stopped")
	e := newEnv(t)
	id := e.deploy(alice, e.sb.Changes["config"])
	abortWhileHeld(t, e, id, reached, release, "the runner's stop at the store error")
}

// TestAbortAfterStoreErrorRollsBack: the deploy's runner let go of a
// deploy whose testservers hold the new release, because its record
// could not be read before the canaries (a full disk). An `abort` then
// must do what an abort does: roll the testservers back, not only mark
// the deploy aborted.
func TestAbortAfterStoreErrorRollsBack(t *testing.T) {
	// Not parallel: the test hooks are the package's.
	failAt(t, "canaries")
	released := make(chan struct{})
	var once sync.Once
	deploy.SetTestPoint(t, func(s string, _ deploy.ID) {
		if s == "released" {
			once.Do(func() { close(released) })
		}
	})
	e, w := newSyncEnv(t, nil)
	id := e.deploy(alice, e.sb.Changes["config"])
	e.waitFor(deploy.EventNeeds)
	if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatal(err)
	}
	e.within(released, "the runner's stop at the store error")
	if err := e.agent.Abort(context.Background(), "", alice); err != nil {
		t.Fatal(err)
	}
	ev := e.waitFor(deploy.EventAborted)
	if got := ev.Text.String(); !strings.Contains(got, "Rolled back because Alice aborted the deploy") {
		t.Errorf("abort = %q, want a rollback; history:\n%s", got, e.history())
	}
	if d := cmp.Diff(w.before, readTree(t, w.hosts["testservers"][0].Dest)); d != "" {
		t.Errorf("testserver after the abort (-want +got):\n%s", d)
	}
	e.checkEnded(id, "aborted")
}

// checkEnded checks that deploy id is in state and holds no lock.
func (e *env) checkEnded(id deploy.ID, state string) {
	e.t.Helper()
	rec, err := e.agent.Record(id)
	if err != nil {
		e.t.Fatal(err)
	}
	if rec.State != state {
		e.t.Errorf("deploy %s is %s, want %s; history:\n%s", id, rec.State, state, e.history())
	}
	if st, _ := e.agent.Status(context.Background()); st.Lock != nil {
		e.t.Errorf("the lock is still held: %+v", st.Lock)
	}
}

// TestAbortRacingNewPatchSetPause: `abort` arrives while the deploy's
// runner, having seen a new patchset, is about to pause the deploy for
// it. The abort must end the deploy, not leave it paused, aborted on
// record, with "Aborting deploy … before its next step" said and nothing
// else.
func TestAbortRacingNewPatchSetPause(t *testing.T) {
	// Not parallel: the test point is the package's.
	reached, release := holdAt(t, "pausing")
	e := newEnv(t)
	n := e.sb.Changes["config"]
	newPatchSetMidWait(e, n)
	id := e.deploy(alice, n)
	abortWhileHeld(t, e, id, reached, release, "the runner's pause")
}

// An approval whose caller is gone by the time it queues the deploy (a
// client that hung up) leaves it running with no runner. An abort then
// ends it, where it once only said "Aborting deploy … before its next
// step" and left it running, lock held, until the next restart.
func TestAbortAfterFailedEnqueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *deploy.Options) { o.RequireSecondApprover = true })
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	for round := range 20 {
		n, err := e.sb.Upload(gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: gerrittest.ConfigBranch, Owner: "alice",
			Subject: "Round " + itoa(round), Files: []gerrittest.File{{Path: "round" + itoa(round) + ".php", Content: "<?php\n"}}})
		if err != nil {
			t.Fatal(err)
		}
		id, err := e.agent.Start(context.Background(), deploy.Request{Changes: []string{itoa(n)}, By: alice, Force: true, Reason: "site is down"})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		e.waitFor(deploy.EventNeeds)
		approveErr := e.agent.Approve(gone, id, bob)
		if err := e.agent.Abort(context.Background(), id, alice); err != nil {
			t.Fatalf("round %d: abort: %v", round, err)
		}
		if approveErr == nil {
			e.waitFor(deploy.EventAborted)
			continue
		}
		deadline := time.After(testenv.Scale(5 * time.Second))
		for {
			select {
			case ev := <-e.events:
				if ev.Kind != deploy.EventAborted {
					continue
				}
				return
			case <-deadline:
			}
			break
		}
		rec, _ := e.agent.Record(id)
		t.Fatalf("approve failed (%v); after the abort deploy %s is still %s; history:\n%s", approveErr, id, rec.State, e.history())
	}
	t.Skip("the approval never failed to queue in 20 rounds")
}

// abortWhileHeld says `abort` once the runner of deploy id reached the
// test point it is held at (what names it), lets the runner go on, and
// checks the deploy ends aborted.
func abortWhileHeld(t *testing.T, e *env, id deploy.ID, reached <-chan struct{}, release chan struct{}, what string) {
	t.Helper()
	e.within(reached, what)
	if err := e.agent.Abort(context.Background(), "", alice); err != nil {
		t.Fatal(err)
	}
	close(release)
	e.waitFor(deploy.EventAborted)
	e.checkEnded(id, "aborted")
}
