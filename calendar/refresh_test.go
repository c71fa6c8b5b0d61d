package calendar

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// slowFetcher is a wiki that answers only once released, and counts reads.
type slowFetcher struct {
	reads   atomic.Int32
	release chan struct{}
}

func (f *slowFetcher) Fetch(ctx context.Context) ([]Window, []string, error) {
	f.reads.Add(1)
	select {
	case <-f.release:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	start := time.Date(2000, 1, 2, 14, 0, 0, 0, time.UTC)
	return []Window{{ID: "deploycal-item-20000102T1400", WikiID: "deploycal-item-20000102T1400", Name: "Wiki window", Kind: "backport", Start: start, End: start.Add(time.Hour), Source: "wiki"}}, nil, nil
}

// Refresh is single-flight: a refresh asked for while one runs joins it
// (one read of the wiki, the same answer for both), and one asked for
// right after waits out the minimum interval before reading again, so no
// older read can land after a newer one and nobody can make the bot read
// the wiki in a loop.
func TestRefreshIsSingleFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t, "calendar: {refresh: 15m}\n")
		f := &slowFetcher{release: make(chan struct{})}
		svc := NewService(ServiceOptions{Config: cfg, Book: NewBook(testDB(t)), Fetcher: f, MinRefresh: 30 * time.Second})
		ctx := context.Background()

		var wg sync.WaitGroup
		answers := make([]string, 2)
		for i := range answers {
			wg.Go(func() {
				text, err := svc.Refresh(ctx)
				if err != nil {
					t.Errorf("refresh %d: %v", i, err)
				}
				answers[i] = text.String()
			})
		}
		synctest.Wait()
		if n := f.reads.Load(); n != 1 {
			t.Fatalf("two refreshes at once read the wiki %d times; want 1", n)
		}
		close(f.release)
		wg.Wait()
		if answers[0] != answers[1] || answers[0] == "" {
			t.Errorf("the two refreshes answered %q and %q; want the same answer", answers[0], answers[1])
		}

		// Asked again at once: it waits out the interval, and a third
		// asking meanwhile joins it.
		start := time.Now()
		for range 2 {
			wg.Go(func() {
				if _, err := svc.Refresh(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		synctest.Wait()
		if n := f.reads.Load(); n != 1 {
			t.Errorf("a refresh right after another read the wiki at once (%d reads)", n)
		}
		wg.Wait()
		if n, waited := f.reads.Load(), time.Since(start); n != 2 || waited != 30*time.Second {
			t.Errorf("after the interval: %d reads, waited %v; want 2 reads after 30s", n, waited)
		}
	})
}

// pageFetcher is a wiki whose page always holds the same windows.
type pageFetcher []Window

func (p pageFetcher) Fetch(context.Context) ([]Window, []string, error) { return p, nil, nil }

// The scheduled refresh tells the rooms once that a window is over its
// limit, and again only when other patches end up beyond it.
func TestScheduledRefreshFlagsOverCapacityOnce(t *testing.T) {
	start := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Hour)
	page := pageFetcher{{ID: "deploycal-item-x", WikiID: "deploycal-item-x", Name: "Late backport window", Kind: "backport",
		Start: start, End: start.Add(time.Hour), MaxPatches: 2, Source: "wiki",
		Changes: []WikiChange{{Change: 1, Owner: "alice"}, {Change: 2, Owner: "bob"}, {Change: 3, Owner: "carol"}}}}
	cfg := testConfig(t, "calendar: {refresh: 15m}\n")
	svc := NewService(ServiceOptions{Config: cfg, Book: NewBook(testDB(t)), Fetcher: page, MinRefresh: time.Nanosecond})
	chat := &fakeChat{}
	a := NewAnnouncer(svc, chat, cfg, slog.New(slog.DiscardHandler))
	a.refreshAndTell(t.Context())
	a.refreshAndTell(t.Context())
	sent := chat.take()
	if len(sent) != 1 || !strings.Contains(sent[0], "has 3 patches for 2 places: 3 (carol) is beyond the limit of 2 patches; there is no later backport window with room in the calendar.") {
		t.Errorf("two scheduled refreshes said %q; want the window flagged once", sent)
	}
	if _, _, ok, _ := svc.Book().Dequeue(1, "alice", time.Now()); !ok {
		t.Fatal("dequeue 1")
	}
	svc.Book().Enqueue("deploycal-item-x", 0, Patch{Change: 4, Owner: "dave", By: "dave", At: time.Now()})
	a.refreshAndTell(t.Context())
	if sent := chat.take(); len(sent) != 1 || !strings.Contains(sent[0], "4 (dave) is beyond the limit") {
		t.Errorf("after the patches beyond the limit changed the room got %q; want a new flag", sent)
	}
}
