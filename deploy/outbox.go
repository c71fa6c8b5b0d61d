package deploy

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/store"
)

// Outbox is a Notifier that keeps each event in bbolt until it has been
// sent to chat, so an event is never lost to a restart: the engine keeps
// an event in the transaction that writes it into the deploy's history
// (no write of its own), and Drain sends the events kept, in the order
// they were said, removing each once it is sent. An event whose sending
// was cut short by the process's end is sent again by the next process:
// delivery is at least once, and only the event in flight at a kill can
// be sent twice.
type Outbox struct {
	// MaxAge is how old an event may be when its turn comes: older ones
	// are not sent (the deploy's history and status keep them), so a bot
	// back after a long stop or outage does not replay stale progress.
	MaxAge time.Duration

	db *store.DB
	// also is told of each event as it is kept (metrics, the window's
	// queue); it must not block for long.
	also Notifier
	log  *slog.Logger
	wake chan struct{} // one pending wake-up for Drain
}

// NewOutbox returns the outbox kept in db. also, if not nil, is told of
// each event when the engine says it, before it is sent.
func NewOutbox(db *store.DB, also Notifier, log *slog.Logger) *Outbox {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Outbox{MaxAge: time.Hour, db: db, also: also, log: log, wake: make(chan struct{}, 1)}
}

// Notify keeps e, for an event the engine did not keep in a transaction
// of its own (the private ones, which no history holds), and tells also.
func (o *Outbox) Notify(ctx context.Context, e Event) {
	if err := o.db.Update(func(tx *bolt.Tx) error { return o.keep(tx, e) }); err != nil {
		o.log.Error("deploy event not kept for chat", "deploy", e.Deploy, "kind", e.Kind, "err", err)
		return
	}
	o.told(ctx, e)
}

// keep adds e to the outbox in tx; the caller calls told once tx is
// committed.
func (o *Outbox) keep(tx *bolt.Tx, e Event) error {
	// Made on first use, not by a migration: a jouncebot from before
	// the outbox still opens the database.
	b, err := tx.CreateBucketIfNotExists(store.DeployOutbox)
	if err != nil {
		return err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return b.Put(binary.BigEndian.AppendUint64(nil, seq), v)
}

// told tells also of e, kept and committed, and wakes Drain.
func (o *Outbox) told(ctx context.Context, e Event) {
	if o.also != nil {
		o.also.Notify(ctx, e)
	}
	select {
	case o.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// retryAfter is how long Drain waits before trying again after the
// database failed it, or send did.
const retryAfter = 2 * time.Second

// Drain sends the events kept, in order, with send, until ctx is done,
// and removes each once send returns nil. send must return within a
// bounded time (bot.SendTimeout bounds every send); it returns an error
// when the event could not go out at all and should wait (no chat network
// is connected): Drain tries it again, the events after it waiting. An
// event whose send was cut short by ctx stays and is sent again by the
// next Drain. Events older than MaxAge when their turn comes are removed
// unsent, with a log line.
func (o *Outbox) Drain(ctx context.Context, send func(ctx context.Context, e Event) error) {
	failing := false
	for {
		key, e, err := o.first()
		if err != nil {
			o.log.Error("read the deploy events waiting for chat", "err", err)
			if !o.pause(ctx, retryAfter) {
				return
			}
			continue
		}
		if key == nil {
			select {
			case <-ctx.Done():
				return
			case <-o.wake:
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if age := time.Since(e.Time); o.MaxAge > 0 && age > o.MaxAge {
			o.log.Warn("deploy event too old for chat; not sent", "deploy", e.Deploy, "kind", e.Kind, "age", age.Round(time.Second))
		} else if err := send(ctx, e); err != nil {
			if ctx.Err() != nil {
				return // perhaps not sent: the next process sends it again
			}
			if !failing {
				o.log.Warn("deploy events wait for chat", "deploy", e.Deploy, "err", err)
			}
			failing = true
			if !o.pause(ctx, retryAfter) {
				return
			}
			continue
		}
		if ctx.Err() != nil {
			return // perhaps not sent: the next process sends it again
		}
		failing = false
		for {
			err := o.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(store.DeployOutbox).Delete(key) })
			if err == nil {
				break
			}
			// Not sent again while this process runs; the next one
			// would (at least once).
			o.log.Error("deploy event sent to chat but still kept", "deploy", e.Deploy, "err", err)
			if !o.pause(ctx, retryAfter) {
				return
			}
		}
	}
}

// pause waits d, or less when ctx ends; it reports whether ctx is still
// live.
func (o *Outbox) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// first is the oldest event kept and its key; a nil key when there is
// none. An event that cannot be read is removed with a log line: it
// would otherwise hold up every event after it.
func (o *Outbox) first() (key []byte, e Event, err error) {
	var bad []byte
	err = o.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.DeployOutbox)
		if b == nil {
			return nil // nothing was ever kept
		}
		k, v := b.Cursor().First()
		if k == nil {
			return nil
		}
		if uerr := json.Unmarshal(v, &e); uerr != nil {
			bad = append([]byte(nil), k...)
			return nil
		}
		key = append([]byte(nil), k...)
		return nil
	})
	if err == nil && bad != nil {
		o.log.Error("unreadable deploy event dropped from the chat outbox", "key", fmt.Sprintf("%x", bad))
		if err = o.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(store.DeployOutbox).Delete(bad) }); err == nil {
			return o.first()
		}
	}
	return key, e, err
}
