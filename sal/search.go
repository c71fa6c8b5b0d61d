package sal

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/store"
)

// Limits on the number of entries a search returns.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// Query selects entries, newest first. Every condition given must hold.
type Query struct {
	// Text is words that must all appear in the message or the nick
	// (whole words, case-insensitive).
	Text string
	// Project limits results to one project.
	Project string
	// Nick limits results to one nick (case-insensitive).
	Nick string
	// From and To limit results to From <= time < To; zero means no limit.
	From, To time.Time
	// Before pages on: only entries with an id below it. Zero means the
	// newest entries.
	Before uint64
	// After pages back toward the newest: only entries with an id above
	// it, the oldest Limit of them (still returned newest first).
	After uint64
	// Limit is how many entries to return: 1–200; 0 means 50.
	Limit int
	// Count asks for Result.Total.
	Count bool
}

// Result is one page of search results.
type Result struct {
	// Entries match the query, newest first.
	Entries []Entry
	// More says there are older matches: ask again with Before set to the
	// last entry's id.
	More bool
	// Newer says, for a query with After or Before, that there are newer
	// matches than the first entry.
	Newer bool
	// Total is how many entries match the query without Before, After and
	// Limit, when Query.Count asked for it.
	Total int
}

// Search returns the newest entries matching q.
func (l *Log) Search(ctx context.Context, q Query) (Result, error) {
	limit := q.Limit
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 0 || limit > MaxLimit:
		return Result{}, fmt.Errorf("sal: search: %w: limit must be 1–%d", ErrInvalid, MaxLimit)
	}
	var res Result
	err := l.db.View(func(tx *bolt.Tx) error {
		entries := tx.Bucket(store.SALEntries)
		lo, hi := idRange(entries, q)
		whole := q // without the cursor
		whole.Before, whole.After = 0, 0
		bottom, top := idRange(entries, whole)
		if q.After > 0 {
			lo = max(lo, q.After+1)
			if q.After == math.MaxUint64 { // nothing is above it
				lo = hi + 1
			}
		}
		// Text with no searchable word in it ("a", "!") matches nothing.
		nothing := strings.TrimSpace(q.Text) != "" && len(Words(q.Text)) == 0
		toks := queryTokens(q)
		// find gives up to n matches in [lo, hi]: the newest, or the
		// oldest (in ascending order) when up is set.
		find := func(lo, hi uint64, n int, up bool) []uint64 {
			switch {
			case lo > hi || nothing:
				return nil
			case len(toks) == 0 && up:
				return scanIDsUp(entries, lo, hi, n)
			case len(toks) == 0:
				return scanIDs(entries, lo, hi, n)
			}
			idx := tx.Bucket(store.SALIndex)
			lists := make([]*postings, len(toks))
			for i, t := range toks {
				lists[i] = newPostings(idx, t)
			}
			if up {
				return intersectUp(lists, lo, hi, n)
			}
			return intersect(lists, lo, hi, n)
		}
		var ids []uint64
		if q.After > 0 {
			// The oldest limit matches above After (+1 to know whether
			// there are newer), newest first.
			ids = find(lo, hi, limit+1, true)
			if len(ids) > limit {
				res.Newer = true
				ids = ids[:limit]
			}
			slices.Reverse(ids)
			res.More = len(find(bottom, min(hi, q.After), 1, false)) > 0
		} else if ids = find(lo, hi, limit+1, false); len(ids) > limit {
			res.More = true
			ids = ids[:limit]
		}
		if q.Before > 0 && q.Before <= top {
			res.Newer = len(find(max(bottom, q.Before), top, 1, true)) > 0
		}
		if q.Count {
			switch {
			case bottom > top || nothing:
			case len(toks) == 0:
				res.Total = int(top - bottom + 1) // ids are never deleted or skipped
			default:
				res.Total = len(find(bottom, top, math.MaxInt, false))
			}
		}
		res.Entries = make([]Entry, 0, len(ids))
		for _, id := range ids {
			var e Entry
			if err := json.Unmarshal(entries.Get(idKey(id)), &e); err != nil {
				return fmt.Errorf("sal: decode entry %d: %w", id, err)
			}
			res.Entries = append(res.Entries, e)
		}
		return ctx.Err()
	})
	return res, err
}

// queryTokens are the index tokens every result must have.
func queryTokens(q Query) []string {
	toks := Words(q.Text)
	if q.Project != "" {
		toks = append(toks, projectToken+q.Project)
	}
	if q.Nick != "" {
		toks = append(toks, nickToken+strings.ToLower(strings.TrimSpace(q.Nick)))
	}
	return toks
}

// idRange turns the query's time range and paging cursor into the range of
// ids to look at. Ids and times grow together, so both ends are found by
// binary search.
func idRange(b *bolt.Bucket, q Query) (lo, hi uint64) {
	last, _ := b.Cursor().Last()
	if last == nil {
		return 1, 0
	}
	lo, hi = 1, binary.BigEndian.Uint64(last)
	if q.Before > 0 && q.Before-1 < hi {
		hi = q.Before - 1
	}
	if !q.From.IsZero() {
		lo = max(lo, firstAtOrAfter(b, q.From, hi))
	}
	if !q.To.IsZero() {
		hi = min(hi, firstAtOrAfter(b, q.To, hi)-1)
	}
	return lo, hi
}

// firstAtOrAfter returns the smallest id <= last whose time is >= t, or
// last+1 if there is none.
func firstAtOrAfter(b *bolt.Bucket, t time.Time, last uint64) uint64 {
	c := b.Cursor()
	lo, hi := uint64(1), last+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		k, v := c.Seek(idKey(mid))
		if k == nil {
			hi = mid
			continue
		}
		var e struct {
			Time time.Time `json:"time"`
		}
		if json.Unmarshal(v, &e) != nil || !e.Time.Before(t) {
			hi = mid
		} else {
			lo = binary.BigEndian.Uint64(k) + 1
		}
	}
	return lo
}

// scanIDs returns up to n ids from hi down to lo.
func scanIDs(b *bolt.Bucket, lo, hi uint64, n int) []uint64 {
	var out []uint64
	c := b.Cursor()
	k, _ := c.Seek(idKey(hi))
	switch {
	case k == nil:
		k, _ = c.Last()
	case binary.BigEndian.Uint64(k) > hi:
		k, _ = c.Prev()
	}
	for ; k != nil && len(out) < n; k, _ = c.Prev() {
		id := binary.BigEndian.Uint64(k)
		if id < lo {
			break
		}
		out = append(out, id)
	}
	return out
}

// scanIDsUp returns up to n ids from lo up to hi.
func scanIDsUp(b *bolt.Bucket, lo, hi uint64, n int) []uint64 {
	var out []uint64
	c := b.Cursor()
	for k, _ := c.Seek(idKey(lo)); k != nil && len(out) < n; k, _ = c.Next() {
		id := binary.BigEndian.Uint64(k)
		if id > hi {
			break
		}
		out = append(out, id)
	}
	return out
}
