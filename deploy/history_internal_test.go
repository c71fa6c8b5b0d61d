package deploy

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/store"
)

// History lists finished deploys that synced, newest first: not failed
// ones, prepare-only ones or reverts.
func TestHistory(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t0 := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)
	deploys := []Deploy{
		{ID: "1", State: stateDone, Created: t0, Finished: t0.Add(20 * time.Minute), Changes: []Change{{Kind: KindConfig}}},
		{ID: "2", State: stateDone, Created: t0.Add(time.Hour), Finished: t0.Add(time.Hour + 30*time.Minute), Changes: []Change{{Kind: KindCore}, {Kind: KindSubmodule}}},
		{ID: "3", State: stateFailed, Created: t0.Add(2 * time.Hour), Finished: t0.Add(3 * time.Hour), Changes: []Change{{Kind: KindCore}}},
		{ID: "4", State: stateDone, PrepareOnly: true, Created: t0.Add(3 * time.Hour), Finished: t0.Add(4 * time.Hour), Changes: []Change{{Kind: KindCore}}},
		{ID: "5", State: stateDone, Revert: &RevertRecord{}, Created: t0.Add(4 * time.Hour), Finished: t0.Add(5 * time.Hour), Changes: []Change{{Kind: KindCore}}},
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, d := range deploys {
			b, _ := json.Marshal(d)
			if err := tx.Bucket(store.Deploys).Put([]byte(d.ID), b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := (&Engine{records: records{db: db}}).records.History(10)
	if err != nil {
		t.Fatal(err)
	}
	want := []Took{
		{At: t0.Add(time.Hour), Took: 30 * time.Minute, Kinds: []Kind{KindCore, KindSubmodule}},
		{At: t0, Took: 20 * time.Minute, Kinds: []Kind{KindConfig}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("history (-want +got):\n%s", d)
	}
	if got, _ := (&Engine{records: records{db: db}}).records.History(1); len(got) != 1 || got[0].Took != 30*time.Minute {
		t.Errorf("History(1) = %+v", got)
	}
}
