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
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/release"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// deployAll deploys changes through every stage with the owner's test.
func deployAll(t *testing.T, e *env, changes ...int) {
	t.Helper()
	e.deploy(alice, changes...)
	e.waitFor(deploy.EventNeeds)
	if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventDone)
}

func TestRevertSingleChangeSyncsFirst(t *testing.T) {
	t.Parallel()
	e, w := newSyncEnv(t, nil)
	n := e.sb.Changes["config"]
	deployAll(t, e, n)
	id, err := e.agent.Revert(context.Background(), deploy.RevertRequest{Changes: []string{itoa(n)}, By: alice, InWindow: true})
	if err != nil {
		t.Fatal(err)
	}
	ev := e.waitFor(deploy.EventDone)
	if got, want := ev.Text.String(), "alice: revert "+string(id)+" is done: "+itoa(n)+" reverted in staging, synced and pushed for review."; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// Every host is back to the tree from before the deploy.
	for _, h := range w.all() {
		if d := cmp.Diff(w.before, readTree(t, h.Dest)); d != "" {
			t.Errorf("%s after the revert (-want +got):\n%s", h.Name, d)
		}
	}
	rec, _ := e.agent.Record(id)
	if len(rec.Revert.New) != 1 {
		t.Fatalf("revert changes = %v, want one", rec.Revert.New)
	}
	rn := rec.Revert.New[0]
	c, err := e.client().Change(context.Background(), rn)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != "NEW" || c.Branch != gerrittest.ConfigBranch || c.Subject != `Revert "Raise $wgExampleLimit to 20"` {
		t.Errorf("revert change = %s %s %q", c.Status, c.Branch, c.Subject)
	}
	msgs := strings.Join(e.sb.Messages(n), "\n")
	if !strings.Contains(msgs, "Reverted by Alice with jouncebot; the revert is "+itoa(rn)+".") {
		t.Errorf("no comment on the original change:\n%s", msgs)
	}
	if sal := strings.Join(w.sal.all(), "\n"); !strings.Contains(sal, "alice: Reverted [[gerrit:"+itoa(n)+"|Raise $wgExampleLimit to 20 (T1001)]] locally and synced; revert is [[gerrit:"+itoa(rn)+"]]") {
		t.Errorf("SAL lines:\n%s", sal)
	}
	// Deploying the revert change later drops the local revert cleanly.
	deployAll(t, e, rn)
	if st := e.gitOut(e.sb.Staging, "status", "--porcelain"); st != "" {
		t.Errorf("staging not clean: %s", st)
	}
	if ahead := e.gitOut(e.sb.Staging, "rev-list", "--count", "origin/master..HEAD"); ahead != "0" {
		t.Errorf("staging is %s commits ahead of upstream after the revert merged", ahead)
	}
}

func TestRevertStackNewestFirst(t *testing.T) {
	t.Parallel()
	e, w := newSyncEnv(t, nil)
	first, second := e.sb.Changes["config"], e.sb.Changes["config2"]
	deployAll(t, e, first, second)
	// Given oldest first, reverted newest first.
	id, err := e.agent.Revert(context.Background(), deploy.RevertRequest{Changes: []string{itoa(first), itoa(second)}, By: alice, InWindow: true})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventDone)
	log := e.gitOut(e.sb.Staging, "log", "--format=%s", "-2")
	if want := "Revert \"Raise $wgExampleLimit to 20\"\nRevert \"Enable $wgExampleDebug for the limit change\""; log != want {
		t.Errorf("staging log =\n%s\nwant\n%s", log, want)
	}
	for _, h := range w.all() {
		if d := cmp.Diff(w.before, readTree(t, h.Dest)); d != "" {
			t.Errorf("%s after the revert (-want +got):\n%s", h.Name, d)
		}
	}
	rec, _ := e.agent.Record(id)
	if len(rec.Revert.New) != 2 {
		t.Errorf("revert changes = %v, want two", rec.Revert.New)
	}
}

func TestRevertRefusals(t *testing.T) {
	t.Parallel()
	e, _ := newSyncEnv(t, nil)
	n := e.sb.Changes["config"]
	_, err := e.agent.Revert(context.Background(), deploy.RevertRequest{Changes: []string{itoa(n)}, By: alice, InWindow: true})
	if want := "Change " + itoa(n) + " is not merged, so there is nothing to revert; abandon it in Gerrit instead."; err == nil || err.Error() != want {
		t.Errorf("revert of an open change: %v, want %q", err, want)
	}
	if _, err := e.agent.Revert(context.Background(), deploy.RevertRequest{Changes: []string{itoa(n)}, By: carol, InWindow: true}); err == nil {
		t.Error("a revert by someone without the deployer role was accepted")
	}
	evil := "https://gerrit.evil.example/r/c/operations/mediawiki-config/+/" + itoa(n)
	_, err = e.agent.Revert(context.Background(), deploy.RevertRequest{Changes: []string{evil}, By: alice, InWindow: true})
	if err == nil || !strings.HasPrefix(err.Error(), evil+" links to gerrit.evil.example, but I deploy only from the Gerrit at 127.0.0.1:") {
		t.Errorf("revert of a link to another Gerrit: %v", err)
	}
}

