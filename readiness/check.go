package readiness

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/store"
)

// Store keeps the last check of each window in bbolt.
type Store struct{ db *store.DB }

// NewStore returns a Store over db.
func NewStore(db *store.DB) *Store { return &Store{db: db} }

// Save stores a window's result, replacing the one before, and apart
// from it the details that name local security patches (SecurityDetails),
// which the result's JSON never carries.
func (s *Store) Save(r Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("readiness: encode result: %w", err)
	}
	p, err := json.Marshal(SecurityDetails(r))
	if err != nil {
		return fmt.Errorf("readiness: encode details: %w", err)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(store.ReadinessPrivate).Put([]byte(r.WindowID), p); err != nil {
			return err
		}
		return tx.Bucket(store.ReadinessResults).Put([]byte(r.WindowID), b)
	})
}

// Private returns the details naming local security patches of a
// window's last check, for the security destination only.
func (s *Store) Private(windowID string) ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(store.ReadinessPrivate).Get([]byte(windowID))
		if v == nil {
			return nil
		}
		return json.Unmarshal(v, &out)
	})
	if err != nil {
		return nil, fmt.Errorf("readiness: load details of %s: %w", windowID, err)
	}
	return out, nil
}

// Load returns a window's last result.
func (s *Store) Load(windowID string) (Result, bool, error) {
	var r Result
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(store.ReadinessResults).Get([]byte(windowID))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &r)
	})
	if err != nil {
		return Result{}, false, fmt.Errorf("readiness: load %s: %w", windowID, err)
	}
	return r, ok, nil
}

// Latest returns the newest check, of any window that has not ended by
// now, that looked at change.
func (s *Store) Latest(change int, now time.Time) (PatchResult, Result, bool) {
	var best Result
	var bestP PatchResult
	found := false
	s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(store.ReadinessResults).ForEach(func(_, v []byte) error {
			var r Result
			if json.Unmarshal(v, &r) != nil || !r.End.After(now) {
				return nil
			}
			if p, ok := r.Patch(change); ok && (!found || r.CheckedAt.After(best.CheckedAt)) {
				best, bestP, found = r, p, true
			}
			return nil
		})
	})
	return bestP, best, found
}

// Queues is what the check reads of the queues; *calendar.Book is one.
type Queues interface {
	Queues() (map[string][]calendar.Patch, error)
}

// History gives the last n deploys, newest first, for the estimate.
type History interface {
	Samples(n int) ([]Sample, error)
}

// Checker runs checks: gather, evaluate, store. Checks of different
// windows run side by side; a check of a window that is being checked
// waits for that check's result. Each check is bounded by Timeout: a
// stalled git or Gerrit call never holds up the next one.
type Checker struct {
	Gatherer *Gatherer
	Store    *Store
	Queues   Queues
	// Calendar returns the current calendar (for the windows of patches
	// queued elsewhere).
	Calendar func() *calendar.Calendar
	// History, when set, gives the per-deploy estimate.
	History History
	// Room is where owners are expected, for the texts.
	Room string
	Now  func() time.Time
	Log  *slog.Logger
	// Timeout bounds a whole check of a window (default 2 min); the
	// Gatherer bounds each call.
	Timeout time.Duration

	mu      sync.Mutex
	running map[string]*flight
}

// DefaultCheckTimeout bounds one check of a window.
const DefaultCheckTimeout = 2 * time.Minute

// flight is a check in progress; done is closed when res and err are set.
type flight struct {
	done chan struct{}
	res  Result
	err  error
}

// historyRuns is how many recent deploys the estimate looks at.
const historyRuns = 30

// Check checks window w now and stores the result. A check of w already
// running is waited for (as long as ctx allows) instead of started again.
func (c *Checker) Check(ctx context.Context, w calendar.Window) (Result, error) {
	c.mu.Lock()
	if f, ok := c.running[w.ID]; ok {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.res, f.err
		case <-ctx.Done():
			return Result{}, fmt.Errorf("readiness: wait for the running check of %s: %w", w.ID, ctx.Err())
		}
	}
	if c.running == nil {
		c.running = map[string]*flight{}
	}
	f := &flight{done: make(chan struct{})}
	c.running[w.ID] = f
	c.mu.Unlock()
	defer func() { // also after a panic: nobody waits for good
		c.mu.Lock()
		delete(c.running, w.ID)
		c.mu.Unlock()
		close(f.done)
	}()
	limit := nonZero(c.Timeout, DefaultCheckTimeout)
	cctx, cancel := context.WithTimeout(withProgress(ctx, limit), limit)
	defer cancel()
	f.err = fmt.Errorf("readiness: the check of %s stopped", w.ID) // unless it returns
	f.res, f.err = c.check(cctx, w)
	return f.res, f.err
}

func (c *Checker) check(ctx context.Context, w calendar.Window) (Result, error) {
	queues, err := c.Queues.Queues()
	if err != nil {
		return Result{}, fmt.Errorf("readiness: read queues: %w", err)
	}
	patches, _ := calendar.Split(w, queues[w.ID])
	elsewhere := map[int]Queued{}
	cal := c.Calendar()
	for id, q := range queues {
		if id == w.ID {
			continue
		}
		o, ok := cal.ByID(id)
		if !ok {
			o = calendar.Window{ID: id, Name: id}
		}
		for _, p := range calendar.Pending(q) {
			elsewhere[p.Change] = Queued{WindowID: id, Name: o.Name, Start: o.Start}
		}
	}
	facts, err := c.Gatherer.Gather(ctx, patches)
	if err != nil {
		return Result{}, err
	}
	in := Input{Window: w, Patches: patches, Facts: facts, Elsewhere: elsewhere, Room: c.Room, Now: c.Now().UTC()}
	if prev, ok, _ := c.Store.Load(w.ID); ok {
		in.Previous = &prev
	}
	if c.History != nil {
		h, err := c.History.Samples(historyRuns)
		if err != nil && c.Log != nil {
			c.Log.Warn("readiness: deploy history", "err", err)
		}
		in.History = h
	}
	res := Evaluate(in)
	if err := c.Store.Save(res); err != nil {
		return res, err
	}
	return res, nil
}

// ChatPresence answers Presence from the chat: an owner is present when
// in any of the rooms, absent when a room knows they are not there.
type ChatPresence struct {
	Chat interface {
		Rooms() []bot.Target
		InRoom(ctx context.Context, to bot.Target, p bot.Person) (present, known bool)
	}
	Person func(name string) bot.Person
}

// Present implements Presence.
func (c ChatPresence) Present(ctx context.Context, owner string) (*bool, string) {
	var absent *bool
	room := ""
	for _, r := range c.Chat.Rooms() {
		present, known := c.Chat.InRoom(ctx, r, c.Person(owner))
		if !known {
			continue
		}
		if present {
			t := true
			return &t, r.Room
		}
		f := false
		absent, room = &f, r.Room
	}
	return absent, room
}
