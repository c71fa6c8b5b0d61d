package calendar

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/calendar/deploycal"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/wiki"
)

// OwnerLookup finds who owns a Gerrit change: a person's name from the
// people list, else the Gerrit user name. The app answers it with the
// deploy engine's Gerrit client.
type OwnerLookup interface {
	ChangeOwner(ctx context.Context, change int) (string, error)
}

// Report says what a refresh found.
type Report struct {
	// Windows counts the windows added, moved and removed.
	Windows Diff
	// Upcoming is the number of windows within the horizon; Later those
	// beyond it (from the wiki), the last starting at Last.
	Upcoming, Later int
	Last            time.Time
	Horizon         time.Duration
	// Queues are the patches the wiki added, moved or removed.
	Queues []QueueChange
	// Over are the windows found over their limit for the first time (or
	// with other patches beyond it than before).
	Over []Overflow
	// Skipped describes entries of the page that could not be read.
	Skipped []string

	cal *Calendar
	now time.Time
}

// RefreshError says the outside calendar could not be read; the last good
// calendar is kept.
type RefreshError struct {
	Err  error
	Page string
	// Kept is when the calendar in use was read (zero if never).
	Kept time.Time
	// Retry is how long until the next scheduled attempt.
	Retry time.Duration
}

func (e *RefreshError) Error() string { return "calendar refresh: " + e.Err.Error() }
func (e *RefreshError) Unwrap() error { return e.Err }

// Sentence says in plain words what failed, what is kept and when the bot
// tries again; the error chain is for the log.
func (e *RefreshError) Sentence(now time.Time) string {
	why := "it could not be read (the details are in my log)"
	switch {
	case errors.Is(e.Err, wiki.ErrUnavailable):
		why = "the wiki did not answer"
	case errors.Is(e.Err, wiki.ErrMissingPage):
		why = "the page does not exist"
	case errors.Is(e.Err, deploycal.ErrNoEvents):
		why = "it has no calendar entries any more (was it moved?)"
	case errors.Is(e.Err, context.DeadlineExceeded):
		why = "the wiki took too long to answer"
	}
	kept := "I am keeping the calendar I had"
	if !e.Kept.IsZero() {
		kept = "I am keeping the calendar I last read " + HumanDuration(now.Sub(e.Kept)) + " ago"
	}
	return fmt.Sprintf("I could not read the deployment calendar page %q: %s. %s and will try again within %s.", e.Page, why, kept, HumanDuration(e.Retry))
}

// flights makes refreshes single-flight: one read of the wiki at a time,
// at least min apart; whoever asks while one runs (or waits) joins it.
type flights struct {
	mu      sync.Mutex
	running *flight
	last    time.Time // when the last read started
}

type flight struct {
	done chan struct{}
	rep  *Report
	err  error
}

// Refresh re-reads every source and says truthfully what changed: the
// windows, the queues (patches the wiki added, moved or removed) and the
// windows newly over their limit. When the wiki cannot be read, the last
// good import is kept and a *RefreshError says why. A refresh asked for
// while another runs gets the same answer.
func (s *Service) Refresh(ctx context.Context) (bot.Text, error) {
	rep, err := s.refresh(ctx)
	if err != nil {
		return nil, err
	}
	return rep.Text(), nil
}

// refresh runs a read of the sources, or joins the one running.
func (s *Service) refresh(ctx context.Context) (*Report, error) {
	for {
		f, lead := s.flights.join()
		if lead {
			f.rep, f.err = s.fly(ctx, f)
			s.flights.land()
			close(f.done)
			return f.rep, f.err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-f.done:
		}
		// The leader gave up (its caller went away): try again ourselves.
		if !errors.Is(f.err, context.Canceled) || ctx.Err() != nil {
			return f.rep, f.err
		}
	}
}

// join returns the flight to wait for, and whether the caller leads it.
func (fs *flights) join() (*flight, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.running != nil {
		return fs.running, false
	}
	fs.running = &flight{done: make(chan struct{})}
	return fs.running, true
}

func (fs *flights) land() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.running = nil
}

// fly waits out the minimum gap since the last read, then reads.
func (s *Service) fly(ctx context.Context, f *flight) (*Report, error) {
	s.flights.mu.Lock()
	wait := s.minRefresh - time.Since(s.flights.last)
	s.flights.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	s.flights.mu.Lock()
	s.flights.last = time.Now()
	s.flights.mu.Unlock()
	return s.read(ctx)
}

