package deploy_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/store"
)

// The outbox sends what it keeps in order, once each while the process
// runs; what a process had not sent (the event it was sending when it
// stopped included) the next one sends, in order.
func TestOutboxSendsInOrderAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jouncebot.db")
	open := func() *store.DB {
		db, err := store.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open()
	var told []string
	out := deploy.NewOutbox(db, deploy.NotifierFunc(func(_ context.Context, e deploy.Event) { told = append(told, e.Text.String()) }), nil)
	for i := range 5 {
		out.Notify(context.Background(), deploy.Event{Deploy: "1", Kind: deploy.EventProgress, Text: bot.T(fmt.Sprintf("line %d", i)), Time: time.Now()})
	}
	if want := []string{"line 0", "line 1", "line 2", "line 3", "line 4"}; !slices.Equal(told, want) {
		t.Fatalf("told %q, want %q", told, want)
	}
	// The process stops while sending line 2.
	var sent []string
	ctx, cancel := context.WithCancel(context.Background())
	out.Drain(ctx, func(ctx context.Context, e deploy.Event) error {
		sent = append(sent, e.Text.String())
		if e.Text.String() == "line 2" {
			cancel()
		}
		return nil
	})
	db.Close()
	if want := []string{"line 0", "line 1", "line 2"}; !slices.Equal(sent, want) {
		t.Fatalf("the first process sent %q, want %q", sent, want)
	}

	db = open()
	defer db.Close()
	out = deploy.NewOutbox(db, nil, nil)
	sent = nil
	ctx, cancel = context.WithCancel(context.Background())
	out.Notify(ctx, deploy.Event{Deploy: "1", Kind: deploy.EventDone, Text: bot.T("line 5"), Time: time.Now()})
	out.Drain(ctx, func(ctx context.Context, e deploy.Event) error {
		sent = append(sent, e.Text.String())
		if e.Kind == deploy.EventDone {
			cancel()
		}
		return nil
	})
	if want := []string{"line 2", "line 3", "line 4", "line 5"}; !slices.Equal(sent, want) {
		t.Fatalf("after the restart sent %q, want %q", sent, want)
	}
	// line 5's send ended with the context: it is kept, nothing else.
	sent = nil
	ctx, cancel = context.WithCancel(context.Background())
	out.Drain(ctx, func(ctx context.Context, e deploy.Event) error {
		sent = append(sent, e.Text.String())
		cancel()
		return nil
	})
	if want := []string{"line 5"}; !slices.Equal(sent, want) {
		t.Fatalf("then sent %q, want %q", sent, want)
	}
}

// Drain waits for events kept while it waits, sends them as they come
// from several goroutines, keeps an event send could not deliver at all
// (no chat) and tries it again before the ones after it, and drops an
// event too old to be worth saying.
func TestOutboxWaitsRetriesAndDropsStale(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "jouncebot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := deploy.NewOutbox(db, nil, nil)
	out.Notify(context.Background(), deploy.Event{Deploy: "1", Text: bot.T("stale"), Time: time.Now().Add(-2 * time.Hour)})
	sent := make(chan string, 100)
	failed := false
	ctx, cancel := context.WithCancel(context.Background())
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		out.Drain(ctx, func(ctx context.Context, e deploy.Event) error {
			if e.Text.String() == "a0" && !failed {
				failed = true
				return fmt.Errorf("no chat network is connected")
			}
			sent <- e.Text.String()
			return nil
		})
	}()
	for _, who := range []string{"a", "b"} {
		go func() {
			for i := range 10 {
				out.Notify(context.Background(), deploy.Event{Deploy: "1", Text: bot.T(fmt.Sprintf("%s%d", who, i)), Time: time.Now()})
			}
		}()
	}
	next := map[string]int{}
	for range 20 {
		var l string
		select {
		case l = <-sent:
		case <-time.After(time.Minute):
			t.Fatalf("events not sent; got so far %v", next)
		}
		if l == "stale" {
			t.Fatal("an event two hours old was sent")
		}
		who, n := l[:1], int(l[1]-'0')
		if n != next[who] {
			t.Fatalf("%s sent after %s%d: out of order", l, who, next[who]-1)
		}
		next[who]++
	}
	if !failed {
		t.Error("the failed send was not tried")
	}
	cancel()
	<-drained
}
