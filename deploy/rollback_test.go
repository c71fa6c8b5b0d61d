package deploy_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// A rollback stopped at a stage that is no longer configured when the
// engine comes back (the operator dropped it meanwhile) still puts the
// other stages' hosts back, and still counts the hosts it put back
// before (found by review: it stopped at the unknown step instead, and
// production kept the bad release).
func TestRollbackGoesOnWhenItsStageLeftTheConfig(t *testing.T) {
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
			if ss := st.(*deploy.SyncStage); ss.StageName == "canaries" {
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
	// The last production host cannot be synced: the stage fails and
	// rolls back, testservers first, then canaries, where the engine
	// is stopped.
	prod.Hosts[4].Dest = "/proc/no-such-host/x"
	e.setHook(func(ev deploy.Event) {
		if strings.HasPrefix(ev.Text.String(), "Rolling back ") {
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
		t.Fatalf("the rollback did not reach the canaries; history:\n%s", e.history())
	}
	e.cancel() // the engine stops while the rollback is at the canaries
	armed.Store(false)
	close(hold)
	e.stop()

	var kept []deploy.Stage
	for _, st := range e.opts.Stages {
		if st.(*deploy.SyncStage).StageName != "canaries" {
			kept = append(kept, st)
		}
	}
	e.opts.Stages = kept
	e.restart()
	end := e.waitFor(deploy.EventFailed, deploy.EventDone, deploy.EventAborted)
	for _, h := range w.hosts["production"][:4] {
		if d := cmp.Diff(w.before, readTree(t, h.Dest)); d != "" {
			t.Errorf("%s was not put back (-want +got):\n%s", h.Name, d)
		}
	}
	// The one production host that never got the release, and the
	// canaries (no longer configured, so not put back), are named.
	want := []string{"Rolled back because ", "could not be put back or verified: prod5"}
	for _, h := range w.hosts["canaries"] {
		want = append(want, h.Name+" (canaries is no longer configured)")
	}
	for _, s := range want {
		if !strings.Contains(end.Text.String(), s) {
			t.Errorf("the deploy ended: %s\nwant it to say %q", end.Text, s)
		}
	}
	if t.Failed() {
		t.Logf("history:\n%s", e.history())
	}
}
