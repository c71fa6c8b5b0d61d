package sal

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/store"
)

// Writer copies entries somewhere else: a wiki page, Phabricator tasks.
type Writer interface {
	// Write delivers one item. The outbox calls it again with the same item
	// after any error except a Permanent one, in order: the next item is
	// written only when this one has been.
	Write(ctx context.Context, it Item) error
}

// Item is one delivery: an entry, or one part of it.
type Item struct {
	Entry Entry
	// Part is the part of the entry the item is for, as the route's Parts
	// named it (e.g. "T123" for a Phabricator comment); "" for the whole
	// entry.
	Part string
	// Permalink is the entry's web address.
	Permalink string
}

// Route is a destination for entries, with its own persisted queue, so a
// destination that is down holds up only itself.
type Route struct {
	// Name identifies the queue in the database; keep it stable across
	// restarts ("wiki/production", "phabricator").
	Name string
	// Description names the destination for people ("the wiki page Server
	// Admin Log").
	Description string
	Writer      Writer
	// Parts lists the items an entry makes, each written once; nil means one
	// item per entry. Return nothing to skip the entry.
	Parts func(Entry) []string
}

// ForProjects returns a Parts function that takes whole entries of the
// named projects and skips all others.
func ForProjects(names ...string) func(Entry) []string {
	return func(e Entry) []string {
		if contains(names, e.Project) {
			return []string{""}
		}
		return nil
	}
}

// Notice says a route started failing or recovered. Each is given once per
// failure: when the first write fails, and when a write succeeds again.
type Notice struct {
	Route       string
	Description string
	// Project is the project of the entry that failed or went through.
	Project string
	// Failing is true when writing started failing, false when it recovered.
	Failing bool
	// Pending is how many items were waiting in the route's queue.
	Pending int
	// Err is the error that started the failure. It is for logs, not chat.
	Err error
}

// Text is the notice as a sentence for chat.
func (n Notice) Text() string {
	if n.Failing {
		return fmt.Sprintf("Server Admin Log: writing to %s has started failing. Entries are kept (%d waiting) and will be written in order when it works again.", n.Description, n.Pending)
	}
	return fmt.Sprintf("Server Admin Log: writing to %s works again; the %d waiting entries are being written.", n.Description, n.Pending)
}

// PermanentError marks an error that retrying cannot fix (the task does not
// exist, the page is protected): the item is dropped and logged.
func PermanentError(err error) error { return permanent{err} }

type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// IsPermanent reports whether err was marked with PermanentError.
func IsPermanent(err error) bool { return errors.As(err, new(permanent)) }

type outbox struct {
	db        *store.DB
	log       *slog.Logger
	routes    []*route
	notify    func(context.Context, Notice)
	min, max  time.Duration
	permalink func(uint64) string
}

type route struct {
	Route
	prefix []byte
	wake   chan struct{}
}

func newOutbox(db *store.DB, log *slog.Logger, opts Options) *outbox {
	o := &outbox{db: db, log: log, notify: opts.Notify, min: opts.MinBackoff, max: opts.MaxBackoff}
	if o.min <= 0 {
		o.min = 5 * time.Second
	}
	if o.max < o.min {
		o.max = max(5*time.Minute, o.min)
	}
	if o.notify == nil {
		o.notify = func(context.Context, Notice) {}
	}
	for _, r := range opts.Routes {
		o.routes = append(o.routes, &route{Route: r, prefix: append([]byte(r.Name), 0), wake: make(chan struct{}, 1)})
	}
	return o
}

// enqueue queues e for every route, in the transaction that stores it.
func (o *outbox) enqueue(tx *bolt.Tx, e Entry) error {
	b := tx.Bucket(store.SALOutbox)
	for _, r := range o.routes {
		parts := []string{""}
		if r.Parts != nil {
			parts = r.Parts(e)
		}
		for i, part := range parts {
			k := binary.BigEndian.AppendUint64(append([]byte(nil), r.prefix...), e.ID)
			k = binary.BigEndian.AppendUint32(k, uint32(i))
			if err := b.Put(k, []byte(part)); err != nil {
				return fmt.Errorf("sal: queue entry %d for %s: %w", e.ID, r.Name, err)
			}
		}
	}
	return nil
}

