package agent

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/store"
)

// Record is one event in the agent's log, numbered from 1 in the order the
// engine said it.
type Record struct {
	Seq   uint64       `json:"seq"`
	Event deploy.Event `json:"event"`
}

// Log is the agent's durable event log. The engine's Notifier appends to
// it; the events stream reads from it after the client's cursor. Events
// stay when no chat bot is connected, so a bot that comes back gets them.
type Log struct {
	db  *store.DB
	log *slog.Logger

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every append
}

// NewLog returns the event log kept in db.
func NewLog(db *store.DB, log *slog.Logger) *Log {
	return &Log{db: db, log: log, changed: make(chan struct{})}
}

// Notify appends e; it is the engine's Notifier.
func (l *Log) Notify(_ context.Context, e deploy.Event) {
	err := l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.AgentEvents)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		v, err := json.Marshal(Record{Seq: seq, Event: e})
		if err != nil {
			return err
		}
		return b.Put(seqKey(seq), v)
	})
	if err != nil {
		// The engine's state is in bbolt already; only the chat line is lost.
		l.log.Error("event not kept for the chat bot", "deploy", e.Deploy, "kind", e.Kind, "err", err)
		return
	}
	l.mu.Lock()
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// Changed is closed at the next append.
func (l *Log) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// After returns up to max events after seq, oldest first.
func (l *Log) After(seq uint64, max int) ([]Record, error) {
	var out []Record
	err := l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(store.AgentEvents).Cursor()
		for k, v := c.Seek(seqKey(seq + 1)); k != nil && len(out) < max; k, v = c.Next() {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("event %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

func seqKey(n uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], n)
	return k[:]
}

// EventSAL carries a Server Admin Log line of the engine's (Text, said by
// By) to the chat side, which keeps the SAL.
const EventSAL deploy.EventKind = "sal"

// SAL returns the engine's deploy.Logger: each line becomes an EventSAL in
// the log, so it reaches the chat side's SAL even after a restart of
// either side.
func (l *Log) SAL() deploy.Logger { return salLogger{l} }

type salLogger struct{ l *Log }

func (s salLogger) Log(ctx context.Context, who deploy.Person, message string) error {
	s.l.Notify(ctx, deploy.Event{Kind: EventSAL, By: who, Text: bot.T(message), Time: time.Now().UTC()})
	return nil
}