// read does one refresh: fetch, rebuild, queue sync and capacity check.
func (s *Service) read(ctx context.Context) (*Report, error) {
	rep := &Report{Horizon: s.horizon}
	synced := false
	if s.fetcher != nil {
		ws, warn, err := s.fetcher.Fetch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			s.onRefresh(false, s.now())
			s.mu.Lock()
			kept := s.wikiAt
			s.mu.Unlock()
			return nil, &RefreshError{Err: err, Page: s.page, Kept: kept, Retry: s.retry}
		}
		rep.Skipped = warn
		at := s.now()
		s.saveWikiCache(ws, at)
		s.mu.Lock()
		s.wiki, s.wikiAt = ws, at
		s.mu.Unlock()
		s.onRefresh(true, at)
		synced = true
	}
	s.mu.Lock()
	old := s.cur
	s.rebuildLocked()
	cur := s.cur
	s.mu.Unlock()
	now := s.now()
	rep.cal, rep.now = cur, now
	rep.Windows = Compare(old, cur, now)
	rep.Upcoming = len(cur.Between(now, now.Add(s.horizon)))
	if later := cur.Between(now.Add(s.horizon), cur.End()); len(later) > 0 {
		rep.Later, rep.Last = len(later), later[len(later)-1].Start
	}
	if s.book == nil {
		return rep, nil
	}
	if synced {
		changes, err := s.syncQueues(ctx, cur, now)
		if err != nil {
			return nil, err
		}
		rep.Queues = changes
	}
	over, err := s.newOverflows(cur, now)
	if err != nil {
		return nil, err
	}
	rep.Over = over
	return rep, nil
}

// syncQueues turns the wiki's listed changes into queue entries.
func (s *Service) syncQueues(ctx context.Context, cal *Calendar, now time.Time) ([]QueueChange, error) {
	listed := Listings(cal)
	open := map[string]bool{}
	for _, w := range cal.windows {
		if w.End.After(now) {
			open[w.ID] = true
		}
	}
	for i, l := range listed {
		if l.Owner != "" || !open[l.WindowID] {
			continue
		}
		listed[i].Owner = s.book.QueuedOwner(l.Change)
		if listed[i].Owner == "" && s.owners != nil {
			owner, err := s.owners.ChangeOwner(ctx, l.Change)
			if err != nil {
				s.log.Warn("owner of a wiki patch not found in Gerrit", "change", l.Change, "err", err)
			}
			listed[i].Owner = owner
		}
	}
	changes, err := s.book.SyncWiki(listed, open, now)
	if err != nil {
		return nil, fmt.Errorf("calendar: sync the queues with the wiki: %w", err)
	}
	return changes, nil
}