func TestRevertViaGerrit(t *testing.T) {
	t.Parallel()
	e, w := newSyncEnv(t, nil)
	n := e.sb.Changes["config"]
	deployAll(t, e, n)
	before := e.gitOut(e.sb.Staging, "rev-parse", "HEAD")
	id, err := e.agent.Revert(context.Background(), deploy.RevertRequest{Changes: []string{itoa(n)}, By: alice, InWindow: true, ViaGerrit: true})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventNeeds)
	rec, _ := e.agent.Record(id)
	if len(rec.Changes) != 1 || !strings.HasPrefix(rec.Changes[0].Subject, "Revert ") {
		t.Fatalf("the deploy is not of the revert: %+v", rec.Changes)
	}
	if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventDone)
	if got := e.gitOut(e.sb.Staging, "rev-parse", "HEAD~1"); got != before {
		t.Errorf("staging is not the old HEAD plus the merged revert")
	}
	for _, h := range w.all() {
		if got := readTree(t, h.Dest)[settings]; got != w.before[settings] {
			t.Errorf("%s still has the change: %q", h.Name, got)
		}
	}
}

// A revert whose sync fails on a host is not rolled back: that would put
// the reverted change back on every host that got the revert. It goes on,
// as a revert whose checks fail does, and its end and its Finished sync
// SAL line name the host that still runs the change, whether the failure
// stopped the stage or was one the stage allows (max_failed_hosts).
func TestRevertWhoseSyncFailsIsNotRolledBack(t *testing.T) {
	for _, c := range []struct {
		name      string
		maxFailed int
	}{{"over the allowance", 0}, {"within the allowance", 1}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var prod *hostsync.Stage
			e, w := newSyncEnv(t, func(name string, _ *deploy.SyncStage, h *hostsync.Stage) {
				if name == "production" {
					h.MaxFailed = c.maxFailed
					prod = h
				}
			})
			n := e.sb.Changes["config"]
			deployAll(t, e, n)
			failed := prod.Hosts[len(prod.Hosts)-1]
			prod.Hosts[len(prod.Hosts)-1].Dest = "/proc/no-such-host/x"
			if _, err := e.agent.Revert(context.Background(), deploy.RevertRequest{Changes: []string{itoa(n)}, By: alice, InWindow: true}); err != nil {
				t.Fatal(err)
			}
			end := e.waitFor(deploy.EventDone, deploy.EventFailed, deploy.EventAborted)
			for _, h := range w.all() {
				if h.Name == failed.Name {
					continue
				}
				if d := cmp.Diff(w.before, readTree(t, h.Dest)); d != "" {
					t.Errorf("%s does not hold the tree from before the deploy after the revert (-want +got):\n%s", h.Name, d)
				}
			}
			if strings.Contains(e.history(), "Rolling back") {
				t.Errorf("the revert was rolled back:\n%s", e.history())
			}
			if want := failed.Name + " (production) did not get the revert and still runs the reverted change"; end.Kind != deploy.EventDone || !strings.Contains(end.Text.String(), want) {
				t.Errorf("the revert ended %s: %s\nwant it done, saying %q", end.Kind, end.Text, want)
			}
			if sal := strings.Join(w.sal.all(), "\n"); !strings.Contains(sal, "; not synced: "+failed.Name+" (production) (duration: ") {
				t.Errorf("the SAL does not say %s was not synced:\n%s", failed.Name, sal)
			}
		})
	}
}

// revertAtProduction deploys a change to every stage, starts its revert
// with cana2 down when down is set, and holds the engine as the revert is
// about to sync production, after the canaries. The caller releases it
// with release (the engine is stopped first when stop is set).
type revertAtProduction struct {
	e       *env
	w       *syncWorld
	id      deploy.ID
	cana2   hostsync.Host // as it was before it went down
	can     *hostsync.Stage
	rels    *release.Store
	release func(stop bool)
}

func holdRevertAtProduction(t *testing.T, down bool) *revertAtProduction {
	t.Helper()
	var armed atomic.Bool
	hold, held := make(chan struct{}), make(chan struct{})
	var once sync.Once
	r := &revertAtProduction{}
	r.e, r.w = newSyncEnv(t, func(name string, _ *deploy.SyncStage, h *hostsync.Stage) {
		if name == "canaries" {
			r.can = h
		}
	}, func(o *deploy.Options) {
		r.rels = o.Releases
		for _, st := range o.Stages {
			if ss := st.(*deploy.SyncStage); ss.StageName == "production" {
				hosts := ss.Hosts
				ss.Hosts = func() (*hostsync.Stage, error) {
					if armed.Load() {
						once.Do(func() { close(held) })
						<-hold
					}
					return hosts()
				}
			}
		}
	})
	n := r.e.sb.Changes["config"]
	deployAll(t, r.e, n)
	r.cana2 = r.can.Hosts[1]
	if down {
		r.can.Hosts[1].Dest = "/proc/no-such-host/x"
	}
	armed.Store(true)
	id, err := r.e.agent.Revert(context.Background(), deploy.RevertRequest{Changes: []string{itoa(n)}, By: alice, InWindow: true})
	if err != nil {
		t.Fatal(err)
	}
	r.id = id
	select {
	case <-held:
	case <-time.After(testenv.Scale(time.Minute)):
		t.Fatalf("the revert did not go on to production; history:\n%s", r.e.history())
	}
	r.release = func(stop bool) {
		if stop {
			r.e.cancel()
		}
		armed.Store(false)
		close(hold)
		if stop {
			r.e.stop()
		}
	}
	return r
}

