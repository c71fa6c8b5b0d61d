package deliver

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/jouncebot/jouncebot/deploy/record"
	"github.com/jouncebot/jouncebot/deploy/workflow"
	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// A host's sync in a sync stage is a side effect of the deploy's
// workflow (key sync/<stage>/<host>), its mark kept as the host's result
// of kind Synced: the intent is the result with Started only (kept
// apart, begun), the completion a result without Err, a failed sync a
// result with Err (begun, not done: after a restart its marker decides).

// SyncEffect is the kind of a host's sync as a side effect of a deploy's
// workflow (workflow.Kind of SyncKey).
const SyncEffect = "sync"

// SyncKey is the key of host's sync in stage as a side effect of a
// deploy's workflow.
func SyncKey(stage, host string) string { return SyncEffect + "/" + stage + "/" + host }

// Store is a deploy's workflow store (workflow.KeyStore) for a sync
// stage: the deploy's own record through the workflow.Store it holds,
// and by key the marks of the stage's host syncs, kept as the hosts'
// results and written through a Recorder, so that hosts syncing at once
// share transactions.
type Store struct {
	workflow.Store
	rec *Recorder
	// fresh is record.Writes() when the record was last read and found
	// not aborted, plus one (zero: never).
	fresh atomic.Uint64
}

// Store returns the workflow store of the host syncs r records (its
// kind is Synced) over flow, the store of the deploy's own record.
func (r *Recorder) Store(flow workflow.Store) *Store {
	return &Store{Store: flow, rec: r}
}

func (s *Store) host(key string) (string, error) {
	h, ok := strings.CutPrefix(key, SyncKey(s.rec.stage, ""))
	if !ok || h == "" {
		return "", fmt.Errorf("deploy %s: effect %q is no host sync of %s", s.rec.id, key, s.rec.stage)
	}
	return h, nil
}

// Mark implements workflow.KeyStore.
func (s *Store) Mark(key string) (workflow.Mark, error) {
	h, err := s.host(key)
	if err != nil {
		return workflow.Mark{}, err
	}
	var m workflow.Mark
	err = s.rec.db.View(func(tx *bolt.Tx) error {
		r, err := get(tx.Bucket(store.DeployHosts), s.rec.id, s.rec.kind, s.rec.stage, h)
		if r != nil {
			m = r.Mark()
		}
		return err
	})
	return m, err
}

// Stopped implements workflow.KeyStore: record.ErrAborted once the
// deploy was aborted. The record is read again only when a deploy record
// was written since it was last read (record.Writes), so that asking
// before each of thousands of hosts costs next to nothing.
func (s *Store) Stopped() error {
	n := record.Writes()
	if s.fresh.Load() == n+1 {
		return nil
	}
	var aborted bool
	err := s.rec.db.View(func(tx *bolt.Tx) error {
		var err error
		aborted, err = record.Aborted(tx, s.rec.id)
		return err
	})
	switch {
	case err != nil:
		return err
	case aborted:
		return record.ErrAborted
	}
	s.fresh.Store(n + 1)
	return nil
}

// SetMarks implements workflow.KeyStore: the marks are written in one
// transaction, which refuses them all with record.ErrAborted when they
// hold an intent and the deploy was aborted. A host goes on to the next
// without waiting for its completion's commit: one lost with the process
// is a sync found begun after the restart, where the host's marker
// decides.
func (s *Store) SetMarks(marks map[string]workflow.Mark) error {
	xs := make([]pending, 0, len(marks))
	wait := false
	for key, m := range marks {
		h, err := s.host(key)
		if err != nil {
			return err
		}
		x := pending{host: h}
		if m != (workflow.Mark{}) {
			x.r = &record.HostResult{Dest: m.Note, Started: m.Started, Time: m.Done}
			if !m.Done.IsZero() {
				x.r.Duration = m.Done.Sub(m.Started)
			}
		}
		wait = wait || m.Done.IsZero()
		xs = append(xs, x)
	}
	if !wait {
		s.rec.send(xs, false)
		return nil
	}
	return <-s.rec.send(xs, true)
}
