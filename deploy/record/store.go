package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// Key is the key of deploy id's record in bucket deploy.deploys: its
// number, zero-padded, so the records sort in the order deploys started.
func Key(id ID) []byte {
	n, _ := strconv.Atoi(string(id))
	return []byte(fmt.Sprintf("%010d", n))
}

// ErrNoDeploy is Get's error for a deploy that has no record.
var ErrNoDeploy = errors.New("no such deploy")

// Get reads deploy id's record.
func Get(tx *bolt.Tx, id ID) (*Deploy, error) {
	b := tx.Bucket(store.Deploys).Get(Key(id))
	if b == nil {
		return nil, ErrNoDeploy
	}
	var d Deploy
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("decode deploy %s: %w", id, err)
	}
	return &d, nil
}

// writes counts the writes of deploy records committed in this process
// (to any database), each counted once its transaction committed.
var writes atomic.Uint64

// Writes is the number of deploy records written so far in this process.
// A reader that loaded it before reading a record, and finds it
// unchanged, knows the record unchanged since (the sync asks before each
// host whether the deploy was stopped).
func Writes() uint64 { return writes.Load() }

// Put writes d's record.
func Put(tx *bolt.Tx, d *Deploy) error {
	tx.OnCommit(func() { writes.Add(1) })
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return tx.Bucket(store.Deploys).Put(Key(d.ID), b)
}
