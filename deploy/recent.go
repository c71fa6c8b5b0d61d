package deploy

import (
	"encoding/json"
	"fmt"

	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// Recent returns the last n deploys, newest first, finished or not. The
// status page shows them.
func (a *Agent) Recent(n int) ([]*Deploy, error) {
	var out []*Deploy
	err := a.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(store.Deploys).Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			var d Deploy
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("deploy %s: %w", k, err)
			}
			out = append(out, &d)
		}
		return nil
	})
	return out, err
}

// SyncStageSizes lists the sync stages in order with their host counts,
// read from the configuration (host group files included) now. The status
// page reads it once per deploy.
func (a *Agent) SyncStageSizes() ([]StageSize, error) {
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
func (a *Agent) SyncStageNames() []string {
	var out []string
	for _, s := range a.o.Stages {
		if ss, ok := s.(*SyncStage); ok {
			out = append(out, ss.StageName)
		}
	}
	return out
}
