package calendar

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/store"
)

// Book is the calendar's durable state in bbolt: windows and freezes added
// in chat, cancellations, claims, patch queues and the notices already sent.
// Every change is committed, with its audit record, before the caller
// answers the person who asked for it.
type Book struct {
	db *store.DB
}

// NewBook returns a Book over db.
func NewBook(db *store.DB) *Book { return &Book{db: db} }

// Claim records that a deployer took a window.
type Claim struct {
	WindowID string    `json:"window_id"`
	Person   string    `json:"person"`
	At       time.Time `json:"at"`
}

// Patch is a change queued for a window.
type Patch struct {
	Change int       `json:"change"`
	Owner  string    `json:"owner"` // person name (or nick) to ping
	By     string    `json:"by"`    // who queued it
	At     time.Time `json:"at"`
	// Deployed is set when the deploy engine finished it.
	Deployed bool `json:"deployed,omitempty"`
	// RolledBack is set when a deploy of it was rolled back: the change is
	// merged but not live, and needs a revert before the next deploy.
	RolledBack bool `json:"rolled_back,omitempty"`
	// Source is "wiki" for a patch only the wiki's Deployments page lists,
	// and "" for one added in chat (whether or not the wiki lists it too).
	// A wiki patch leaves the queue when the page no longer lists it.
	Source string `json:"source,omitempty"`
	// Title is the link text on the wiki, when it came from there.
	Title string `json:"title,omitempty"`
}

// SourceWiki marks patches that only the wiki lists.
const SourceWiki = "wiki"

// FreezeRecord is a freeze added in chat.
type FreezeRecord struct {
	ID     int       `json:"id"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Reason string    `json:"reason"`
	By     string    `json:"by"`
	// Declared is when it was added (zero for a freeze added before
	// this was recorded: it counts as declared when it began).
	Declared time.Time `json:"declared,omitzero"`
}

// Cancellation records a cancelled window.
type Cancellation struct {
	Reason string    `json:"reason"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
}

// audit appends a record of a change in the same transaction.
func audit(tx *bolt.Tx, at time.Time, who, what string) error {
	b := tx.Bucket(store.Audit)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	rec, _ := json.Marshal(map[string]any{"at": at.UTC(), "who": who, "what": what})
	return b.Put(itob(seq), rec)
}

func itob(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}

func put(b *bolt.Bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), data)
}

func get[T any](b *bolt.Bucket, key string) (T, bool) {
	var v T
	data := b.Get([]byte(key))
	if data == nil {
		return v, false
	}
	return v, json.Unmarshal(data, &v) == nil
}

// AddWindow stores a one-off window added in chat and returns it with its id.
func (b *Book) AddWindow(w Window, by string, now time.Time) (Window, error) {
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(store.Windows)
		seq, err := bk.NextSequence()
		if err != nil {
			return err
		}
		w.ID = "w" + strconv.FormatUint(seq, 10)
		w.Source = "chat"
		if err := put(bk, w.ID, w); err != nil {
			return err
		}
		return audit(tx, now, by, fmt.Sprintf("added window %s %q %s–%s", w.ID, w.Name, w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339)))
	})
	return w, err
}

// ChatWindows lists the windows added in chat.
func (b *Book) ChatWindows() ([]Window, error) {
	all, err := readAll[Window](b.db, store.Windows)
	return slices.Collect(maps.Values(all)), err
}

// Cancel records that a window will not happen.
func (b *Book) Cancel(id string, c Cancellation) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		if err := put(tx.Bucket(store.Cancelled), id, c); err != nil {
			return err
		}
		return audit(tx, c.At, c.By, fmt.Sprintf("cancelled window %s: %s", id, c.Reason))
	})
}

// Cancelled returns the cancellations by window id.
func (b *Book) Cancelled() (map[string]Cancellation, error) {
	return readAll[Cancellation](b.db, store.Cancelled)
}

// readAll decodes every value of a bucket, by key. A record that does not
// decode is reported, not skipped: silently losing a claim or a window would
// be worse than a clear error.
func readAll[T any](db *store.DB, bucket []byte) (map[string]T, error) {
	out := map[string]T{}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			var x T
			if err := json.Unmarshal(v, &x); err != nil {
				return fmt.Errorf("%s %s: %w", bucket, k, err)
			}
			out[string(k)] = x
			return nil
		})
	})
	return out, err
}

