package sal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/internal/testenv"
	"github.com/jouncebot/jouncebot/store"
)

// fakeWriter records what it wrote and can be taken down.
type fakeWriter struct {
	mu      sync.Mutex
	down    bool
	written []string
	calls   int
}

func (w *fakeWriter) Write(ctx context.Context, it Item) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls++
	if w.down {
		return errors.New("503 Service Unavailable")
	}
	w.written = append(w.written, it.Entry.Message+"|"+it.Part)
	return nil
}

func (w *fakeWriter) setDown(d bool) { w.mu.Lock(); w.down = d; w.mu.Unlock() }

func (w *fakeWriter) snapshot() ([]string, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.written...), w.calls
}

type notices struct {
	mu   sync.Mutex
	list []string
}

func (n *notices) add(_ context.Context, no Notice) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.list = append(n.list, fmt.Sprintf("%s %s failing=%v", no.Route, no.Project, no.Failing))
}

func (n *notices) get() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.list...)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testenv.Scale(10 * time.Second))
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func runLog(t *testing.T, l *Log) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestOutboxWriterDown(t *testing.T) {
	wiki := &fakeWriter{down: true}
	other := &fakeWriter{}
	var got notices
	l, _ := newTestLog(t, Options{
		Routes: []Route{
			{Name: "wiki/production", Description: "the wiki", Writer: wiki, Parts: ForProjects("production")},
			{Name: "tasks", Description: "Phabricator", Writer: other, Parts: func(e Entry) []string { return e.Tasks }},
		},
		Notify:     got.add,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
	})
	runLog(t, l)
	ctx := context.Background()
	var want []string
	for i := range 50 {
		e := Entry{Nick: "alice", Project: "production", Message: fmt.Sprintf("entry %d", i)}
		if i%10 == 0 {
			e.Message += " T1 T2"
		}
		if _, err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
		want = append(want, e.Message+"|")
		if i == 0 {
			waitFor(t, "the failure notice", func() bool { return len(got.get()) == 1 })
		}
	}
	l.Append(ctx, Entry{Nick: "alice", Project: "releng", Message: "not for this wiki"})
	// The down route retries; the other route is not held up.
	waitFor(t, "the wiki writer to be retried", func() bool { _, calls := wiki.snapshot(); return calls > 60 })
	waitFor(t, "the task comments", func() bool { w, _ := other.snapshot(); return len(w) == 10 })
	if w, _ := wiki.snapshot(); len(w) != 0 {
		t.Fatalf("wrote %d entries while down", len(w))
	}
	wiki.setDown(false)
	waitFor(t, "all entries written", func() bool { w, _ := wiki.snapshot(); return len(w) >= 50 })
	w, _ := wiki.snapshot()
	if d := cmp.Diff(want, w); d != "" {
		t.Errorf("written (-want +got):\n%s", d)
	}
	tasks, _ := other.snapshot()
	if d := cmp.Diff([]string{"entry 0 T1 T2|T1", "entry 0 T1 T2|T2", "entry 10 T1 T2|T1"}, tasks[:3]); d != "" {
		t.Errorf("task items (-want +got):\n%s", d)
	}
	wantNotices := []string{"wiki/production production failing=true", "wiki/production production failing=false"}
	if d := cmp.Diff(wantNotices, got.get()); d != "" {
		t.Errorf("notices (-want +got):\n%s", d)
	}
}

// TestOutboxSurvivesRestart checks that queued items are kept in the
// database and written by the next process.
func TestOutboxSurvivesRestart(t *testing.T) {
	down := &fakeWriter{down: true}
	route := func(w Writer) []Route { return []Route{{Name: "wiki", Description: "the wiki", Writer: w}} }
	cfg := testConfigParsed(t)
	path := t.TempDir() + "/jouncebot.db"
	db := openDB(t, path)
	l := New(db, cfg, Options{BaseURL: testBaseURL, Routes: route(down), MinBackoff: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	for i := range 3 {
		l.Append(context.Background(), Entry{Nick: "a", Project: "production", Message: fmt.Sprint("m", i)})
	}
	waitFor(t, "a failed write", func() bool { _, c := down.snapshot(); return c > 0 })
	cancel()
	<-done
	db.Close()

	up := &fakeWriter{}
	l2 := New(openDB(t, path), cfg, Options{Routes: route(up), MinBackoff: time.Millisecond})
	runLog(t, l2)
	waitFor(t, "the queued entries", func() bool { w, _ := up.snapshot(); return len(w) == 3 })
	w, _ := up.snapshot()
	if d := cmp.Diff([]string{"m0|", "m1|", "m2|"}, w); d != "" {
		t.Error(d)
	}
}

func TestOutboxDropsPermanentFailures(t *testing.T) {
	calls := 0
	var mu sync.Mutex
	var written []uint64
	w := writerFunc(func(_ context.Context, it Item) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if it.Entry.ID == 1 {
			return PermanentError(errors.New("no such task"))
		}
		written = append(written, it.Entry.ID)
		return nil
	})
	var got notices
	l, _ := newTestLog(t, Options{Routes: []Route{{Name: "r", Writer: w}}, Notify: got.add, MinBackoff: time.Millisecond})
	runLog(t, l)
	l.Append(context.Background(), Entry{Nick: "a", Project: "p", Message: "one"})
	l.Append(context.Background(), Entry{Nick: "a", Project: "p", Message: "two"})
	waitFor(t, "entry 2", func() bool { mu.Lock(); defer mu.Unlock(); return len(written) == 1 })
	if calls != 2 || len(got.get()) != 0 {
		t.Errorf("calls %d, notices %v; want 2 calls and no notice", calls, got.get())
	}
}

type writerFunc func(context.Context, Item) error

func (f writerFunc) Write(ctx context.Context, it Item) error { return f(ctx, it) }

// TestOutboxSkipsUnreadableItems checks that an item the outbox cannot read
// (its entry is corrupt, or its key is malformed) is dropped and the items
// after it are written at once, not at the next !log.
func TestOutboxSkipsUnreadableItems(t *testing.T) {
	w := &fakeWriter{}
	l, db := newTestLog(t, Options{Routes: []Route{{Name: "wiki", Writer: w}}, MinBackoff: time.Millisecond})
	ctx := context.Background()
	for _, m := range []string{"corrupt", "fine"} {
		if _, err := l.Append(ctx, Entry{Nick: "a", Project: "production", Message: m}); err != nil {
			t.Fatal(err)
		}
	}
	err := db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(store.SALEntries).Put(idKey(1), []byte("{not json")); err != nil {
			return err
		}
		// A key of the route with a malformed tail, sorting first.
		return tx.Bucket(store.SALOutbox).Put([]byte("wiki\x00\x00"), nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	runLog(t, l)
	waitFor(t, "the readable entry", func() bool { got, _ := w.snapshot(); return len(got) == 1 })
	if got, _ := w.snapshot(); got[0] != "fine|" {
		t.Errorf("wrote %q, want the readable entry", got)
	}
	waitFor(t, "an empty outbox", func() bool { return l.outbox.pending(l.outbox.routes[0]) == 0 })
}
