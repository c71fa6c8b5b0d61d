package deploy

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/deploy/record"
	"github.com/jouncebot/jouncebot/store"
)

// Only the per-host results of deploys that finished before the cutoff go;
// running and recent deploys keep theirs, and the deploys' records stay.
func TestPruneHosts(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "jouncebot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	deploys := map[ID]time.Time{"1": now.Add(-40 * 24 * time.Hour), "2": now.Add(-time.Hour), "3": {}}
	err = db.Update(func(tx *bolt.Tx) error {
		for id, finished := range deploys {
			v, _ := json.Marshal(Deploy{ID: id, Finished: finished})
			if err := tx.Bucket(store.Deploys).Put(record.Key(id), v); err != nil {
				return err
			}
			for _, h := range []string{"mw1001", "mw1002"} {
				if err := tx.Bucket(store.DeployHosts).Put(hostKey(id, hostsSync, "canaries", h), []byte("{}")); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := PruneHosts(db, now.Add(-30*24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d (%v), want deploy 1's 2 results", n, err)
	}
	h := &hostRecords{records: records{db: db}}
	for id, want := range map[ID]int{"1": 0, "2": 2, "3": 2} {
		got, err := h.stageHosts(id, hostsSync, "canaries")
		if err != nil || len(got) != want {
			t.Errorf("deploy %s keeps %d results (%v), want %d", id, len(got), err, want)
		}
		if _, err := h.load(id); err != nil {
			t.Errorf("deploy %s's record: %v", id, err)
		}
	}
}
