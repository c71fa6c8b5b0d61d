package deploy

import (
	"bytes"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/store"
)

// PruneHosts deletes the per-host results (bucket deploy.hosts) of the
// deploys that finished before before; the deploys' own records stay.
// Results of a deploy still running, or of one whose record is missing,
// are kept.
func PruneHosts(db *store.DB, before time.Time) (int, error) {
	n := 0
	err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.DeployHosts)
		prune := map[string]bool{} // deploy key -> its results go
		var doomed [][]byte
		err := b.ForEach(func(k, _ []byte) error {
			key, _, ok := bytes.Cut(k, []byte{0})
			if !ok {
				return nil
			}
			old, seen := prune[string(key)]
			if !seen {
				d := getRaw(tx, key)
				old = d != nil && !d.Finished.IsZero() && d.Finished.Before(before)
				prune[string(key)] = old
			}
			if old {
				doomed = append(doomed, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range doomed {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(doomed)
		return nil
	})
	return n, err
}

// getRaw reads a deploy's record by its key, nil when missing or
// unreadable.
func getRaw(tx *bolt.Tx, key []byte) *Deploy {
	v := tx.Bucket(store.Deploys).Get(key)
	if v == nil {
		return nil
	}
	var d Deploy
	if json.Unmarshal(v, &d) != nil {
		return nil
	}
	return &d
}
