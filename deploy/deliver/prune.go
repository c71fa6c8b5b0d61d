package deliver

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/jouncebot/jouncebot/deploy/record"
	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// Prune deletes the hosts' results of the deploys that finished before
// before, and returns how many it deleted; the deploys' own records
// stay. Results of a deploy still running, or of one whose record is
// missing or unreadable, are kept.
func (h Hosts) Prune(before time.Time) (int, error) {
	n := 0
	err := h.DB.Update(func(tx *bolt.Tx) error {
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
func getRaw(tx *bolt.Tx, key []byte) *record.Deploy {
	v := tx.Bucket(store.Deploys).Get(key)
	if v == nil {
		return nil
	}
	var d record.Deploy
	if json.Unmarshal(v, &d) != nil {
		return nil
	}
	return &d
}