// newOverflows finds the windows to come that are over their limit and
// were not flagged yet with the same patches beyond it.
func (s *Service) newOverflows(cal *Calendar, now time.Time) ([]Overflow, error) {
	var out []Overflow
	for _, w := range cal.windows {
		if !w.End.After(now) || w.MaxPatches == 0 {
			continue
		}
		o, ok := s.book.Overflow(cal, w)
		if !ok {
			continue
		}
		var ids []string
		for _, p := range o.Over {
			ids = append(ids, strconv.Itoa(p.Change))
		}
		key := "over|" + w.ID + "|" + strings.Join(ids, ",") + "|" + w.End.UTC().Format(time.RFC3339)
		if st, err := s.book.NoticeState(key); err != nil || st != "" {
			continue
		}
		if err := s.book.SetNotice(key, noticeSent); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// Overflow is a window with more patches queued than its limit.
type Overflow struct {
	Window Window
	// In are the patches within the limit, Over those beyond it, in
	// queue (page) order.
	In, Over []Patch
	// Next is the next window of the same kind with room, if HasNext.
	Next    Window
	HasNext bool
}

// Overflow reports whether w has more pending patches than its limit, and
// which ones wait for which window.
func (b *Book) Overflow(cal *Calendar, w Window) (Overflow, bool) {
	q, _ := b.Queue(w.ID)
	in, over := Split(w, q)
	if len(over) == 0 {
		return Overflow{}, false
	}
	o := Overflow{Window: w, In: in, Over: over}
	o.Next, o.HasNext = b.NextWithRoom(cal, w, w.Start)
	return o, true
}

// Waits says which patches are beyond the limit and where they wait:
// "445120 (dave) is beyond the limit of 6 patches and waits for X (span),
// the next backport window with room."
func (o Overflow) Waits(now time.Time) bot.Text {
	verb, wait := "is", "waits"
	if len(o.Over) > 1 {
		verb, wait = "are", "wait"
	}
	out := bot.T(fmt.Sprintf("%s %s beyond the limit of %s", PatchList(o.Over), verb, bot.Count(o.Window.MaxPatches, "patch")))
	if !o.HasNext {
		return out.Append(bot.T(fmt.Sprintf("; there is no later %s window with room in the calendar.", o.Window.Kind)))
	}
	return out.Append(bot.T(" and "+wait+" for "), bot.B(o.Next.Name),
		bot.T(fmt.Sprintf(" (%s, id %s), the next %s window with room.", Span(o.Next, now), o.Next.Short, o.Window.Kind)))
}

// Text flags the window: "X (span) has 7 patches for 6 places: …".
func (o Overflow) Text(now time.Time) bot.Text {
	return bot.Join(bot.B(o.Window.Name), bot.T(fmt.Sprintf(" (%s) has %s for %s: ", Span(o.Window, now),
		bot.Count(len(o.In)+len(o.Over), "patch"), bot.Count(o.Window.MaxPatches, "place"))), o.Waits(now))
}

// Text is the answer to "refresh".
func (r *Report) Text() bot.Text {
	what := "I refreshed the calendar: " + r.Windows.String()
	out := bot.T(fmt.Sprintf("%s; %s in the next %s.", what, bot.Count(r.Upcoming, "window"), HumanDuration(r.Horizon)))
	if r.Later > 0 {
		out = bot.T(fmt.Sprintf("%s; %s in the next %s and %d more up to %s.", what, bot.Count(r.Upcoming, "window"), HumanDuration(r.Horizon), r.Later, r.Last.Format("Mon 2 Jan 2006")))
	}
	if q := r.queueText(); q != "" {
		out = out.Append(bot.T(" Queues: " + q + "."))
	}
	if n := len(r.Skipped); n > 0 {
		out = out.Append(bot.T(fmt.Sprintf(" %s on the wiki page could not be read (first: %s).", bot.Count(n, "entry"), r.Skipped[0])))
	}
	for _, o := range r.Over {
		out = out.Append(bot.T("\n"), o.Text(r.now))
	}
	return out
}

// queueText says what the wiki changed in the queues, grouped by window:
// "added 1 and 2 to X; moved 3 from X to Y; removed 4 from Z (no longer
// on the wiki)".
func (r *Report) queueText() string {
	name := func(id string) string {
		if w, ok := r.cal.ByID(id); ok {
			return w.Name + " (" + Span(w, r.now) + ")"
		}
		return id
	}
	var parts []string
	group := func(verb, prep, suffix string, pick func(QueueChange) (string, bool)) {
		var order []string
		byWin := map[string][]string{}
		for _, c := range r.Queues {
			if id, ok := pick(c); ok {
				if _, seen := byWin[id]; !seen {
					order = append(order, id)
				}
				byWin[id] = append(byWin[id], patchName(c.Change, c.Owner))
			}
		}
		for _, id := range order {
			parts = append(parts, verb+" "+bot.JoinNames(byWin[id])+" "+prep+" "+name(id)+suffix)
		}
	}
	group("added", "to", "", func(c QueueChange) (string, bool) { return c.To, c.From == "" })
	for _, c := range r.Queues {
		if c.From != "" && c.To != "" {
			parts = append(parts, "moved "+patchName(c.Change, c.Owner)+" from "+name(c.From)+" to "+name(c.To))
		}
	}
	group("removed", "from", ", no longer on the wiki", func(c QueueChange) (string, bool) { return c.From, c.To == "" })
	return strings.Join(parts, "; ")
}

func patchName(change int, owner string) string {
	if owner == "" {
		owner = "owner unknown"
	}
	return strconv.Itoa(change) + " (" + owner + ")"
}

// ChangeReader reads a change from Gerrit; the deploy engine's
// *gerrit.Client is one.
type ChangeReader interface {
	Change(ctx context.Context, n int) (*gerrit.Change, error)
}

// GerritOwners answers OwnerLookup from Gerrit: the name of the person
// whose Gerrit account owns the change, or the Gerrit user name when the
// people list does not know it.
type GerritOwners struct {
	Gerrit ChangeReader
	Config *config.Config
}

// ChangeOwner implements OwnerLookup.
func (g GerritOwners) ChangeOwner(ctx context.Context, change int) (string, error) {
	c, err := g.Gerrit.Change(ctx, change)
	if err != nil {
		return "", fmt.Errorf("calendar: owner of change %d: %w", change, err)
	}
	if p := g.Config.PersonByGerrit(c.Owner.Username); p != nil {
		return p.Name, nil
	}
	return c.Owner.Username, nil
}

// SetOwners sets how owners of wiki patches listed without a nick are
// found. Call it before the first refresh.
func (s *Service) SetOwners(o OwnerLookup) { s.owners = o }
