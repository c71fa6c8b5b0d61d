package deliver

import (
	"slices"
	"strings"

	"github.com/jouncebot/jouncebot/deploy/record"
	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// pending is one host's result on its way to the store: r replaces the
// recorded one (nil deletes it), or else f changes it (the zero
// HostResult when none).
type pending struct {
	host string
	r    *record.HostResult
	f    func(r *record.HostResult)
}

// intent reports whether x records an intent: a result begun, not ended.
func (x pending) intent() bool { return intent(x.r) }

// write is results written in the same transaction; done, when set,
// receives the commit's outcome. Holding an intent, they are refused with
// record.ErrAborted, all of them, when the deploy was aborted.
type write struct {
	results []pending
	done    chan error
	refused bool
}

// Recorder writes a stage's host results of one kind as they come. A
// result is handed to a writer goroutine; results that arrive while a
// transaction commits go into the next one together, so recording costs
// the same per host whether a stage has ten hosts or five thousand, and a
// slow disk never holds the sync back. A result not yet committed when
// the process dies is lost: the host is then checked (its release marker)
// or synced again after the restart. Close it when the stage ends.
type Recorder struct {
	db    *store.DB
	id    record.ID
	kind  Kind
	stage string
	in    chan *write
	done  chan error
}

// Recorder starts a recorder of deploy id's results of kind in stage.
func (h Hosts) Recorder(id record.ID, kind Kind, stage string) *Recorder {
	r := &Recorder{db: h.DB, id: id, kind: kind, stage: stage, in: make(chan *write, 1024), done: make(chan error, 1)}
	go r.run()
	return r
}

// Add records hr as host's result, without waiting for the commit.
func (r *Recorder) Add(host string, hr record.HostResult) {
	r.in <- &write{results: []pending{{host: host, r: &hr}}}
}

// Change applies f to host's recorded result (the zero HostResult when
// none), without waiting for the commit.
func (r *Recorder) Change(host string, f func(x *record.HostResult)) {
	r.in <- &write{results: []pending{{host: host, f: f}}}
}

// send records xs in one transaction; the channel it returns, when wait,
// receives the outcome of the commit (nil: the commit is not waited for).
func (r *Recorder) send(xs []pending, wait bool) chan error {
	w := &write{results: xs}
	if wait {
		w.done = make(chan error, 1)
	}
	r.in <- w
	return w.done
}

// Close writes what is left and returns the first error of a write.
func (r *Recorder) Close() error {
	close(r.in)
	return <-r.done
}

func (r *Recorder) run() {
	var first error
	for x := range r.in {
		batch := []*write{x}
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
				w.done <- record.ErrAborted
			default:
				w.done <- err
			}
		}
	}
	r.done <- first
}

func (r *Recorder) write(batch []*write) error {
	return r.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.DeployHosts)
		// bbolt writes keys in order much faster than at random.
		var all []pending
		read, aborted := false, false
		for _, w := range batch {
			if slices.ContainsFunc(w.results, pending.intent) {
				if !read {
					var err error
					if aborted, err = record.Aborted(tx, r.id); err != nil {
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
		slices.SortStableFunc(all, func(x, y pending) int { return strings.Compare(x.host, y.host) })
		for _, x := range all {
			hr := x.r
			if x.f != nil {
				old, err := get(b, r.id, r.kind, r.stage, x.host)
				if err != nil {
					return err
				}
				if hr = old; hr == nil {
					hr = &record.HostResult{}
				}
				x.f(hr)
			}
			if err := put(b, r.id, r.kind, r.stage, x.host, hr); err != nil {
				return err
			}
		}
		return nil
	})
}
