package deploy

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// Summary is a deploy as a list of deploys shows it.
type Summary struct {
	ID          ID
	State       string
	By          Person
	Changes     []Change
	PrepareOnly bool
	Created     time.Time
	Finished    time.Time
	Reverted    bool // a revert (the revert command)
	RolledBack  bool
}

// DecodeSummary reads a summary from a stored deploy record, without
// building its per-host results or history.
func DecodeSummary(b []byte) (*Summary, error) {
	var r struct {
		ID          ID
		State       string
		By          Person
		Changes     []Change
		PrepareOnly bool
		Created     time.Time
		Finished    time.Time
		Revert      *struct{}
		Sync        *struct{ Rollback *struct{} }
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &Summary{ID: r.ID, State: r.State, By: r.By, Changes: r.Changes, PrepareOnly: r.PrepareOnly,
		Created: r.Created, Finished: r.Finished, Reverted: r.Revert != nil, RolledBack: r.Sync != nil && r.Sync.Rollback != nil}, nil
}

// Recent returns the last n deploys, newest first, finished or not. The
// status page shows them. A finished deploy's record no longer changes, so
// the caller may keep its summary: known returns it (or false), and that
// record is not read again.
func (a *records) Recent(n int, known func(ID) (*Summary, bool)) ([]*Summary, error) {
	var out []*Summary
	err := a.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(store.Deploys).Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			id := ID(strings.TrimLeft(string(k), "0"))
			if d, ok := known(id); ok {
				out = append(out, d)
				continue
			}
			d, err := DecodeSummary(v)
			if err != nil {
				return fmt.Errorf("deploy %s: %w", k, err)
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// SyncStageSizes lists the sync stages in order with their host counts,
// read from the configuration (host group files included) now. The status
// page reads it once per deploy.
func (a *releaser) SyncStageSizes() ([]StageSize, error) {
	var out []StageSize
	for _, s := range a.o.Stages {
		ss, ok := s.(*SyncStage)
		if !ok {
			continue
		}
		size := StageSize{Name: ss.StageName}
		if ss.Hosts != nil {
			h, err := ss.Hosts()
			if err != nil {
				return out, fmt.Errorf("stage %s: %w", ss.StageName, err)
			}
			size.Hosts = len(h.Hosts)
		}
		out = append(out, size)
	}
	return out, nil
}

// StageSize is a sync stage's name and number of hosts.
type StageSize struct {
	Name  string
	Hosts int
}

// SyncStageNames lists the sync stages' names in order.
func (a *releaser) SyncStageNames() []string {
	var out []string
	for _, s := range a.o.Stages {
		if ss, ok := s.(*SyncStage); ok {
			out = append(out, ss.StageName)
		}
	}
	return out
}