// A revert stopped after a stage that a host failed to get names that
// host at its end only if it still lacks the revert after the restart:
// not when someone synced it by hand meanwhile, or when it is back and
// the restart's sync reaches it.
func TestRevertNamesOnlyTheHostsThatStillLackIt(t *testing.T) {
	for _, c := range []struct {
		name  string
		named bool
	}{{"synced by hand", false}, {"back", false}, {"still down", true}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := holdRevertAtProduction(t, true)
			e, down := r.e, r.cana2
			rec, err := e.agent.Record(r.id)
			if err != nil {
				t.Fatal(err)
			}
			r.release(true)
			switch c.name {
			case "synced by hand":
				r.can.Hosts[1].Dest = down.Dest
				rel, err := r.rels.Open(rec.Sync.Release)
				if err != nil {
					t.Fatal(err)
				}
				hs := &hostsync.Stage{Name: "by hand", Hosts: []hostsync.Host{down}, Method: &hostsync.Rsync{}}
				if _, err := hs.Sync(t.Context(), hostsync.Job{Source: rel.Tree()}); err != nil {
					t.Fatal(err)
				}
			case "back":
				r.can.Hosts[1].Dest = down.Dest
			}
			e.restart()
			end := e.waitFor(deploy.EventDone, deploy.EventFailed, deploy.EventAborted)
			if end.Kind != deploy.EventDone {
				t.Fatalf("the revert ended %s: %s", end.Kind, end.Text)
			}
			if got := strings.Contains(end.Text.String(), down.Name); got != c.named {
				t.Errorf("the end names %s: %v, want %v: %s", down.Name, got, c.named, end.Text)
			}
		})
	}
}

// A revert aborted after a stage a host failed to get says, as it ends,
// which host still runs the reverted change and that staging holds the
// revert, not pushed (it said "The staging checkout was not changed").
func TestAbortedRevertSaysWhatItLeft(t *testing.T) {
	t.Parallel()
	r := holdRevertAtProduction(t, true)
	if err := r.e.agent.Abort(context.Background(), r.id, alice); err != nil {
		t.Fatal(err)
	}
	r.release(false)
	end := r.e.waitFor(deploy.EventDone, deploy.EventFailed, deploy.EventAborted)
	for _, want := range []string{"Staging holds the revert (", "not pushed to Gerrit", "cana2 (canaries) did not get the revert and still runs the reverted change"} {
		if end.Kind != deploy.EventAborted || !strings.Contains(end.Text.String(), want) {
			t.Errorf("the revert ended %s: %s\nwant it aborted, saying %q", end.Kind, end.Text, want)
		}
	}
	if strings.Contains(end.Text.String(), "The staging checkout was not changed") {
		t.Errorf("the end says staging was not changed, but it holds the revert: %s", end.Text)
	}
}

// A revert resumed after a restart with a host that cannot be checked
// does not offer to roll back, and refuses `rollback`: that would put the
// reverted change back on every host. It goes on when told to.
func TestRevertWithUncheckableHostIsNotRolledBack(t *testing.T) {
	t.Parallel()
	r := holdRevertAtProduction(t, false)
	e, w := r.e, r.w
	r.release(true)
	r.can.Hosts[1].Dest = "no-such-host.invalid:/x"
	e.restart()
	ask := e.waitFor(deploy.EventNeeds)
	if !strings.Contains(ask.Text.String(), "could not be checked after the restart") || strings.Contains(ask.Text.String(), "`rollback`") {
		t.Errorf("the question: %s\nwant it to ask about cana2 without offering `rollback`", ask.Text)
	}
	err := e.agent.Decide(context.Background(), r.id, alice, "rollback", "")
	if err == nil || !strings.Contains(err.Error(), "A revert is not rolled back") {
		t.Fatalf("rollback of a revert: %v, want it refused", err)
	}
	if err := e.agent.Decide(context.Background(), r.id, alice, "continue", "cana2 is out of rotation"); err != nil {
		t.Fatal(err)
	}
	end := e.waitFor(deploy.EventDone, deploy.EventFailed, deploy.EventAborted)
	if end.Kind != deploy.EventDone {
		t.Fatalf("the revert ended %s: %s", end.Kind, end.Text)
	}
	for _, h := range w.all() {
		if h.Name == r.cana2.Name {
			continue
		}
		if got := readTree(t, h.Dest)[settings]; got != w.before[settings] {
			t.Errorf("%s runs the reverted change again", h.Name)
		}
	}
}
