package agent

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
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
// engine said it. Run names the agent process that wrote it.
type Record struct {
	Seq   uint64       `json:"seq"`
	Run   string       `json:"run,omitempty"`
	Event deploy.Event `json:"event"`
}

// Log is the agent's durable event log. The engine's Notifier appends to
// it; the events stream reads from it after the client's cursor. Events
// stay when no chat bot is connected, so a bot that comes back gets them.
//
// The log has an identity, made with the agent's database: a cursor is
// (log id, sequence number), so a bot facing another database (replaced,
// or restored from an older copy) notices instead of skipping or repeating
// events. Each start of the agent is a run, recorded with the first
// sequence number it wrote; a bot sends the runs it has seen, which is how
// the agent finds where a restored copy parted from what the bot saw (see
// Resume).
type Log struct {
	db  *store.DB
	log *slog.Logger
	run string

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every append
}

// Keys of the log's identity in the meta bucket.
var keyLogState = []byte("agent.log")

// logState is the log's identity and its runs, kept in the meta bucket.
type logState struct {
	ID string `json:"id"`
	// Prev are the ids this log had before a restore was found, newest
	// last, with the sequence number the new id took over after.
	Prev []prevID `json:"prev,omitempty"`
	Runs []run    `json:"runs"`
}

type prevID struct {
	ID    string `json:"id"`
	After uint64 `json:"after"`
}

// run is one start of the agent: its id and the first sequence number it
// could write.
type run struct {
	ID      string    `json:"id"`
	First   uint64    `json:"first"`
	Started time.Time `json:"started"`
}

// maxRuns bounds the runs kept (one per start of the agent).
const maxRuns = 1000

// NewLog returns the event log kept in db: it gives the database's log an
// id the first time and records this start as a new run.
func NewLog(db *store.DB, log *slog.Logger) (*Log, error) {
	l := &Log{db: db, log: log, run: newID(), changed: make(chan struct{})}
	err := db.Update(func(tx *bolt.Tx) error {
		st, err := getState(tx)
		if err != nil {
			return err
		}
		if st.ID == "" {
			st.ID = newID()
		}
		st.Runs = append(st.Runs, run{ID: l.run, First: tx.Bucket(store.AgentEvents).Sequence() + 1, Started: time.Now().UTC()})
		if n := len(st.Runs); n > maxRuns {
			st.Runs = st.Runs[n-maxRuns:]
		}
		return putState(tx, st)
	})
	if err != nil {
		return nil, fmt.Errorf("agent: event log: %w", err)
	}
	return l, nil
}

func getState(tx *bolt.Tx) (logState, error) {
	var st logState
	if v := tx.Bucket(store.Meta).Get(keyLogState); v != nil {
		if err := json.Unmarshal(v, &st); err != nil {
			return st, fmt.Errorf("decode the log's identity: %w", err)
		}
	}
	return st, nil
}

func putState(tx *bolt.Tx, st logState) error {
	v, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return tx.Bucket(store.Meta).Put(keyLogState, v)
}

func newID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return hex.EncodeToString(b[:])
}

// ID returns the log's current id.
func (l *Log) ID() (string, error) {
	var id string
	err := l.db.View(func(tx *bolt.Tx) error {
		st, err := getState(tx)
		id = st.ID
		return err
	})
	return id, err
}

// Cursor is where a reader of the log is: the log's id, the last sequence
// number it took, and the runs it saw events of (oldest first).
type Cursor struct {
	Log  string   `json:"log"`
	Seq  uint64   `json:"seq"`
	Runs []string `json:"runs,omitempty"`
	// None says the reader has no cursor at all (a fresh chat database):
	// it starts at the head instead of replaying the history.
	None bool `json:"-"`
}

// How a Resume starts the stream.
const (
	ResumeContinue = ""        // the cursor is in this log: go on after it
	ResumeNew      = "new"     // the reader has no cursor: start at the head
	ResumeChanged  = "changed" // the reader's log is not this one: start at the head
	ResumeRewound  = "rewound" // this database is an older copy than the reader saw: go on where they part, under a new id
)

// Resumed says where a stream starts. It is the first message of every
// events stream ("event: log").
type Resumed struct {
	Log   string `json:"log"`
	From  uint64 `json:"from"` // events after From follow
	Head  uint64 `json:"head"`
	How   string `json:"how,omitempty"`
	Prev  string `json:"prev,omitempty"`  // the reader's log id when it changed
	Prune uint64 `json:"prune,omitempty"` // events after the cursor that were pruned unseen
	// Run is the agent's current run: the reader's first seen run when
	// it starts afresh at the head.
	Run string `json:"run,omitempty"`
}