func (o *outbox) kick() {
	for _, r := range o.routes {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

func (o *outbox) run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, r := range o.routes {
		wg.Go(func() { o.runRoute(ctx, r) })
	}
	wg.Wait()
	return ctx.Err()
}

// writeTimeout bounds one write, so a server that hangs is retried.
const writeTimeout = 2 * time.Minute

func (o *outbox) runRoute(ctx context.Context, r *route) {
	log := o.log.With("route", r.Name)
	backoff := o.min
	failing := false
	for ctx.Err() == nil {
		key, it, dropped, err := o.next(r)
		if err != nil {
			log.Error("cannot read the outbox", "err", err)
		}
		if dropped {
			continue // the items after it are due now
		}
		if key == nil {
			select {
			case <-r.wake:
			case <-ctx.Done():
			}
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		err = r.Writer.Write(wctx, it)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil && !IsPermanent(err) {
			log.Warn("write failed; will retry", "entry", it.Entry.ID, "part", it.Part, "retry_in", backoff, "err", err)
			if !failing {
				failing = true
				o.notify(ctx, Notice{Route: r.Name, Description: r.Description, Project: it.Entry.Project, Failing: true, Pending: o.pending(r), Err: err})
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, o.max)
			continue
		}
		if err != nil {
			log.Warn("write failed for good; dropping it", "entry", it.Entry.ID, "part", it.Part, "err", err)
		}
		if err := o.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(store.SALOutbox).Delete(key) }); err != nil {
			log.Error("cannot remove a written item from the outbox", "err", err)
		}
		backoff = o.min
		if failing {
			failing = false
			o.notify(ctx, Notice{Route: r.Name, Description: r.Description, Project: it.Entry.Project, Pending: o.pending(r)})
		}
	}
}

// next returns the route's oldest item and its key, or a nil key when the
// queue is empty. An item that cannot be read is dropped (logged by the
// caller) rather than block the queue for ever: dropped says so.
func (o *outbox) next(r *route) (key []byte, it Item, dropped bool, err error) {
	err = o.db.View(func(tx *bolt.Tx) error {
		k, v := tx.Bucket(store.SALOutbox).Cursor().Seek(r.prefix)
		if k == nil || !bytes.HasPrefix(k, r.prefix) {
			return nil
		}
		key = append([]byte(nil), k...)
		if len(k) != len(r.prefix)+12 {
			return fmt.Errorf("malformed outbox key %x", k)
		}
		id := binary.BigEndian.Uint64(k[len(r.prefix):])
		it.Part = string(v)
		ev := tx.Bucket(store.SALEntries).Get(idKey(id))
		if ev == nil {
			return fmt.Errorf("queued entry %d is missing", id)
		}
		if err := json.Unmarshal(ev, &it.Entry); err != nil {
			return fmt.Errorf("queued entry %d: %w", id, err)
		}
		return nil
	})
	if err != nil {
		if key == nil {
			return nil, Item{}, false, err
		}
		if derr := o.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(store.SALOutbox).Delete(key) }); derr != nil {
			return nil, Item{}, false, errors.Join(err, fmt.Errorf("drop it: %w", derr))
		}
		return nil, Item{}, true, fmt.Errorf("dropped an unreadable item: %w", err)
	}
	if o.permalink != nil && key != nil {
		it.Permalink = o.permalink(it.Entry.ID)
	}
	return key, it, false, nil
}

func (o *outbox) pending(r *route) int {
	n := 0
	o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(store.SALOutbox).Cursor()
		for k, _ := c.Seek(r.prefix); k != nil && bytes.HasPrefix(k, r.prefix); k, _ = c.Next() {
			n++
		}
		return nil
	})
	return n
}