// deleteIfPresent deletes key from the bucket and reports whether it was there.
func deleteIfPresent(tx *bolt.Tx, bucket []byte, key string) (bool, error) {
	bk := tx.Bucket(bucket)
	if bk.Get([]byte(key)) == nil {
		return false, nil
	}
	return true, bk.Delete([]byte(key))
}

// ErrClaimed is returned when someone else holds the claim.
type ErrClaimed struct{ Claim Claim }

func (e *ErrClaimed) Error() string { return e.Claim.Person + " has already claimed this window" }

// SetClaim records a claim. Claiming a window someone else claimed fails
// with *ErrClaimed; claiming it again is a no-op.
func (b *Book) SetClaim(c Claim) (Claim, error) {
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(store.Claims)
		if old, ok := get[Claim](bk, c.WindowID); ok {
			if old.Person != c.Person {
				return &ErrClaimed{Claim: old}
			}
			c = old
			return nil
		}
		if err := put(bk, c.WindowID, c); err != nil {
			return err
		}
		return audit(tx, c.At, c.Person, "claimed window "+c.WindowID)
	})
	return c, err
}

// ReleaseClaim removes the claim on a window. It reports whether there was one.
func (b *Book) ReleaseClaim(windowID, by string, now time.Time) (bool, error) {
	had := false
	err := b.db.Update(func(tx *bolt.Tx) error {
		var err error
		if had, err = deleteIfPresent(tx, store.Claims, windowID); err != nil || !had {
			return err
		}
		return audit(tx, now, by, "released window "+windowID)
	})
	return had, err
}

// Claims returns the claims by window id.
func (b *Book) Claims() (map[string]Claim, error) {
	return readAll[Claim](b.db, store.Claims)
}

// ErrFull is returned when a window's queue has reached its limit.
var ErrFull = errors.New("window is full")

// ErrQueued is returned when the change is already queued somewhere.
type ErrQueued struct{ WindowID string }

func (e *ErrQueued) Error() string { return "already queued for " + e.WindowID }

// Enqueue adds p to the window's queue, enforcing max (0: no limit) and
// refusing a change already queued for any window, in one transaction.
// Adding in chat a change the wiki lists for the same window makes it a
// chat patch too, so it stays when the wiki drops it.
func (b *Book) Enqueue(windowID string, max int, p Patch) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(store.Queues)
		if found, q, i := findPending(bk, p.Change); found == windowID && q[i].Source == SourceWiki && p.Source == "" {
			q[i].Source, q[i].By = "", p.By
			if err := put(bk, windowID, q); err != nil {
				return err
			}
			return audit(tx, p.At, p.By, fmt.Sprintf("queued change %d for %s in chat too (the wiki lists it)", p.Change, windowID))
		} else if found != "" {
			return &ErrQueued{WindowID: found}
		}
		q, _ := get[[]Patch](bk, windowID)
		if max > 0 && len(Pending(q)) >= max {
			return ErrFull
		}
		if err := put(bk, windowID, append(q, p)); err != nil {
			return err
		}
		return audit(tx, p.At, p.By, fmt.Sprintf("queued change %d for %s (owner %s)", p.Change, windowID, p.Owner))
	})
}

// findPending finds the queue holding change, not yet deployed: the
// window's id ("" when none), its queue, and the change's index in it.
func findPending(bk *bolt.Bucket, change int) (string, []Patch, int) {
	c := bk.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var q []Patch
		if json.Unmarshal(v, &q) != nil {
			continue
		}
		if i := slices.IndexFunc(q, func(x Patch) bool { return x.Change == change && !x.Deployed }); i >= 0 {
			return string(k), q, i
		}
	}
	return "", nil, -1
}

// Pending returns the patches of a queue not deployed yet.
func Pending(q []Patch) []Patch {
	var out []Patch
	for _, p := range q {
		if !p.Deployed {
			out = append(out, p)
		}
	}
	return out
}

