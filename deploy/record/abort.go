package record

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// ErrAborted is the error of a step or side effect refused because
// someone aborted the deploy (package deploy names it as its own).
var ErrAborted = errors.New("deploy aborted")

// Aborted reports whether deploy id's record, read in tx, says it was
// aborted (false when it has no record). It decodes AbortBy alone, so
// that asking before each of thousands of hosts stays cheap.
func Aborted(tx *bolt.Tx, id ID) (bool, error) {
	v := tx.Bucket(store.Deploys).Get(Key(id))
	if v == nil {
		return false, nil
	}
	var d struct{ AbortBy string }
	if err := json.Unmarshal(v, &d); err != nil {
		return false, fmt.Errorf("decode deploy %s: %w", id, err)
	}
	return d.AbortBy != "", nil
}
