package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// Kinds of per-host results, each kept per deploy and stage in bucket
// deploy.hosts, one small key per host.
const (
	hostsSync     = "sync"     // the stage's sync of the deploy's release
	hostsRollback = "rollback" // the sync back to the previous release
	hostsVerified = "verified" // the check after the rollback
)

// hostKey is "<deploy key>\x00<kind>\x00<stage>\x00<host>".
func hostKey(id ID, kind, stage, host string) []byte {
	return []byte(string(deployKey(id)) + "\x00" + kind + "\x00" + stage + "\x00" + host)
}

// hostResults returns deploy id's results of kind, by stage and host.
func (a *records) hostResults(id ID, kind string) (map[string]map[string]HostResult, error) {
	out := map[string]map[string]HostResult{}
	prefix := []byte(string(deployKey(id)) + "\x00" + kind + "\x00")
	err := a.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(store.DeployHosts).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			stage, host, ok := strings.Cut(string(k[len(prefix):]), "\x00")
			if !ok {
				continue
			}
			var r HostResult
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode host result %q: %w", k, err)
			}
			if out[stage] == nil {
				out[stage] = map[string]HostResult{}
			}
			out[stage][host] = r
		}
		return nil
	})
	return out, err
}

// stageHosts is hostResults for one stage.
func (a *Engine) stageHosts(id ID, kind, stage string) (map[string]HostResult, error) {
	all, err := a.hostResults(id, kind)
	if err != nil {
		return nil, err
	}
	if all[stage] == nil {
		return map[string]HostResult{}, nil
	}
	return all[stage], nil
}

// pendingResult is one host's result on its way to the store.
type pendingResult struct {
	host string
	r    HostResult
}

// recorder writes a stage's host results as they come. A result is
// handed to a writer goroutine; results that arrive while a transaction
// commits go into the next one together, so recording costs the same per
// host whether a stage has ten hosts or five thousand, and a slow disk
// never holds the sync back. A result not yet committed when the process
// dies is lost: the host is then checked (its release marker) or synced
// again after the restart.
type recorder struct {
	a     *Engine
	id    ID
	kind  string
	stage string
	in    chan pendingResult
	done  chan error
}

func (a *Engine) newRecorder(id ID, kind, stage string) *recorder {
	r := &recorder{a: a, id: id, kind: kind, stage: stage, in: make(chan pendingResult, 1024), done: make(chan error, 1)}
	go r.run()
	return r
}

func (r *recorder) add(host string, hr HostResult) { r.in <- pendingResult{host, hr} }

// close writes what is left and returns the first error.
func (r *recorder) close() error {
	close(r.in)
	return <-r.done
}

func (r *recorder) run() {
	var first error
	for x := range r.in {
		batch := []pendingResult{x}
	drain:
		for {
			select {
			case y, ok := <-r.in:
				if !ok {
					break drain
				}
				batch = append(batch, y)
			default:
				break drain
			}
		}
		if err := r.write(batch); err != nil && first == nil {
			first = err
		}
	}
	r.done <- first
}

func (r *recorder) write(batch []pendingResult) error {
	return r.a.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.DeployHosts)
		for _, x := range batch {
			v, err := json.Marshal(x.r)
			if err != nil {
				return err
			}
			if err := b.Put(hostKey(r.id, r.kind, r.stage, x.host), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// touched counts the hosts that got (or may have got) the deploy's
// release.
func (a *Engine) touched(id ID) int {
	all, err := a.hostResults(id, hostsSync)
	if err != nil {
		a.log.Error("read host results", "deploy", id, "err", err)
	}
	n := 0
	for _, hs := range all {
		n += len(hs)
	}
	return n
}
