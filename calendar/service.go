package calendar

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/store"
)

// Fetcher reads windows from an outside calendar, such as the wiki's
// Deployments page. Warnings describe entries it had to skip.
type Fetcher interface {
	Fetch(ctx context.Context) (windows []Window, warnings []string, err error)
}

// Freeze is a period in which deploys need the out-of-window override.
type Freeze struct {
	ID     int // 0 for freezes from config
	From   time.Time
	To     time.Time
	Reason string
	By     string
	// Declared is when the freeze was declared: when it was added in
	// chat, or when this database first saw it in the configuration;
	// zero when unknown (a freeze added before it was recorded). --force
	// overrides only a freeze declared, and in force, when it was given.
	Declared time.Time
}

// Service holds the current calendar, merged from the recurring windows in
// config, the windows added in chat and the wiki page, minus cancellations.
// It is safe for concurrent use.
type Service struct {
	rules     []config.Window
	freezes   []config.Freeze
	horizon   time.Duration
	leftovers string
	book      *Book
	fetcher   Fetcher
	log       *slog.Logger
	now       func() time.Time

	owners     OwnerLookup
	page       string
	retry      time.Duration
	minRefresh time.Duration
	onRefresh  func(ok bool, at time.Time)

	// seen is when this database first saw each configured freeze
	// (configKey).
	seen map[string]time.Time

	mu     sync.Mutex
	cur    *Calendar
	built  time.Time
	wiki   []Window  // last good import
	wikiAt time.Time // when it was read

	flights flights
}

// ServiceOptions configure a Service.
type ServiceOptions struct {
	Config *config.Config
	Book   *Book
	// Fetcher imports the wiki page; nil when none is configured.
	Fetcher Fetcher
	// Owners finds the owners of wiki patches listed with the placeholder
	// nick; nil leaves them without an owner.
	Owners OwnerLookup
	// MinRefresh is the least time between two reads of the wiki (default
	// 15 seconds); a refresh asked for sooner waits, and joins one running.
	MinRefresh time.Duration
	Log        *slog.Logger
	Now        func() time.Time
	// OnRefresh, when set, learns each read of the wiki: whether it
	// worked, and when.
	OnRefresh func(ok bool, at time.Time)
}

// NewService returns a service and builds the first calendar from config,
// the book and the last good wiki import kept in the database.
func NewService(o ServiceOptions) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		rules: o.Config.Windows, freezes: o.Config.Freezes, horizon: o.Config.Calendar.Horizon,
		leftovers: o.Config.Calendar.Leftovers, book: o.Book, fetcher: o.Fetcher,
		log: o.Log.With("component", "calendar"), now: o.Now,
		owners: o.Owners, retry: o.Config.Calendar.Refresh, minRefresh: o.MinRefresh, onRefresh: o.OnRefresh,
	}
	if s.onRefresh == nil {
		s.onRefresh = func(bool, time.Time) {}
	}
	if s.minRefresh == 0 {
		s.minRefresh = 15 * time.Second
	}
	if src := o.Config.Calendar.Wiki; src != nil {
		s.page = src.Page
	}
	s.wiki, s.wikiAt = s.loadWikiCache()
	if s.book != nil {
		seen, err := s.book.SeeConfigFreezes(s.freezes, o.Now())
		if err != nil {
			s.log.Error("record when the configured freezes were declared", "err", err)
		}
		s.seen = seen
	}
	s.mu.Lock()
	s.rebuildLocked()
	s.mu.Unlock()
	return s
}

// Imported reports whether the calendar has its wiki page (when one is
// configured) read at least once, now or before a restart, and when.
func (s *Service) Imported() (bool, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetcher == nil || !s.wikiAt.IsZero(), s.wikiAt
}

// Book returns the durable state.
func (s *Service) Book() *Book { return s.book }

// Calendar returns the current calendar. Recurring windows are re-expanded
// once a day so the horizon moves forward.
func (s *Service) Calendar() *Calendar {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.now().Sub(s.built) > 24*time.Hour {
		s.rebuildLocked()
	}
	return s.cur
}

// Rebuild re-reads the windows added or cancelled in chat.
func (s *Service) Rebuild() *Calendar {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rebuildLocked()
	return s.cur
}

func (s *Service) rebuildLocked() {
	now := s.now()
	from := now.Add(-7 * 24 * time.Hour)
	ws := Expand(s.rules, from, now.Add(s.horizon))
	if s.book != nil {
		chat, err := s.book.ChatWindows()
		if err != nil {
			s.log.Error("read chat windows", "err", err)
		}
		ws = append(ws, chat...)
	}
	ws = Merge(ws, s.wiki)
	if s.book != nil {
		cancelled, err := s.book.Cancelled()
		if err != nil {
			s.log.Error("read cancellations", "err", err)
		}
		kept := ws[:0]
		for _, w := range ws {
			if _, gone := cancelled[w.ID]; !gone {
				kept = append(kept, w)
			}
		}
		ws = kept
	}
	s.cur = New(ws)
	s.built = now
	renamed := map[string]string{}
	for _, w := range ws {
		if w.WikiID != "" && w.WikiID != w.ID {
			renamed[w.WikiID] = w.ID
		}
	}
	if s.book != nil && len(renamed) > 0 {
		if err := s.book.Adopt(renamed, now); err != nil {
			s.log.Error("move wiki windows' queues to the windows they merged with", "err", err)
		}
	}
}