// Split divides a window's pending patches, in queue order, into those
// within its limit and those beyond it (none when it has no limit).
func Split(w Window, q []Patch) (in, over []Patch) {
	in = Pending(q)
	if w.MaxPatches > 0 && len(in) > w.MaxPatches {
		return in[:w.MaxPatches:w.MaxPatches], in[w.MaxPatches:]
	}
	return in, nil
}

// NextWithRoom finds the first window of w's kind, other than w, that
// starts after the given time and whose queue is below its limit.
func (b *Book) NextWithRoom(cal *Calendar, w Window, after time.Time) (Window, bool) {
	for _, c := range cal.windows[cal.firstAfter(after):] {
		if c.Kind != w.Kind || c.ID == w.ID {
			continue
		}
		q, _ := b.Queue(c.ID)
		if c.MaxPatches == 0 || len(Pending(q)) < c.MaxPatches {
			return c, true
		}
	}
	return Window{}, false
}

// Dequeue removes a change from whichever queue holds it and returns the
// window id and the patch. ok is false when it was not queued.
func (b *Book) Dequeue(change int, by string, now time.Time) (windowID string, p Patch, ok bool, err error) {
	err = b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(store.Queues)
		id, q, i := findPending(bk, change)
		if id == "" {
			return nil
		}
		windowID, p, ok = id, q[i], true
		if err := put(bk, windowID, slices.Delete(q, i, i+1)); err != nil {
			return err
		}
		if p.Source == SourceWiki {
			// Still listed on the wiki: remember that chat took it out, so
			// the next refresh does not put it back.
			if err := tx.Bucket(store.Notices).Put([]byte(removedKey(change, windowID)), []byte(noticeSent)); err != nil {
				return err
			}
		}
		return audit(tx, now, by, fmt.Sprintf("removed change %d from %s", change, windowID))
	})
	return windowID, p, ok, err
}

// Queue returns the window's queue in the order patches were added.
func (b *Book) Queue(windowID string) ([]Patch, error) {
	var q []Patch
	err := b.db.View(func(tx *bolt.Tx) error {
		q, _ = get[[]Patch](tx.Bucket(store.Queues), windowID)
		return nil
	})
	return q, err
}

// Queues returns every window's queue, by window id.
func (b *Book) Queues() (map[string][]Patch, error) { return readAll[[]Patch](b.db, store.Queues) }

// MarkDeployed marks a queued change as deployed, so it is not moved on.
func (b *Book) MarkDeployed(change int, now time.Time) error {
	return b.mark(change, now, "deployed", func(p *Patch) { p.Deployed, p.RolledBack = true, false })
}

// MarkRolledBack marks a queued change whose deploy was rolled back.
func (b *Book) MarkRolledBack(change int, now time.Time) error {
	return b.mark(change, now, "rolled back", func(p *Patch) { p.RolledBack = true })
}

// mark changes the queued (not yet deployed) entry of a change.
func (b *Book) mark(change int, now time.Time, what string, f func(*Patch)) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(store.Queues)
		id, q, i := findPending(bk, change)
		if id == "" {
			return nil
		}
		f(&q[i])
		if err := put(bk, id, q); err != nil {
			return err
		}
		return audit(tx, now, "deploy", fmt.Sprintf("change %d %s in %s", change, what, id))
	})
}

// MoveLeftovers moves the patches not deployed in window from to window
// to (or drops them when to is ""), in one transaction, and returns them.
func (b *Book) MoveLeftovers(from, to string, now time.Time) ([]Patch, error) {
	var moved []Patch
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(store.Queues)
		q, _ := get[[]Patch](bk, from)
		var keep []Patch
		for _, p := range q {
			if p.Deployed {
				keep = append(keep, p)
			} else {
				moved = append(moved, p)
			}
		}
		if len(moved) == 0 {
			return nil
		}
		if err := put(bk, from, keep); err != nil {
			return err
		}
		what := fmt.Sprintf("dropped %d leftover patches of %s", len(moved), from)
		if to != "" {
			dst, _ := get[[]Patch](bk, to)
			if err := put(bk, to, append(dst, moved...)); err != nil {
				return err
			}
			what = fmt.Sprintf("moved %d leftover patches from %s to %s", len(moved), from, to)
		}
		return audit(tx, now, "calendar", what)
	})
	return moved, err
}

