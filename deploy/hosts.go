package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/jouncebot/jouncebot/deploy/record"
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
	return []byte(string(record.Key(id)) + "\x00" + kind + "\x00" + stage + "\x00" + host)
}

// hostsBegun keeps the intents of the hosts' syncs (a result of kind
// hostsSync with Started only) apart from their results: a jouncebot from
// before intents reads every result of kind hostsSync without an error
// as a synced host, so after a downgrade mid-deploy it must find a host
// whose sync only began on no record, as it would have before. Reading
// hostsSync (hostResults, getHost) includes them.
const hostsBegun = "sync-begun"

// hostRecords keeps each host's result of a deploy's syncs, rollbacks
// and checks (bucket deploy.hosts): stage by stage, as the hosts' syncs
// write them (recorder), and as a workflow's marks (hostStore). It also
// says from them whether an aborted deploy must be rolled back
// (needsRollback, rollback.go).
type hostRecords struct {
	records
	log *slog.Logger
}

// hostResults returns deploy id's results of kind, by stage and host.
func (h *hostRecords) hostResults(id ID, kind string) (map[string]map[string]HostResult, error) {
	out := map[string]map[string]HostResult{}
	err := h.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(store.DeployHosts).Cursor()
		kinds := []string{kind}
		if kind == hostsSync {
			kinds = append(kinds, hostsBegun)
		}
		for _, kind := range kinds {
			prefix := []byte(string(record.Key(id)) + "\x00" + kind + "\x00")
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
				if _, ended := out[stage][host]; !ended {
					out[stage][host] = r
				}
			}
		}
		return nil
	})
	return out, err
}

// stageHosts is hostResults for one stage.
func (h *hostRecords) stageHosts(id ID, kind, stage string) (map[string]HostResult, error) {
	all, err := h.hostResults(id, kind)
	if err != nil {
		return nil, err
	}
	if all[stage] == nil {
		return map[string]HostResult{}, nil
	}
	return all[stage], nil
}

// getHost reads host's result of kind in bucket b (nil when none).
func getHost(b *bolt.Bucket, id ID, kind, stage, host string) (*HostResult, error) {
	v := b.Get(hostKey(id, kind, stage, host))
	if v == nil && kind == hostsSync {
		v = b.Get(hostKey(id, hostsBegun, stage, host))
	}
	if v == nil {
		return nil, nil
	}
	var r HostResult
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("decode host result of %s: %w", host, err)
	}
	return &r, nil
}

// putHost records r as host's result of kind in bucket b (nil deletes
// it), an intent apart (hostsBegun).
func putHost(b *bolt.Bucket, id ID, kind, stage, host string, r *HostResult) error {
	k, other := hostKey(id, kind, stage, host), []byte(nil)
	if kind == hostsSync {
		other = hostKey(id, hostsBegun, stage, host)
		if r != nil && r.Time.IsZero() && r.Err == "" {
			k, other = other, k
		}
	}
	if other != nil {
		if err := b.Delete(other); err != nil {
			return err
		}
	}
	if r == nil {
		return b.Delete(k)
	}
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put(k, v)
}

// pendingResult is one host's result on its way to the store: r replaces
// the recorded one (nil deletes it), or else f changes it (the zero
// HostResult when none).
type pendingResult struct {
	host string
	r    *HostResult
	f    func(r *HostResult)
}

// intent reports whether x records an intent: a result begun, not ended.
func (x pendingResult) intent() bool {
	return x.r != nil && x.r.Time.IsZero() && x.r.Err == ""
}

// pendingWrite is results written in the same transaction; done, when
// set, receives the commit's outcome. Holding an intent, they are refused
// with ErrAborted, all of them, when the deploy was aborted.
type pendingWrite struct {
	results []pendingResult
	done    chan error
	refused bool
}

// recorder writes a stage's host results as they come. A result is
// handed to a writer goroutine; results that arrive while a transaction
// commits go into the next one together, so recording costs the same per
// host whether a stage has ten hosts or five thousand, and a slow disk
// never holds the sync back. A result not yet committed when the process
// dies is lost: the host is then checked (its release marker) or synced
// again after the restart; results sent with a channel (send) tell of
// their commit.
type recorder struct {
	db    *store.DB
	id    ID
	kind  string
	stage string
	in    chan *pendingWrite
	done  chan error
}

func (h *hostRecords) newRecorder(id ID, kind, stage string) *recorder {
	r := &recorder{db: h.db, id: id, kind: kind, stage: stage, in: make(chan *pendingWrite, 1024), done: make(chan error, 1)}
	go r.run()
	return r
}

// add records hr as host's result, without waiting for the commit.
func (r *recorder) add(host string, hr HostResult) {
	r.in <- &pendingWrite{results: []pendingResult{{host: host, r: &hr}}}
}

// change applies f to host's recorded result, without waiting for the
// commit.
func (r *recorder) change(host string, f func(x *HostResult)) {
	r.in <- &pendingWrite{results: []pendingResult{{host: host, f: f}}}
}