func (s *Service) loadWikiCache() ([]Window, time.Time) {
	if s.book == nil {
		return nil, time.Time{}
	}
	var ws []Window
	var at time.Time
	s.book.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(store.WikiCache)
		if data := bk.Get([]byte("windows")); data != nil {
			json.Unmarshal(data, &ws)
		}
		at.UnmarshalText(bk.Get([]byte("read_at")))
		return nil
	})
	return ws, at
}

func (s *Service) saveWikiCache(ws []Window, at time.Time) {
	if s.book == nil {
		return
	}
	data, _ := json.Marshal(ws)
	stamp, _ := at.UTC().MarshalText()
	err := s.book.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(store.WikiCache)
		if err := bk.Put([]byte("read_at"), stamp); err != nil {
			return err
		}
		return bk.Put([]byte("windows"), data)
	})
	if err != nil {
		s.log.Error("save wiki import", "err", err)
	}
}

// Freezes lists every freeze, from config and from chat.
func (s *Service) Freezes() []Freeze {
	var out []Freeze
	for _, f := range s.freezes {
		out = append(out, Freeze{From: f.From, To: f.To, Reason: f.Reason, By: "config", Declared: s.seen[configKey(f)]})
	}
	if s.book != nil {
		chat, err := s.book.Freezes()
		if err != nil {
			s.log.Error("read freezes", "err", err)
		}
		for _, f := range chat {
			out = append(out, Freeze(f))
		}
	}
	return out
}

// ActiveFreeze returns the freeze in force at t, if any (the one ending
// last when several overlap).
func (s *Service) ActiveFreeze(t time.Time) (Freeze, bool) {
	var best Freeze
	found := false
	for _, f := range s.Freezes() {
		if !t.Before(f.From) && t.Before(f.To) && (!found || f.To.After(best.To)) {
			best, found = f, true
		}
	}
	return best, found
}

// LastFreeze returns, of the freezes in force at t, the one declared or
// begun last (the later of the two), if any: --force given before it does
// not override it, even when an older freeze ending later covers t too.
func (s *Service) LastFreeze(t time.Time) (Freeze, bool) {
	var last Freeze
	found := false
	since := func(f Freeze) time.Time {
		if f.Declared.After(f.From) {
			return f.Declared
		}
		return f.From
	}
	for _, f := range s.Freezes() {
		if !t.Before(f.From) && t.Before(f.To) && (!found || since(f).After(since(last))) {
			last, found = f, true
		}
	}
	return last, found
}

// Leftovers says what happens to patches not deployed: "move" or "drop".
func (s *Service) Leftovers() string { return s.leftovers }

var maxPatchesRE = regexp.MustCompile(`(?i)\s*\(\s*max\.?\s*(\d+)\s*patch(es)?\s*\)`)

// CleanName strips "(Max N patches)" from a window name and returns N (0
// when absent).
func CleanName(name string) (string, int) {
	n := 0
	if m := maxPatchesRE.FindStringSubmatch(name); m != nil {
		fmt.Sscan(m[1], &n)
	}
	return strings.TrimSpace(maxPatchesRE.ReplaceAllString(name, "")), n
}

func mergeKey(w Window) string {
	name, _ := CleanName(w.Name)
	return w.Start.UTC().Format(time.RFC3339) + "|" + Slug(name)
}

// Merge adds imported windows to ws. A window already present (same start,
// same name once "(Max N patches)" is ignored) keeps its id, so claims and
// queues stay attached, and gains the import's link, patch owners, listed
// changes and, when the page gives one, its patch limit.
func Merge(ws, imported []Window) []Window {
	index := map[string]int{}
	out := append([]Window(nil), ws...)
	for i, w := range out {
		index[mergeKey(w)] = i
	}
	for _, w := range imported {
		if i, ok := index[mergeKey(w)]; ok {
			o := &out[i]
			if o.URL == "" {
				o.URL = w.URL
			}
			o.Owners = appendNew(o.Owners, w.Owners...)
			o.Deployers = appendNew(o.Deployers, w.Deployers...)
			if w.MaxPatches > 0 { // the page people edit says the limit
				o.MaxPatches = w.MaxPatches
			}
			o.WikiID, o.Changes = w.WikiID, w.Changes
			continue
		}
		index[mergeKey(w)] = len(out)
		out = append(out, w)
	}
	return out
}

func appendNew(dst []string, src ...string) []string {
	for _, s := range src {
		dup := false
		for _, d := range dst {
			if strings.EqualFold(d, s) {
				dup = true
				break
			}
		}
		if !dup {
			dst = append(dst, s)
		}
	}
	return dst
}

// Diff counts what changed between two calendars.
type Diff struct{ Added, Removed, Moved int }

func (d Diff) String() string {
	if d == (Diff{}) {
		return "nothing changed"
	}
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, bot.Count(n, "window")+" "+what)
		}
	}
	add(d.Added, "added")
	add(d.Moved, "moved")
	add(d.Removed, "removed")
	return bot.JoinNames(parts)
}

// Compare counts windows added, removed and moved (same id, other times)
// between two calendars, looking only at windows that have not ended by now.
func Compare(old, cur *Calendar, now time.Time) Diff {
	var d Diff
	oldByID := map[string]Window{}
	if old != nil {
		for _, w := range old.windows {
			if w.End.After(now) {
				oldByID[w.ID] = w
			}
		}
	}
	for _, w := range cur.windows {
		if !w.End.After(now) {
			continue
		}
		o, ok := oldByID[w.ID]
		switch {
		case !ok:
			d.Added++
		case !o.Start.Equal(w.Start) || !o.End.Equal(w.End):
			d.Moved++
		}
		delete(oldByID, w.ID)
	}
	d.Removed = len(oldByID)
	return d
}
