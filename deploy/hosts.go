package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jouncebot/jouncebot/deploy/workflow"
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

// pendingResult is one host's result on its way to the store: r replaces
// the recorded one (nil deletes it), or else f changes it (the zero
// HostResult when none). done, when set, receives the commit's outcome.
type pendingResult struct {
	host string
	r    *HostResult
	f    func(r *HostResult)
	done chan error
}

// recorder writes a stage's host results as they come. A result is
// handed to a writer goroutine; results that arrive while a transaction
// commits go into the next one together, so recording costs the same per
// host whether a stage has ten hosts or five thousand, and a slow disk
// never holds the sync back. A result not yet committed when the process
// dies is lost: the host is then checked (its release marker) or synced
// again after the restart; a result sent with a channel (send) tells of
// its commit.
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

// add records hr as host's result, without waiting for the commit.
func (r *recorder) add(host string, hr HostResult) { r.in <- pendingResult{host: host, r: &hr} }

// change applies f to host's recorded result, without waiting for the
// commit.
func (r *recorder) change(host string, f func(x *HostResult)) {
	r.in <- pendingResult{host: host, f: f}
}

// send records x (see pendingResult); the channel it returns receives
// the outcome of the commit.
func (r *recorder) send(x pendingResult) chan error {
	x.done = make(chan error, 1)
	r.in <- x
	return x.done
}

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
		err := r.write(batch)
		if err != nil && first == nil {
			first = err
		}
		for _, x := range batch {
			if x.done != nil {
				x.done <- err
			}
		}
	}
	r.done <- first
}

func (r *recorder) write(batch []pendingResult) error {
	return r.a.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.DeployHosts)
		for _, x := range batch {
			k := hostKey(r.id, r.kind, r.stage, x.host)
			hr := x.r
			if x.f != nil {
				hr = &HostResult{}
				if v := b.Get(k); v != nil {
					if err := json.Unmarshal(v, hr); err != nil {
						return fmt.Errorf("decode host result %q: %w", k, err)
					}
				}
				x.f(hr)
			}
			if hr == nil {
				if err := b.Delete(k); err != nil {
					return err
				}
				continue
			}
			v, err := json.Marshal(hr)
			if err != nil {
				return err
			}
			if err := b.Put(k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// A host's sync in a sync stage is a side effect of the deploy's
// workflow (key sync/<stage>/<host>), its mark kept as the host's result
// in bucket deploy.hosts: the intent is the result with Started only, the
// completion a result without Err, a failed sync a result with Err
// (begun, not done: after a restart its marker decides).

func syncKey(stage, host string) string { return effectSync + "/" + stage + "/" + host }

// mark is r as a workflow mark. A result recorded before intents were
// (no Started) was written as the host ended: it began then too.
func (r HostResult) mark() workflow.Mark {
	m := workflow.Mark{Started: r.Started, Note: r.Dest}
	if m.Started.IsZero() {
		m.Started = r.Time
	}
	if r.Err == "" {
		m.Done = r.Time
	}
	return m
}

// done reports whether the host is on record as synced.
func (r HostResult) done() bool { return !r.Time.IsZero() && r.Err == "" }

// hostStore keeps a deploy's workflow record (flowStore) and, by key
// (workflow.KeyStore), the marks of stage's host syncs, written through
// rec so that hosts syncing at once share transactions.
type hostStore struct {
	flowStore
	stage string
	rec   *recorder
}

func (s hostStore) host(key string) (string, error) {
	h, ok := strings.CutPrefix(key, syncKey(s.stage, ""))
	if !ok || h == "" {
		return "", fmt.Errorf("deploy %s: effect %q is no host sync of %s", s.id, key, s.stage)
	}
	return h, nil
}

// Mark implements workflow.KeyStore.
func (s hostStore) Mark(key string) (workflow.Mark, error) {
	h, err := s.host(key)
	if err != nil {
		return workflow.Mark{}, err
	}
	var m workflow.Mark
	err = s.a.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(store.DeployHosts).Get(hostKey(s.id, hostsSync, s.stage, h))
		if v == nil {
			return nil
		}
		var r HostResult
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode host result of %s: %w", h, err)
		}
		m = r.mark()
		return nil
	})
	return m, err
}

// SetMarks implements workflow.KeyStore. A host goes on to the next
// without waiting for its completion's commit: one lost with the process
// is a sync found begun after the restart, where the host's marker
// decides.
func (s hostStore) SetMarks(marks map[string]workflow.Mark) error {
	var wait []chan error
	for key, m := range marks {
		h, err := s.host(key)
		if err != nil {
			return err
		}
		x := pendingResult{host: h}
		if m != (workflow.Mark{}) {
			x.r = &HostResult{Dest: m.Note, Started: m.Started, Time: m.Done}
			if !m.Done.IsZero() {
				x.r.Duration = m.Done.Sub(m.Started)
			}
		}
		if !m.Done.IsZero() {
			s.rec.in <- x
			continue
		}
		wait = append(wait, s.rec.send(x))
	}
	var first error
	for _, done := range wait {
		if err := <-done; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// touched counts the hosts that got (or may have got: their sync
// began) the deploy's release; ended, only those whose sync ended.
func (a *Engine) touched(id ID, ended bool) int {
	all, err := a.hostResults(id, hostsSync)
	if err != nil {
		a.log.Error("read host results", "deploy", id, "err", err)
	}
	n := 0
	for _, hs := range all {
		for _, r := range hs {
			if !ended || !r.Time.IsZero() {
				n++
			}
		}
	}
	return n
}
