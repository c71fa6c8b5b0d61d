package app

import (
	"testing"
	"time"
)

// The same details go to the security destination once an hour at most,
// however often people say check; new details go at once.
func TestSentDetailsFresh(t *testing.T) {
	t.Parallel()
	var s sentDetails
	t0 := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	steps := []struct {
		text  string
		at    time.Duration
		fresh bool
	}{
		{"a", 0, true},
		{"a", time.Minute, false},
		{"b", time.Minute, true},
		{"a", 59 * time.Minute, false},
		{"a", time.Hour, true},
		{"b", time.Hour, false},
	}
	for i, st := range steps {
		if got := s.fresh(st.text, t0.Add(st.at)); got != st.fresh {
			t.Errorf("step %d (%q at +%s): fresh = %v, want %v", i, st.text, st.at, got, st.fresh)
		}
	}
}
