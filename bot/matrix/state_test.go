package matrix

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/store"
)

func TestHandledWindow(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "j.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := &state{db: db, network: "matrix"}
	other := &state{db: db, network: "other"}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	steps := []struct {
		st    *state
		event string
		at    time.Time
		fresh bool
	}{
		{st, "$a", now.Add(-8 * 24 * time.Hour), true},
		{st, "$b", now.Add(-time.Hour), true},
		{st, "$a", now.Add(-time.Hour), false},
		{other, "$a", now, true}, // networks are apart
	}
	for i, s := range steps {
		fresh, err := s.st.markHandled(s.event, s.at)
		if err != nil || fresh != s.fresh {
			t.Fatalf("step %d: markHandled(%s) = %t, %v; want %t", i, s.event, fresh, err, s.fresh)
		}
	}
	if err := st.prune(now); err != nil {
		t.Fatal(err)
	}
	// $a was handled more than handledRetention ago: forgotten. $b is kept,
	// and so is the other network's $a.
	for _, c := range []struct {
		st    *state
		event string
		fresh bool
	}{{st, "$a", true}, {st, "$b", false}, {other, "$a", false}} {
		if fresh, _ := c.st.markHandled(c.event, now); fresh != c.fresh {
			t.Errorf("after prune, markHandled(%s/%s) = %t, want %t", c.st.network, c.event, fresh, c.fresh)
		}
	}
}
