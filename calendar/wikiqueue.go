package calendar

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/store"
)

// Listing is a change the wiki lists under a window of the calendar.
type Listing struct {
	WindowID string
	Change   int
	Owner    string
	Title    string
}

// QueueChange says how a refresh changed the queues: a change added to a
// window (From ""), moved between windows, or removed (To "").
type QueueChange struct {
	Change   int
	Owner    string
	From, To string // window ids
}

// Listings lists the wiki's changes of cal's windows, in calendar and
// page order.
func Listings(cal *Calendar) []Listing {
	var out []Listing
	for _, w := range cal.windows {
		for _, c := range w.Changes {
			out = append(out, Listing{WindowID: w.ID, Change: c.Change, Owner: c.Owner, Title: c.Title})
		}
	}
	return out
}

// removedKey records in the notices bucket that a wiki patch was taken
// out of a window's queue in chat.
func removedKey(change int, windowID string) string {
	return "wiki-removed|" + strconv.Itoa(change) + "|" + windowID
}

// SyncWiki makes the queues of the windows still open or to come (open)
// match what the wiki lists, in one transaction: a listed change not
// queued anywhere joins its window's queue as a wiki patch; a wiki patch
// listed under another open window moves there; a wiki patch the page no
// longer lists leaves its queue. Patches added in chat stay where they are,
// and so do patches in windows that have ended (leftovers moved on stay
// too while the page lists them under their old window). A change taken
// out in chat is not put back while the page lists it under the same window.
func (b *Book) SyncWiki(listed []Listing, open map[string]bool, now time.Time) ([]QueueChange, error) {
	var out []QueueChange
	err := b.db.Update(func(tx *bolt.Tx) error {
		out = nil
		bk := tx.Bucket(store.Queues)
		queues, err := allQueues(bk)
		if err != nil {
			return err
		}
		where := map[int]Listing{}
		for _, l := range listed {
			if _, dup := where[l.Change]; !dup {
				where[l.Change] = l
			}
		}
		dirty := map[string]bool{}
		queued := map[int]string{} // pending change → window id
		type move struct {
			p    Patch
			from string
		}
		moving := map[int]move{}
		for id, q := range queues {
			keep := q[:0]
			for _, p := range q {
				l, listedAt := where[p.Change]
				switch {
				case p.Deployed || p.Source != SourceWiki || !open[id]:
				case !listedAt:
					out = append(out, QueueChange{Change: p.Change, Owner: p.Owner, From: id})
					dirty[id] = true
					continue
				case l.WindowID != id && open[l.WindowID]:
					moving[p.Change] = move{p, id}
					dirty[id] = true
					continue
				case p.Owner == "" && l.Owner != "":
					p.Owner = l.Owner
					dirty[id] = true
				}
				if !p.Deployed {
					queued[p.Change] = id
				}
				keep = append(keep, p)
			}
			queues[id] = keep
		}
		notices := tx.Bucket(store.Notices)
		for _, l := range listed {
			if !open[l.WindowID] || queued[l.Change] != "" || where[l.Change] != l {
				continue
			}
			if notices.Get([]byte(removedKey(l.Change, l.WindowID))) != nil || deployedIn(queues[l.WindowID], l.Change) {
				continue
			}
			m, moved := moving[l.Change]
			p, from := m.p, m.from
			if !moved {
				p = Patch{Change: l.Change, By: "wiki", At: now, Source: SourceWiki}
			}
			p.Title = l.Title
			if l.Owner != "" {
				p.Owner = l.Owner
			}
			queues[l.WindowID] = append(queues[l.WindowID], p)
			queued[l.Change] = l.WindowID
			dirty[l.WindowID] = true
			out = append(out, QueueChange{Change: l.Change, Owner: p.Owner, From: from, To: l.WindowID})
			delete(moving, l.Change)
		}
		for _, m := range moving { // its new place was refused: it leaves
			out = append(out, QueueChange{Change: m.p.Change, Owner: m.p.Owner, From: m.from})
		}
		if err := dropStaleRemovals(notices, where); err != nil {
			return err
		}
		for id := range dirty {
			if err := put(bk, id, queues[id]); err != nil {
				return err
			}
		}
		for _, c := range out {
			if err := audit(tx, now, "wiki", c.String()); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// String describes the change for the audit log.
func (c QueueChange) String() string {
	switch {
	case c.From == "":
		return fmt.Sprintf("queued change %d for %s (owner %s) from the wiki", c.Change, c.To, c.Owner)
	case c.To == "":
		return fmt.Sprintf("removed change %d from %s: the wiki no longer lists it", c.Change, c.From)
	}
	return fmt.Sprintf("moved change %d from %s to %s as on the wiki", c.Change, c.From, c.To)
}

func deployedIn(q []Patch, change int) bool {
	for _, p := range q {
		if p.Change == change && p.Deployed {
			return true
		}
	}
	return false
}

// dropStaleRemovals forgets chat removals of changes the wiki no longer
// lists under that window.
func dropStaleRemovals(notices *bolt.Bucket, where map[int]Listing) error {
	var stale [][]byte
	prefix := []byte("wiki-removed|")
	c := notices.Cursor()
	for k, _ := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, _ = c.Next() {
		parts := strings.SplitN(string(k), "|", 3)
		n, _ := strconv.Atoi(parts[1])
		if l, ok := where[n]; !ok || l.WindowID != parts[2] {
			stale = append(stale, append([]byte(nil), k...))
		}
	}
	for _, k := range stale {
		if err := notices.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// allQueues reads every queue of the bucket by window id.
func allQueues(bk *bolt.Bucket) (map[string][]Patch, error) {
	out := map[string][]Patch{}
	err := bk.ForEach(func(k, v []byte) error {
		var q []Patch
		if err := json.Unmarshal(v, &q); err != nil {
			return fmt.Errorf("queue %s: %w", k, err)
		}
		out[string(k)] = q
		return nil
	})
	return out, err
}

// QueuedOwner returns the owner recorded for a change pending in any queue.
func (b *Book) QueuedOwner(change int) string {
	owner := ""
	b.db.View(func(tx *bolt.Tx) error {
		if id, q, i := findPending(tx.Bucket(store.Queues), change); id != "" {
			owner = q[i].Owner
		}
		return nil
	})
	return owner
}

// Adopt moves what the book holds under windows' former ids (their queue
// and claim) to their ids now (renamed maps former to current), in one
// transaction. A wiki window first seen beyond the horizon is known by the
// wiki's id; once the recurring window it matches comes within the
// horizon, the two merge under the recurring window's id, and its patches
// must follow.
func (b *Book) Adopt(renamed map[string]string, now time.Time) error {
	pending := false
	b.db.View(func(tx *bolt.Tx) error {
		for from := range renamed {
			if tx.Bucket(store.Queues).Get([]byte(from)) != nil || tx.Bucket(store.Claims).Get([]byte(from)) != nil {
				pending = true
			}
		}
		return nil
	})
	if !pending {
		return nil
	}
	return b.db.Update(func(tx *bolt.Tx) error {
		for from, to := range renamed {
			if err := adopt(tx, from, to, now); err != nil {
				return err
			}
		}
		return nil
	})
}

func adopt(tx *bolt.Tx, from, to string, now time.Time) error {
	queues, claims := tx.Bucket(store.Queues), tx.Bucket(store.Claims)
	old, hadQueue := get[[]Patch](queues, from)
	claim, hadClaim := get[Claim](claims, from)
	if !hadQueue && !hadClaim {
		return nil
	}
	if hadQueue {
		q, _ := get[[]Patch](queues, to)
		for _, p := range old {
			if !slices.ContainsFunc(q, func(x Patch) bool { return x.Change == p.Change && x.Deployed == p.Deployed }) {
				q = append(q, p)
			}
		}
		if err := put(queues, to, q); err != nil {
			return err
		}
		if err := queues.Delete([]byte(from)); err != nil {
			return err
		}
	}
	if hadClaim {
		if _, taken := get[Claim](claims, to); !taken {
			claim.WindowID = to
			if err := put(claims, to, claim); err != nil {
				return err
			}
		}
		if err := claims.Delete([]byte(from)); err != nil {
			return err
		}
	}
	return audit(tx, now, "calendar", fmt.Sprintf("window %s is now known as %s; its queue and claim moved with it", from, to))
}
