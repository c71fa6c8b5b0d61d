package deploy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/release"
)

// A file edited in staging after the testservers were synced never
// reaches a host: every stage syncs the release frozen when staging was
// prepared, the one that was tested, and the deployer is told what
// changed in staging.
func TestTamperedStagingNeverReachesHosts(t *testing.T) {
	t.Parallel()
	e, w := newSyncEnv(t, nil)
	n := e.sb.Changes["core"] // bob's change to includes/Hooks.php
	hooks := filepath.Join(e.sb.CoreDir(), "includes/Hooks.php")
	const rel = "php-" + gerrittest.Version + "/includes/Hooks.php"
	e.deploy(alice, n)
	e.waitFor(deploy.EventNeeds)
	tested := readTree(t, w.hosts["testservers"][0].Dest)
	if !strings.Contains(tested[rel], "return false;") {
		t.Fatalf("the testserver lacks the change: %q", tested[rel])
	}
	f, err := os.OpenFile(hooks, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("evil();\n")
	f.Close()
	var mu sync.Mutex
	var private []string
	e.setHook(func(ev deploy.Event) {
		if ev.Kind == deploy.EventSecurity {
			mu.Lock()
			private = append(private, ev.Text.String())
			mu.Unlock()
		}
	})
	if err := e.agent.Tested(context.Background(), "", bob, true); err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventDone)
	for _, h := range w.all() {
		if d := cmp.Diff(tested, readTree(t, h.Dest)); d != "" {
			t.Errorf("%s differs from the tested testserver (-tested +host):\n%s", h.Name, d)
		}
	}
	// An edit in staging may be a security fix in the making: the public
	// history counts it, the file is named only to the security
	// destination.
	rec, err := e.agent.Record("1")
	if err != nil {
		t.Fatal(err)
	}
	public := ""
	for _, h := range rec.History {
		public += h.Text + "\n"
	}
	if !strings.Contains(public, "staging changed after release ") || !strings.Contains(public, "staging/php-"+gerrittest.Version+": 1 changed file") {
		t.Errorf("the deployer was not told that staging changed:\n%s", public)
	}
	if strings.Contains(public, "includes/Hooks.php") {
		t.Errorf("the public history names the file edited in staging:\n%s", public)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(private, "\n"), "staging/php-"+gerrittest.Version+": includes/Hooks.php") {
		t.Errorf("the security destination was not told which file changed: %q", private)
	}
}

// After a restart the record of synced hosts is not believed blindly:
// each host's release marker is checked, and a host that no longer holds
// the release (here: reset behind the bot's back) is synced again before
// the deploy goes on; hosts that hold it are not synced twice.
func TestResumeChecksWhatHostsHold(t *testing.T) {
	t.Parallel()
	e, w := newSyncEnv(t, nil)
	n := e.sb.Changes["config"]
	e.deploy(alice, n)
	e.waitFor(deploy.EventNeeds)
	stopped := time.Now()
	e.stop()
	test := w.hosts["testservers"][0].Dest
	os.Remove(filepath.Join(test, release.MarkerName))
	os.WriteFile(filepath.Join(test, settings), []byte(w.before[settings]), 0o644)
	e.start()
	e.waitFor(deploy.EventNeeds) // asked again
	if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventDone)
	if !regexp.MustCompile(`Checked the testservers after the restart: 1 of 1 hosts do not hold release [0-9a-f]{20}; syncing them again\.`).MatchString(e.history()) {
		t.Errorf("history:\n%s", e.history())
	}
	want := readTree(t, e.sb.Staging)
	for _, h := range w.all() {
		if d := cmp.Diff(want, readTree(t, h.Dest)); d != "" {
			t.Errorf("%s (-want +got):\n%s", h.Name, d)
		}
	}
	rec, _ := e.agent.Record("1")
	if r := rec.Sync.Stages["testservers"].Hosts["test1"]; r.Err != "" || !r.Time.After(stopped) {
		t.Errorf("test1's record %+v: want it synced again after the restart (%s)", r, stopped)
	}
}

// A deploy that stops after its sync started, without a rollback, still
// closes its "Started sync" SAL line, saying what the hosts hold.
func TestStoppedSyncClosesSALLine(t *testing.T) {
	t.Parallel()
	e, w := newSyncEnv(t, nil, func(o *deploy.Options) {
		for _, s := range o.Stages {
			if ss := s.(*deploy.SyncStage); ss.StageName == "canaries" {
				ss.Hosts = func() (*hostsync.Stage, error) { return nil, errors.New("host group canaries is empty") }
			}
		}
	})
	n := e.sb.Changes["config"]
	e.deploy(alice, n)
	e.waitFor(deploy.EventNeeds)
	if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatal(err)
	}
	ev := e.waitFor(deploy.EventFailed)
	if got := ev.Text.String(); !strings.Contains(got, "Cannot sync canaries: host group canaries is empty.") {
		t.Errorf("end = %q", got)
	}
	sal := w.sal.all()
	if len(sal) != 2 || !strings.HasPrefix(sal[0], "alice: Started sync: ") ||
		!regexp.MustCompile(`^alice: Stopped sync: Backport for .* \(duration: \d\dm \d\ds\); 1 host synced release [0-9a-f]{20}, the others keep release [0-9a-f]{20}$`).MatchString(sal[1]) {
		t.Errorf("SAL lines:\n%s", strings.Join(sal, "\n"))
	}
}
