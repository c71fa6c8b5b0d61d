// Package calendar knows the deployment windows: it expands recurring
// windows from config across time zones and daylight saving changes, merges
// them with windows from other sources, and answers "what is on now, and
// what is next" in constant-ish time over a sorted list.
//
// Everything here is pure: functions take the current time as an argument.
//
//	cal := calendar.New(calendar.Expand(cfg.Windows, from, to))
//	now := cal.Active(time.Now())
//	next := cal.Next(time.Now())
package calendar

import (
	"cmp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/config"
)

// Window is one occurrence of a deployment window.
type Window struct {
	// ID is stable across refreshes: the wiki anchor, or the rule's slug
	// and the UTC start time for recurring windows.
	ID    string
	Name  string
	Kind  string
	Start time.Time // UTC
	End   time.Time // UTC
	// MaxPatches is the patch limit; 0 means no limit.
	MaxPatches int
	// Deployers are people's names (or IRC nicks for wiki windows).
	Deployers []string
	// Owners are patch owners named by the source (wiki windows).
	Owners []string
	// URL links to the window's description.
	URL string
	// Source says where the window came from: "config", "chat" or "wiki".
	Source string
	// WikiID is the wiki's anchor for the window (deploycal-item-…), also
	// when the window merged into one from config.
	WikiID string `json:",omitempty"`
	// Changes are the patches the wiki lists under the window, in page
	// order; a refresh turns them into queue entries (see Book.SyncWiki).
	Changes []WikiChange `json:",omitempty"`
	// Short is the id people type, unique in its calendar: the wiki's own
	// id without its prefix, or the UTC start like 20270308T1400. New sets it.
	Short string `json:"-"`
}

// WikiChange is a Gerrit change listed under a window on the wiki.
type WikiChange struct {
	Change int
	// Owner is the wiki's nick for it; "" when the page shows only the
	// placeholder "irc-nickname".
	Owner string `json:",omitempty"`
	Title string `json:",omitempty"`
}

// wikiPrefix starts the anchors of the wiki's calendar entries.
const wikiPrefix = "deploycal-item-"

// Duration is the window's length.
func (w Window) Duration() time.Duration { return w.End.Sub(w.Start) }

// Contains reports whether t falls within the window.
func (w Window) Contains(t time.Time) bool { return !t.Before(w.Start) && t.Before(w.End) }

// Calendar is an immutable, sorted set of windows.
type Calendar struct {
	windows []Window // sorted by Start, then Name
	longest time.Duration
}

// New returns a calendar of the given windows (copied and sorted).
func New(ws []Window) *Calendar {
	c := &Calendar{windows: slices.Clone(ws)}
	slices.SortFunc(c.windows, func(a, b Window) int {
		if n := a.Start.Compare(b.Start); n != 0 {
			return n
		}
		return cmp.Compare(a.Name, b.Name)
	})
	for _, w := range c.windows {
		c.longest = max(c.longest, w.Duration())
	}
	c.setShortIDs()
	return c
}

// setShortIDs gives every window the shortest id that names it alone: the
// wiki's id without "deploycal-item-" or the UTC start, then with the kind
// added, then the full id.
func (c *Calendar) setShortIDs() {
	candidates := func(w Window) []string {
		base := strings.TrimPrefix(w.WikiID, wikiPrefix)
		switch {
		case w.Source == "chat":
			base = w.ID // already short: w1, w2, …
		case base == "":
			base = w.Start.UTC().Format("20060102T1504")
		}
		return []string{base, base + "-" + w.Kind, w.ID}
	}
	for level := range 3 {
		count := map[string]int{}
		for _, w := range c.windows {
			if w.Short == "" {
				count[candidates(w)[level]]++
			}
		}
		for i := range c.windows {
			w := &c.windows[i]
			if id := candidates(*w)[level]; w.Short == "" && (count[id] == 1 || level == 2) {
				w.Short = id
			}
		}
	}
}

// Len is the number of windows.
func (c *Calendar) Len() int { return len(c.windows) }

// Windows returns all windows in start order.
func (c *Calendar) Windows() []Window { return slices.Clone(c.windows) }

