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
	return &Outbox{db: db, also: also, log: log, wake: make(chan struct{}, 1)}
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
	b := tx.Bucket(store.DeployOutbox)
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

// retryRead is how long Drain waits before reading the outbox again after
// the database failed it.
const retryRead = 5 * time.Second

// Drain sends the events kept, in order, with send, until ctx is done,
// and removes each once send returns. send must return within a bounded
// time (bot.SendTimeout bounds every send), so an event that cannot go
// out delays the ones after it, never for good. An event whose send was
// cut short by ctx stays and is sent again by the next Drain.
func (o *Outbox) Drain(ctx context.Context, send func(ctx context.Context, e Event)) {
	for {
		key, e, err := o.first()
		switch {
		case err != nil:
			o.log.Error("read the deploy events waiting for chat", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(retryRead):
			}
			continue
		case key == nil:
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
		send(ctx, e)
		if ctx.Err() != nil {
			return // perhaps not sent: the next process sends it again
		}
		for {
			err := o.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(store.DeployOutbox).Delete(key) })
			if err == nil {
				break
			}
			// Not sent again while this process runs; the next one
			// would (at least once).
			o.log.Error("deploy event sent to chat but still kept", "deploy", e.Deploy, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(retryRead):
			}
		}
	}
}

// first is the oldest event kept and its key; a nil key when there is
// none. An event that cannot be read is removed with a log line: it
// would otherwise hold up every event after it.
func (o *Outbox) first() (key []byte, e Event, err error) {
	var bad []byte
	err = o.db.View(func(tx *bolt.Tx) error {
		k, v := tx.Bucket(store.DeployOutbox).Cursor().First()
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