// AddFreeze stores a freeze added in chat.
func (b *Book) AddFreeze(f FreezeRecord, now time.Time) (FreezeRecord, error) {
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(store.Freezes)
		seq, err := bk.NextSequence()
		if err != nil {
			return err
		}
		f.ID = int(seq)
		if f.Declared.IsZero() {
			f.Declared = now.UTC()
		}
		if err := put(bk, strconv.Itoa(f.ID), f); err != nil {
			return err
		}
		return audit(tx, now, f.By, fmt.Sprintf("freeze %d %s–%s: %s", f.ID, f.From.Format(time.RFC3339), f.To.Format(time.RFC3339), f.Reason))
	})
	return f, err
}

// RemoveFreeze deletes a freeze added in chat. It reports whether it existed.
func (b *Book) RemoveFreeze(id int, by string, now time.Time) (bool, error) {
	had := false
	err := b.db.Update(func(tx *bolt.Tx) error {
		var err error
		if had, err = deleteIfPresent(tx, store.Freezes, strconv.Itoa(id)); err != nil || !had {
			return err
		}
		return audit(tx, now, by, fmt.Sprintf("lifted freeze %d", id))
	})
	return had, err
}

// Freezes lists the freezes added in chat, oldest first.
func (b *Book) Freezes() ([]FreezeRecord, error) {
	all, err := readAll[FreezeRecord](b.db, store.Freezes)
	out := slices.Collect(maps.Values(all))
	slices.SortFunc(out, func(x, y FreezeRecord) int { return x.ID - y.ID })
	return out, err
}

// Notice states.
const (
	noticeSending = "sending"
	noticeSent    = "sent"
	noticeFailed  = "failed"
	noticeSkipped = "skipped"
)

// NoticeState returns the recorded state of a notice ("" when never tried).
func (b *Book) NoticeState(key string) (string, error) {
	var s string
	err := b.db.View(func(tx *bolt.Tx) error {
		s = string(tx.Bucket(store.Notices).Get([]byte(key)))
		return nil
	})
	return s, err
}

// SetNotice records a notice's state.
func (b *Book) SetNotice(key, state string) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(store.Notices).Put([]byte(key), []byte(state))
	})
}

// PruneNotices forgets notices of windows that ended before cutoff; keys
// end with the window's end time, so old ones can be found without parsing
// the window.
func (b *Book) PruneNotices(cutoff time.Time) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(store.Notices)
		var old [][]byte
		bk.ForEach(func(k, _ []byte) error {
			i := strings.LastIndexByte(string(k), '|')
			if t, err := time.Parse(time.RFC3339, string(k[i+1:])); err == nil && t.Before(cutoff) {
				old = append(old, slices.Clone(k))
			}
			return nil
		})
		for _, k := range old {
			if err := bk.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// configKey names a configured freeze by its period and reason.
func configKey(f config.Freeze) string {
	return f.From.UTC().Format(time.RFC3339) + "|" + f.To.UTC().Format(time.RFC3339) + "|" + f.Reason
}

// SeeConfigFreezes records now as when each of fs was declared, unless
// this database saw it before, and returns when each was first seen (by
// configKey). A freeze added to the configuration while a forced request
// waits is thus not one the force was given through. A freeze no longer
// in fs is forgotten: put back later, it is declared again then, as a
// freeze lifted and declared again in chat is.
func (b *Book) SeeConfigFreezes(fs []config.Freeze, now time.Time) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(store.FreezesSeen)
		keep := map[string]bool{}
		for _, f := range fs {
			keep[configKey(f)] = true
		}
		var gone [][]byte
		if err := bk.ForEach(func(k, _ []byte) error {
			if !keep[string(k)] {
				gone = append(gone, slices.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range gone {
			if err := bk.Delete(k); err != nil {
				return err
			}
		}
		for _, f := range fs {
			k := configKey(f)
			if at, ok := get[time.Time](bk, k); ok {
				out[k] = at
				continue
			}
			out[k] = now.UTC()
			if err := put(bk, k, now.UTC()); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}
