package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// TestSyncAbortMidStageStopsTheRest: an abort while a stage syncs its
// hosts one at a time stops the hosts not yet started (the abort stops
// the deploy before its next side effect); the hosts that got (or may
// have got) the release are put back, and only those.
func TestSyncAbortMidStageStopsTheRest(t *testing.T) {
	t.Parallel()
	e, gate := heldInProduction(t)
	if err := e.agent.Abort(context.Background(), "", alice); err != nil {
		t.Fatal(err)
	}
	gate.open() // the waiting host's connection fails; the others would pass
	e.waitFor(deploy.EventAborted)
	rec, err := e.agent.Record("1")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Sync.Stages["production"].Hosts); n != 3 {
		t.Errorf("%d production hosts on record, want the 3 begun before the abort: %v\nhistory:\n%s", n, rec.Sync.Stages["production"].Hosts, e.history())
	}
	if rec.Sync.Rollback == nil || len(rec.Sync.Rollback.Hosts["production"]) != 3 {
		t.Errorf("rollback of production: %+v, want the 3 hosts begun before the abort", rec.Sync.Rollback)
	}
}

// TestSyncHostDurationsAreTheirOwn: a host's duration is its own sync,
// not its wait in the queue: with one host at a time, the hosts'
// durations add up to no more than the stage took.
func TestSyncHostDurationsAreTheirOwn(t *testing.T) {
	t.Parallel()
	e, _ := newSyncEnv(t, func(_ string, _ *deploy.SyncStage, h *hostsync.Stage) { h.Concurrency = 1 })
	e.deploy(alice, e.sb.Changes["config"])
	e.waitFor(deploy.EventNeeds)
	if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventDone)
	rec, err := e.agent.Record("1")
	if err != nil {
		t.Fatal(err)
	}
	for name, st := range rec.Sync.Stages {
		var sum time.Duration
		for h, r := range st.Hosts {
			sum += r.Duration
			if r.Started.Before(st.Started) || r.Time.After(st.Synced) || r.Time.Sub(r.Started) != r.Duration {
				t.Errorf("%s of %s: %+v, not within its stage (%s to %s)", h, name, r, st.Started, st.Synced)
			}
		}
		if took := st.Synced.Sub(st.Started); sum > took {
			t.Errorf("%s: the hosts' durations add up to %s, more than the stage took (%s): %+v", name, sum, took, st.Hosts)
		}
	}
}

// TestSyncIntentsUnreadByOlderBinaries: a host whose sync began but did
// not end is not where an older jouncebot reads the hosts' results (it
// takes a result without an error for a synced host): after a downgrade
// mid-deploy, it finds such a host on no record, as before intents were
// recorded.
func TestSyncIntentsUnreadByOlderBinaries(t *testing.T) {
	t.Parallel()
	e, _ := heldInProduction(t)
	e.stop() // the waiting host's sync began and never ends
	db, err := store.Open(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// What the jouncebot before intents reads: every key under the
	// deploy's "sync" results, a result without Err a synced host.
	prefix := []byte("0000000001\x00sync\x00production\x00")
	var read []string
	err = db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(store.DeployHosts).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var old struct {
				Dest     string
				Time     time.Time
				Duration time.Duration
				Err      string
			}
			if err := json.Unmarshal(v, &old); err != nil {
				return err
			}
			read = append(read, string(k[len(prefix):]))
			if old.Err == "" && old.Time.IsZero() {
				t.Errorf("%s: %s reads as synced to an older jouncebot, but its sync only began", k[len(prefix):], v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(read) != 2 {
		t.Errorf("an older jouncebot reads %v, want the 2 hosts synced", read)
	}
}

// TestSyncRollbackAfterRestartPutsBackBegunHost: a host whose sync only
// began when the bot stopped is put back by the rollback after the
// restart, not trusted for the previous release's marker it still holds
// (a sync cut short leaves the old marker on a half-synced tree).
func TestSyncRollbackAfterRestartPutsBackBegunHost(t *testing.T) {
	t.Parallel()
	gate := newHostGate(t)
	e, w := newSyncEnv(t, func(name string, _ *deploy.SyncStage, h *hostsync.Stage) {
		if name == "production" {
			h.Concurrency = 1
			gate.guard(h)
		}
	})
	// A first deploy leaves every host with release A and its marker.
	gate.open()
	e.deploy(alice, e.sb.Changes["config"])
	e.waitFor(deploy.EventNeeds)
	if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventDone)
	before := map[string]map[string]string{}
	for _, h := range w.all() {
		before[h.Name] = readTree(t, h.Dest)
	}
	// The second stops with a production host's sync begun; part of
	// its transfer arrived, not the new marker.
	gate.shut(t)
	gate.pass(t, 2)
	const file = "wmf-config/InitialiseSettings.php"
	const content = "<?php\n$wgExampleLimit = 30;\n$wgExampleDebug = false;\n"
	n, err := e.sb.Upload(gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: gerrittest.ConfigBranch, Owner: "alice",
		Subject: "Raise the example limit", Files: []gerrittest.File{{Path: file, Content: content}}})
	if err != nil {
		t.Fatal(err)
	}
	e.deploy(alice, n)
	e.waitFor(deploy.EventNeeds)
	if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatal(err)
	}
	gate.waitHeld(t, e.history)
	held := gate.heldHost(t)
	var partial string
	for _, h := range w.hosts["production"] {
		if h.Name != held {
			continue
		}
		for path := range before[h.Name] {
			if strings.HasSuffix(path, file) {
				partial = filepath.Join(h.Dest, path)
			}
		}
	}
	if partial == "" {
		t.Fatalf("no %s on the held host %q", file, held)
	}
	if err := os.WriteFile(partial, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.agent.Abort(context.Background(), "", alice); err != nil {
		t.Fatal(err)
	}
	e.stop()
	gate.open()
	e.restart()
	e.waitFor(deploy.EventAborted)
	for _, h := range w.all() {
		if d := cmp.Diff(before[h.Name], readTree(t, h.Dest)); d != "" {
			t.Errorf("%s after the rollback (-want +got):\n%s\nhistory:\n%s", h.Name, d, e.history())
		}
	}
}

// heldInProduction deploys the config change with production syncing one
// host at a time through a gate that lets two hosts through and holds
// the third, says "tested ok", and returns once the third host is held.
func heldInProduction(t *testing.T) (*env, *hostGate) {
	t.Helper()
	gate := newHostGate(t)
	e, _ := newSyncEnv(t, func(name string, _ *deploy.SyncStage, h *hostsync.Stage) {
		if name == "production" {
			h.Concurrency = 1
			gate.guard(h)
		}
	})
	gate.pass(t, 2)
	e.deploy(alice, e.sb.Changes["config"])
	e.waitFor(deploy.EventNeeds)
	if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatal(err)
	}
	gate.waitHeld(t, e.history)
	return e, gate
}