// Resume finds where a reader at cursor c goes on. A cursor in another log
// starts at the head: the reader re-reads the current state instead of
// being shown another database's history. A cursor ahead of what this log
// holds, or in a run this log does not have, means the database was
// restored from an older copy: the reader saw everything up to the end of
// the newest run both know, so the stream goes on from there, and the log
// takes a new id, so sequence numbers written after the restore are never
// taken for the ones the reader saw before it.
func (l *Log) Resume(c Cursor) (Resumed, error) {
	var r Resumed
	err := l.db.Update(func(tx *bolt.Tx) error {
		st, err := getState(tx)
		if err != nil {
			return err
		}
		b := tx.Bucket(store.AgentEvents)
		head := b.Sequence()
		r = Resumed{Log: st.ID, Head: head, From: head}
		if n := len(st.Runs); n > 0 {
			// A reader starting afresh at the head has seen (skipped)
			// everything the current run wrote so far.
			r.Run = st.Runs[n-1].ID
		}
		switch {
		case c.None:
			r.How = ResumeNew
			return nil
		case c.Log != "" && c.Log != st.ID:
			shared, ok := sharedWith(st.Prev, c.Log)
			end, known := runEnd(st.Runs, c.Runs, head)
			switch {
			case !ok:
				r.How, r.Prev = ResumeChanged, c.Log
			case c.Seq <= shared || (known && c.Seq <= end):
				// An id this log took after a restore (or after another
				// reader named runs it lacks), and this reader did not
				// get to store it: it goes on under the new id.
				r.From, r.Prune = c.Seq, pruned(b, c.Seq)
			default:
				r.How, r.Prev, r.From = ResumeRewound, c.Log, shared
			}
			return nil
		}
		if len(c.Runs) == 0 {
			// A cursor from before logs had runs, or someone reading with
			// curl: any point of this log goes; past its head the reader
			// starts at the head, and the log keeps its id.
			if c.Seq > head {
				r.How, r.Prev = ResumeChanged, c.Log
				return nil
			}
			r.From, r.Prune = c.Seq, pruned(b, c.Seq)
			return nil
		}
		end, ok := runEnd(st.Runs, c.Runs, head)
		if ok && c.Seq <= end {
			r.From, r.Prune = c.Seq, pruned(b, c.Seq)
			return nil
		}
		r.How, r.Prev, r.From = ResumeRewound, st.ID, min(c.Seq, end)
		st.Prev = append(st.Prev, prevID{ID: st.ID, After: r.From})
		if n := len(st.Prev); n > maxPrev {
			st.Prev = st.Prev[n-maxPrev:]
		}
		st.ID = newID()
		r.Log = st.ID
		l.log.Warn("the agent's database is older than what the chat bot saw: restored from a copy? The event log takes a new id",
			"old", r.Prev, "new", st.ID, "cursor", c.Seq, "head", head, "from", end)
		return putState(tx, st)
	})
	return r, err
}

// pruned is how many events after seq were pruned.
func pruned(b *bolt.Bucket, seq uint64) uint64 {
	first := b.Sequence() + 1 // all were pruned: the next one is the first
	if k, _ := b.Cursor().First(); k != nil {
		first = binary.BigEndian.Uint64(k)
	}
	if seq+1 < first {
		return first - seq - 1
	}
	return 0
}

// maxPrev bounds the earlier ids a log remembers.
const maxPrev = 100

// sharedWith says whether id is an earlier id of the log, and up to which
// sequence number the log under that id and the log now hold the same
// events: the smallest point of parting from id on.
func sharedWith(prev []prevID, id string) (shared uint64, ok bool) {
	for _, p := range prev {
		if p.ID == id {
			ok, shared = true, p.After
		}
		if ok && p.After < shared {
			shared = p.After
		}
	}
	return shared, ok
}

// runEnd finds the newest of seen (a reader's runs, oldest first) that the
// log knows, and returns the last sequence number that run holds here.
// ok is true only when that run is the reader's newest: then a cursor up
// to end is within this log. Otherwise end is where a restored copy and
// the reader's history part.
func runEnd(runs []run, seen []string, head uint64) (end uint64, ok bool) {
	for j := len(seen) - 1; j >= 0; j-- {
		for i := range runs {
			if runs[i].ID != seen[j] {
				continue
			}
			end = head
			if i+1 < len(runs) {
				end = runs[i+1].First - 1
			}
			return end, j == len(seen)-1
		}
	}
	// None of the reader's runs is here: the database is a copy from
	// before them. The current run started on this copy, so the reader
	// has seen none of its events.
	if n := len(runs); n > 0 {
		return runs[n-1].First - 1, false
	}
	return head, false
}

// Notify appends e; it is the engine's Notifier.
func (l *Log) Notify(_ context.Context, e deploy.Event) {
	err := l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.AgentEvents)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		v, err := json.Marshal(Record{Seq: seq, Run: l.run, Event: e})
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

// Prune deletes the events older than before, oldest first. Sequence
// numbers go on from where they were; a reader whose cursor is before
// what is left is told how many it missed (Resumed.Prune).
func (l *Log) Prune(before time.Time) (int, error) {
	n := 0
	err := l.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(store.AgentEvents).Cursor()
		for k, v := c.First(); k != nil; k, v = c.First() {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("event %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if r.Event.Time.IsZero() || !r.Event.Time.Before(before) {
				return nil
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
