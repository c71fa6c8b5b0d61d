package deploy_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/internal/testenv"
	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// A rollback stopped at the canaries comes back with another set of
// stages (the operator changed the configuration meanwhile): every
// configured stage that got the release is still put back, whatever its
// place, and the stop names the hosts of a stage that left, which the
// rollback cannot reach (found by review: it stopped at the unknown step,
// or skipped a stage moved before it, and production kept the bad
// release while the stop said all was put back).
func TestRollbackGoesOnWhenTheStagesChanged(t *testing.T) {
	for _, c := range []struct {
		name   string
		stages []string // after the restart
		back   []string // stages whose hosts must hold the tree from before
		named  []string // in the stop, besides prod5
	}{
		{name: "canaries dropped", stages: []string{"testservers", "production"}, back: []string{"testservers", "production"},
			named: []string{"cana1 (canaries is no longer configured)", "cana2 (canaries is no longer configured)"}},
		{name: "production moved first", stages: []string{"production", "testservers", "canaries"}, back: []string{"testservers", "canaries", "production"}},
		{name: "production, which failed, dropped", stages: []string{"testservers", "canaries"}, back: []string{"testservers", "canaries"},
			named: []string{"prod1 (production is no longer configured)", "prod4 (production is no longer configured)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, w := rollbackHeldAtCanaries(t)
			byName := map[string]deploy.Stage{}
			for _, st := range e.opts.Stages {
				byName[st.(*deploy.SyncStage).StageName] = st
			}
			e.opts.Stages = nil
			for _, n := range c.stages {
				e.opts.Stages = append(e.opts.Stages, byName[n])
			}
			e.restart()
			end := e.waitFor(deploy.EventFailed, deploy.EventDone, deploy.EventAborted)
			for _, st := range c.back {
				for _, h := range w.hosts[st] {
					if st == "production" && h.Name == "prod5" {
						continue // never got it
					}
					if d := cmp.Diff(w.before, readTree(t, h.Dest)); d != "" {
						t.Errorf("%s of %s was not put back (-want +got):\n%s", h.Name, st, d)
					}
				}
			}
			// A stage put back is not put back again when the rollback
			// goes back to an earlier one.
			for _, st := range c.back {
				if n := len(regexp.MustCompile(regexp.QuoteMeta(st)+`: \d+/\d+ hosts rolled back`).FindAllString(e.history(), -1)); n > 1 {
					t.Errorf("%s rolled back %d times, want once", st, n)
				}
			}
			want := append([]string{"Rolled back because 1 host of production failed to sync", "could not be put back or verified: "}, c.named...)
			for _, s := range want {
				if !strings.Contains(end.Text.String(), s) {
					t.Errorf("the deploy ended: %s\nwant it to say %q", end.Text, s)
				}
			}
			if t.Failed() {
				t.Logf("history:\n%s", e.history())
			}
		})
	}
}

// rollbackHeldAtCanaries deploys to testservers, canaries and production,
// where the last host cannot be synced: the stage fails and rolls back,
// testservers first, then canaries, where the engine is stopped.
func rollbackHeldAtCanaries(t *testing.T) (*env, *syncWorld) {
	t.Helper()
	return engineHeldAt(t, "canaries", "Rolling back ", true)
}

// engineHeldAt deploys to testservers, canaries and production (the last
// production host failing when failing is set), answers "tested ok", and
// stops the engine when it next reads the hosts of stage after it said a
// line starting with after.
func engineHeldAt(t *testing.T, stage, after string, failing bool) (*env, *syncWorld) {
	t.Helper()
	var armed atomic.Bool
	hold, held := make(chan struct{}), make(chan struct{})
	var heldOnce sync.Once
	var prod *hostsync.Stage
	e, w := newSyncEnv(t, func(name string, _ *deploy.SyncStage, h *hostsync.Stage) {
		if name == "production" {
			h.Concurrency = 1
			prod = h
		}
	}, func(o *deploy.Options) {
		for _, st := range o.Stages {
			if ss := st.(*deploy.SyncStage); ss.StageName == stage {
				hosts := ss.Hosts
				ss.Hosts = func() (*hostsync.Stage, error) {
					if armed.Load() {
						heldOnce.Do(func() { close(held) })
						<-hold
					}
					return hosts()
				}
			}
		}
	})
	if failing {
		prod.Hosts[4].Dest = "/proc/no-such-host/x"
	}
	e.setHook(func(ev deploy.Event) {
		if strings.HasPrefix(ev.Text.String(), after) {
			armed.Store(true)
		}
	})
	e.deploy(alice, e.sb.Changes["config"])
	e.waitFor(deploy.EventNeeds)
	if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-time.After(testenv.Scale(time.Minute)):
		t.Fatalf("the deploy did not reach %s; history:\n%s", stage, e.history())
	}
	e.cancel() // the engine stops while it reads the stage's hosts
	armed.Store(false)
	close(hold)
	e.stop()
	return e, w
}

// A deploy whose stage left the configuration while the engine was down
// puts back the hosts that got the release, as a failed stage does
// (found by review: it stopped saying it did not know the step, and the
// test servers and canaries kept the release nobody had finished
// deploying).
func TestDeployWhoseStageLeftTheConfigRollsBack(t *testing.T) {
	e, w := engineHeldAt(t, "production", "canaries: ", false)
	var kept []deploy.Stage
	for _, st := range e.opts.Stages {
		if st.(*deploy.SyncStage).StageName != "production" {
			kept = append(kept, st)
		}
	}
	e.opts.Stages = kept
	e.restart()
	end := e.waitFor(deploy.EventFailed, deploy.EventDone, deploy.EventAborted)
	for _, st := range []string{"testservers", "canaries"} {
		for _, h := range w.hosts[st] {
			if d := cmp.Diff(w.before, readTree(t, h.Dest)); d != "" {
				t.Errorf("%s of %s was not put back (-want +got):\n%s", h.Name, st, d)
			}
		}
	}
	if !strings.Contains(end.Text.String(), "Rolled back because the stage production it was at is no longer configured") {
		t.Errorf("the deploy ended: %s\nwant it rolled back because production left the configuration", end.Text)
	}
	if t.Failed() {
		t.Logf("history:\n%s", e.history())
	}
}

// A deploy at a step of the deploy's own that this jouncebot does not
// have (a record of another version) is refused as before, not rolled
// back: only a stage that left the configuration rolls back.
func TestDeployAtAnotherVersionsStepIsNotRolledBack(t *testing.T) {
	e, w := engineHeldAt(t, "production", "canaries: ", false)
	db, err := store.Open(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.Deploys)
		k, v := b.Cursor().First()
		var d map[string]any
		if err := json.Unmarshal(v, &d); err != nil {
			return err
		}
		d["Stage"] = "push-revert" // a step of a revert, not of this deploy
		v, err := json.Marshal(d)
		if err != nil {
			return err
		}
		return b.Put(k, v)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	e.restart()
	end := e.waitFor(deploy.EventFailed, deploy.EventDone, deploy.EventAborted)
	if !strings.Contains(end.Text.String(), `does not know the step "push-revert"`) || strings.Contains(e.history(), "Rolling back") {
		t.Errorf("the deploy ended: %s\nwant it refused without a rollback; history:\n%s", end.Text, e.history())
	}
	if d := cmp.Diff(w.before, readTree(t, w.hosts["testservers"][0].Dest)); d == "" {
		t.Errorf("the test server was put back, want it left as it was")
	}
}