// send records xs in one transaction; the channel it returns receives
// the outcome of the commit.
func (r *recorder) send(xs []pendingResult) chan error {
	w := &pendingWrite{results: xs, done: make(chan error, 1)}
	r.in <- w
	return w.done
}

// close writes what is left and returns the first error.
func (r *recorder) close() error {
	close(r.in)
	return <-r.done
}

func (r *recorder) run() {
	var first error
	for x := range r.in {
		batch := []*pendingWrite{x}
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
		for _, w := range batch {
			switch {
			case w.done == nil:
			case err == nil && w.refused:
				w.done <- ErrAborted
			default:
				w.done <- err
			}
		}
	}
	r.done <- first
}

func (r *recorder) write(batch []*pendingWrite) error {
	return r.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.DeployHosts)
		// bbolt writes keys in order much faster than at random.
		var all []pendingResult
		read, aborted := false, false
		for _, w := range batch {
			if slices.ContainsFunc(w.results, pendingResult.intent) {
				if !read {
					var err error
					if aborted, err = abortedIn(tx, r.id); err != nil {
						return err
					}
					read = true
				}
				if w.refused = aborted; w.refused {
					continue
				}
			}
			all = append(all, w.results...)
		}
		slices.SortStableFunc(all, func(x, y pendingResult) int { return strings.Compare(x.host, y.host) })
		for _, x := range all {
			hr := x.r
			if x.f != nil {
				old, err := getHost(b, r.id, r.kind, r.stage, x.host)
				if err != nil {
					return err
				}
				if hr = old; hr == nil {
					hr = &HostResult{}
				}
				x.f(hr)
			}
			if err := putHost(b, r.id, r.kind, r.stage, x.host, hr); err != nil {
				return err
			}
		}
		return nil
	})
}

// abortedIn reports whether deploy id was aborted, read in tx.
func abortedIn(tx *bolt.Tx, id ID) (bool, error) {
	v := tx.Bucket(store.Deploys).Get(record.Key(id))
	if v == nil {
		return false, nil
	}
	var d struct{ AbortBy string }
	if err := json.Unmarshal(v, &d); err != nil {
		return false, fmt.Errorf("decode deploy %s: %w", id, err)
	}
	return d.AbortBy != "", nil
}

// A host's sync in a sync stage is a side effect of the deploy's
// workflow (key sync/<stage>/<host>), its mark kept as the host's result
// in bucket deploy.hosts: the intent is the result with Started only
// (kept apart, hostsBegun), the completion a result without Err, a
// failed sync a result with Err (begun, not done: after a restart its
// marker decides).

func syncKey(stage, host string) string { return effectSync + "/" + stage + "/" + host }

// hostStore keeps a deploy's workflow record (flowStore) and, by key
// (workflow.KeyStore), the marks of stage's host syncs, written through
// rec so that hosts syncing at once share transactions.
type hostStore struct {
	flowStore
	stage string
	rec   *recorder
	// fresh is record.Writes() when the record was last read and found
	// not aborted, plus one (zero: never).
	fresh *atomic.Uint64
}

func (h *hostRecords) hostStore(id ID, stage string, rec *recorder) hostStore {
	return hostStore{flowStore: flowStore{records: h.records, id: id}, stage: stage, rec: rec, fresh: new(atomic.Uint64)}
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
	err = s.db.View(func(tx *bolt.Tx) error {
		r, err := getHost(tx.Bucket(store.DeployHosts), s.id, hostsSync, s.stage, h)
		if r != nil {
			m = r.Mark()
		}
		return err
	})
	return m, err
}

// Stopped implements workflow.KeyStore: ErrAborted once the deploy was
// aborted. The record is read again only when a deploy record was
// written since it was last read (record.Writes), so that asking before
// each of thousands of hosts costs next to nothing.
func (s hostStore) Stopped() error {
	n := record.Writes()
	if s.fresh.Load() == n+1 {
		return nil
	}
	var aborted bool
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		aborted, err = abortedIn(tx, s.id)
		return err
	})
	switch {
	case err != nil:
		return err
	case aborted:
		return ErrAborted
	}
	s.fresh.Store(n + 1)
	return nil
}

// SetMarks implements workflow.KeyStore: the marks are written in one
// transaction, which refuses them all with ErrAborted when they hold an
// intent and the deploy was aborted. A host goes on to the next without
// waiting for its completion's commit: one lost with the process is a
// sync found begun after the restart, where the host's marker decides.
func (s hostStore) SetMarks(marks map[string]workflow.Mark) error {
	xs := make([]pendingResult, 0, len(marks))
	wait := false
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
		wait = wait || m.Done.IsZero()
		xs = append(xs, x)
	}
	if !wait {
		s.rec.in <- &pendingWrite{results: xs}
		return nil
	}
	return <-s.rec.send(xs)
}

// touched counts the hosts that got (or may have got: their sync
// began) the deploy's release; ended, only those whose sync ended.
func (h *hostRecords) touched(id ID, ended bool) int {
	all, err := h.hostResults(id, hostsSync)
	if err != nil {
		h.log.Error("read host results", "deploy", id, "err", err)
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
