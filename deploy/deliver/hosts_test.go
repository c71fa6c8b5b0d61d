package deliver_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/deploy/deliver"
	"github.com/jouncebot/jouncebot/deploy/record"
	"github.com/jouncebot/jouncebot/deploy/workflow"
	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

func openDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "jouncebot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func putDeploy(t *testing.T, db *store.DB, d *record.Deploy) {
	t.Helper()
	if err := db.Update(func(tx *bolt.Tx) error { return record.Put(tx, d) }); err != nil {
		t.Fatal(err)
	}
}

// raw is bucket deploy.hosts as it is stored.
func raw(t *testing.T, db *store.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(store.DeployHosts).ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	t0 = time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
	t1 = t0.Add(3 * time.Second)
)

// The keys and values in bucket deploy.hosts are those earlier versions
// wrote and read: a deploy in flight resumes across an upgrade (and a
// downgrade reads no begun sync as a synced host).
func TestRecorderKeepsTheStoredFormat(t *testing.T) {
	db := openDB(t)
	hosts := deliver.Hosts{DB: db}
	for _, c := range []struct {
		kind  deliver.Kind
		host  string
		r     record.HostResult
		key   string
		value string
	}{
		{deliver.Synced, "mw1001", record.HostResult{Dest: "/srv", Started: t0, Time: t1, Duration: 3 * time.Second},
			"0000000042\x00sync\x00production\x00mw1001",
			`{"Dest":"/srv","Started":"2026-12-07T22:00:00Z","Time":"2026-12-07T22:00:03Z","Duration":3000000000}`},
		{deliver.Synced, "mw1002", record.HostResult{Dest: "/srv", Started: t0},
			"0000000042\x00sync-begun\x00production\x00mw1002", `{"Dest":"/srv","Started":"2026-12-07T22:00:00Z","Duration":0}`},
		{deliver.Synced, "mw1003", record.HostResult{Dest: "/srv", Time: t1, Err: "rsync: exit 23"},
			"0000000042\x00sync\x00production\x00mw1003", `{"Dest":"/srv","Time":"2026-12-07T22:00:03Z","Duration":0,"Err":"rsync: exit 23"}`},
		{deliver.RolledBack, "mw1001", record.HostResult{Dest: "/srv", Time: t1},
			"0000000042\x00rollback\x00production\x00mw1001", `{"Dest":"/srv","Time":"2026-12-07T22:00:03Z","Duration":0}`},
		{deliver.Verified, "mw1001", record.HostResult{Dest: "/srv", Time: t1},
			"0000000042\x00verified\x00production\x00mw1001", `{"Dest":"/srv","Time":"2026-12-07T22:00:03Z","Duration":0}`},
	} {
		rec := hosts.Recorder("42", c.kind, "production")
		rec.Add(c.host, c.r)
		if err := rec.Close(); err != nil {
			t.Fatal(err)
		}
		if got := raw(t, db)[c.key]; got != c.value {
			t.Errorf("%s of %s stored under %q as %s, want %s", c.kind, c.host, c.key, got, c.value)
		}
	}
	if n := len(raw(t, db)); n != 5 {
		t.Errorf("%d keys stored, want 5", n)
	}
}

// A result written by the recorder is read back; a sync only begun (an
// intent) is read as begun, kept apart from the synced hosts, and its
// result replaces it.
func TestRecorderResultsReadBack(t *testing.T) {
	db := openDB(t)
	hosts := deliver.Hosts{DB: db}
	putDeploy(t, db, &record.Deploy{ID: "7"})
	rec := hosts.Recorder("7", deliver.Synced, "canaries")
	rec.Add("mw1001", record.HostResult{Dest: "/srv", Started: t0, Time: t1})
	rec.Add("mw1002", record.HostResult{Dest: "/srv", Started: t0})
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := hosts.Stage("7", deliver.Synced, "canaries")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]record.HostResult{
		"mw1001": {Dest: "/srv", Started: t0, Time: t1},
		"mw1002": {Dest: "/srv", Started: t0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results read back (-want +got):\n%s", diff)
	}
	if got["mw1002"].Done() {
		t.Error("a host whose sync only began reads as done")
	}
	for ended, want := range map[bool]int{true: 1, false: 2} {
		if n, err := hosts.Touched("7", ended); err != nil || n != want {
			t.Errorf("Touched(ended=%v) = %d (%v), want %d", ended, n, err, want)
		}
	}
	if _, ok := raw(t, db)["0000000007\x00sync\x00canaries\x00mw1002"]; ok {
		t.Error("an intent is stored as a synced host")
	}

	// The begun sync ends with an error: its result replaces the intent.
	rec = hosts.Recorder("7", deliver.Synced, "canaries")
	rec.Change("mw1002", func(x *record.HostResult) { x.Time, x.Err = t1, "rsync: exit 23" })
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw(t, db)["0000000007\x00sync-begun\x00canaries\x00mw1002"]; ok {
		t.Error("the intent stays after the host's result")
	}
	got, err = hosts.Stage("7", deliver.Synced, "canaries")
	if err != nil {
		t.Fatal(err)
	}
	if r := got["mw1002"]; r != (record.HostResult{Dest: "/srv", Started: t0, Time: t1, Err: "rsync: exit 23"}) {
		t.Errorf("changed result reads %+v", r)
	}
	if other, err := hosts.Stage("7", deliver.RolledBack, "canaries"); err != nil || len(other) != 0 {
		t.Errorf("rollback results %v (%v), want none", other, err)
	}
}

