package calendar

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jouncebot/jouncebot/config"
)

// Service holds the current calendar and rebuilds it from its sources.
// It is safe for concurrent use.
type Service struct {
	rules   []config.Window
	horizon time.Duration

	mu       sync.Mutex
	cur      *Calendar
	built    time.Time
	now      func() time.Time
	lastNote string
}

// NewService returns a service over the recurring windows of cfg.
func NewService(cfg *config.Config, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	s := &Service{rules: cfg.Windows, horizon: cfg.Calendar.Horizon, now: now}
	s.rebuild()
	return s
}

// Calendar returns the current calendar. It re-expands recurring windows
// once a day so the horizon moves forward.
func (s *Service) Calendar() *Calendar {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.now().Sub(s.built) > 24*time.Hour {
		s.rebuildLocked()
	}
	return s.cur
}

func (s *Service) rebuild() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rebuildLocked()
}

func (s *Service) rebuildLocked() {
	now := s.now()
	from := now.Add(-7 * 24 * time.Hour)
	s.cur = New(Expand(s.rules, from, now.Add(s.horizon)))
	s.built = now
}

// Refresh rebuilds the calendar and says truthfully what changed.
func (s *Service) Refresh(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur
	s.rebuildLocked()
	now := s.now()
	d := Compare(old, s.cur, now)
	upcoming := len(s.cur.Between(now, now.Add(s.horizon)))
	return fmt.Sprintf("Calendar rebuilt from the configuration: %d windows in the next %s; %s.", upcoming, HumanDuration(s.horizon), d), nil
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
			parts = append(parts, plural(n, "window")+" "+what)
		}
	}
	add(d.Added, "added")
	add(d.Moved, "moved")
	add(d.Removed, "removed")
	return JoinNames(parts)
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