// firstAfter returns the index of the first window starting after t.
func (c *Calendar) firstAfter(t time.Time) int {
	return sort.Search(len(c.windows), func(i int) bool { return c.windows[i].Start.After(t) })
}

// Active returns the windows open at t, in start order. Overlapping windows
// are all returned.
func (c *Calendar) Active(t time.Time) []Window {
	var out []Window
	earliest := t.Add(-c.longest)
	for i := c.firstAfter(t) - 1; i >= 0 && !c.windows[i].Start.Before(earliest); i-- {
		if c.windows[i].Contains(t) {
			out = append(out, c.windows[i])
		}
	}
	slices.Reverse(out)
	return out
}

// Next returns the windows that start soonest after t: all of those that
// share the earliest start time.
func (c *Calendar) Next(t time.Time) []Window {
	i := c.firstAfter(t)
	if i == len(c.windows) {
		return nil
	}
	j := i
	for j < len(c.windows) && c.windows[j].Start.Equal(c.windows[i].Start) {
		j++
	}
	return slices.Clone(c.windows[i:j])
}

// End is when the last window ends (zero for an empty calendar).
func (c *Calendar) End() time.Time {
	var end time.Time
	for _, w := range c.windows {
		if w.End.After(end) {
			end = w.End
		}
	}
	return end
}

// Between returns the windows that overlap [from, to).
func (c *Calendar) Between(from, to time.Time) []Window {
	var out []Window
	start := sort.Search(len(c.windows), func(i int) bool { return !c.windows[i].Start.Before(from.Add(-c.longest)) })
	for _, w := range c.windows[start:] {
		if !w.Start.Before(to) {
			break
		}
		if w.End.After(from) {
			out = append(out, w)
		}
	}
	return out
}

// ByID finds a window by its id, its short id, or the wiki's id (with or
// without "deploycal-item-"), ignoring case.
func (c *Calendar) ByID(id string) (Window, bool) {
	id = strings.TrimSpace(id)
	for _, w := range c.windows {
		if w.ID == id {
			return w, true
		}
	}
	bare := strings.TrimPrefix(strings.ToLower(id), wikiPrefix)
	for _, w := range c.windows {
		if strings.EqualFold(w.Short, bare) || (w.WikiID != "" && strings.EqualFold(strings.TrimPrefix(w.WikiID, wikiPrefix), bare)) {
			return w, true
		}
	}
	return Window{}, false
}

// NextOfKind returns the first window of the given kind starting after t.
func (c *Calendar) NextOfKind(t time.Time, kind string) (Window, bool) {
	for _, w := range c.windows[c.firstAfter(t):] {
		if w.Kind == kind {
			return w, true
		}
	}
	return Window{}, false
}

// Expand lists the occurrences of the recurring windows that overlap
// [from, to). Start times are computed in each window's own time zone, so
// a window authored at 06:00 America/Los_Angeles starts at 14:00 UTC in
// winter and 13:00 UTC in summer.
func Expand(rules []config.Window, from, to time.Time) []Window {
	var out []Window
	for _, r := range rules {
		if r.Parsed == nil {
			continue
		}
		loc := r.Location
		if loc == nil {
			loc = time.UTC
		}
		// Start far enough back to catch a window that began before from
		// and is still open.
		t := from.Add(-r.Duration).Add(-time.Second).In(loc)
		lastWall := ""
		for {
			t = r.Parsed.Next(t)
			if t.IsZero() || !t.Before(to) {
				break
			}
			// When clocks go back, a local time happens twice and cron
			// fires at both; a window happens once, at the first.
			wall := t.Format("2006-01-02 15:04")
			if wall == lastWall {
				continue
			}
			lastWall = wall
			start := t.UTC()
			w := Window{
				ID:         Slug(r.Name) + "@" + start.Format("2006-01-02T15:04Z"),
				Name:       r.Name,
				Kind:       r.Kind,
				Start:      start,
				End:        start.Add(r.Duration),
				MaxPatches: r.MaxPatches,
				Deployers:  slices.Clone(r.Deployers),
				Source:     "config",
			}
			if w.End.After(from) {
				out = append(out, w)
			}
		}
	}
	return out
}

// Slug turns a window name into a short lower-case identifier.
func Slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}