// The workflow store of a stage's host syncs keeps each host's mark as
// its result, and refuses intents, not completions, once the deploy was
// aborted.
func TestStoreMarksAndAbort(t *testing.T) {
	db := openDB(t)
	hosts := deliver.Hosts{DB: db}
	d := &record.Deploy{ID: "9"}
	putDeploy(t, db, d)
	rec := hosts.Recorder("9", deliver.Synced, "production")
	s := rec.Store(nil)
	k1, k2 := deliver.SyncKey("production", "mw1001"), deliver.SyncKey("production", "mw1002")
	if err := s.SetMarks(map[string]workflow.Mark{k1: {Started: t0, Note: "/srv"}, k2: {Started: t0, Note: "/srv"}}); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Mark(k1); err != nil || m != (workflow.Mark{Started: t0, Note: "/srv"}) {
		t.Errorf("intent reads %+v (%v)", m, err)
	}
	if err := s.Stopped(); err != nil {
		t.Errorf("Stopped before the abort: %v", err)
	}

	d.AbortBy = "alice"
	putDeploy(t, db, d)
	if err := s.Stopped(); !errors.Is(err, record.ErrAborted) {
		t.Errorf("Stopped after the abort: %v, want ErrAborted", err)
	}
	// A completion is still recorded (the host was synced); a new intent
	// is refused, and nothing of it is written.
	if err := s.SetMarks(map[string]workflow.Mark{k1: {Started: t0, Done: t1, Note: "/srv"}}); err != nil {
		t.Fatal(err)
	}
	k3 := deliver.SyncKey("production", "mw1003")
	if err := s.SetMarks(map[string]workflow.Mark{k3: {Started: t1, Note: "/srv"}}); !errors.Is(err, record.ErrAborted) {
		t.Errorf("intent after the abort: %v, want ErrAborted", err)
	}
	// Forgetting the begun host is no intent.
	if err := s.SetMarks(map[string]workflow.Mark{k2: {}}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := hosts.Stage("9", deliver.Synced, "production")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]record.HostResult{"mw1001": {Dest: "/srv", Started: t0, Time: t1, Duration: t1.Sub(t0)}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if _, err := s.Mark("sync/canaries/mw1001"); err == nil {
		t.Error("a key of another stage is read as this stage's")
	}
}

// Only the per-host results of deploys that finished before the cutoff go;
// running and recent deploys keep theirs, and the deploys' records stay.
func TestPrune(t *testing.T) {
	db := openDB(t)
	hosts := deliver.Hosts{DB: db}
	now := time.Now()
	deploys := map[record.ID]time.Time{"1": now.Add(-40 * 24 * time.Hour), "2": now.Add(-time.Hour), "3": {}}
	for id, finished := range deploys {
		putDeploy(t, db, &record.Deploy{ID: id, Finished: finished})
		rec := hosts.Recorder(id, deliver.Synced, "canaries")
		for _, h := range []string{"mw1001", "mw1002"} {
			rec.Add(h, record.HostResult{Time: now})
		}
		if err := rec.Close(); err != nil {
			t.Fatal(err)
		}
	}
	n, err := hosts.Prune(now.Add(-30 * 24 * time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d (%v), want deploy 1's 2 results", n, err)
	}
	for id, want := range map[record.ID]int{"1": 0, "2": 2, "3": 2} {
		got, err := hosts.Stage(id, deliver.Synced, "canaries")
		if err != nil || len(got) != want {
			t.Errorf("deploy %s keeps %d results (%v), want %d", id, len(got), err, want)
		}
		err = db.View(func(tx *bolt.Tx) error { _, err := record.Get(tx, id); return err })
		if err != nil {
			t.Errorf("deploy %s's record: %v", id, err)
		}
	}
}
