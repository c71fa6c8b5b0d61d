package deploy_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

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
		out.Notify(context.Background(), deploy.Event{Deploy: "1", Kind: deploy.EventProgress, Text: bot.T(fmt.Sprintf("line %d", i))})
	}
	if want := []string{"line 0", "line 1", "line 2", "line 3", "line 4"}; !slices.Equal(told, want) {
		t.Fatalf("told %q, want %q", told, want)
	}
	// The process stops while sending line 2.
	var sent []string
	ctx, cancel := context.WithCancel(context.Background())
	out.Drain(ctx, func(ctx context.Context, e deploy.Event) {
		sent = append(sent, e.Text.String())
		if e.Text.String() == "line 2" {
			cancel()
		}
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
	out.Notify(ctx, deploy.Event{Deploy: "1", Kind: deploy.EventDone, Text: bot.T("line 5")})
	out.Drain(ctx, func(ctx context.Context, e deploy.Event) {
		sent = append(sent, e.Text.String())
		if e.Kind == deploy.EventDone {
			cancel()
		}
	})
	if want := []string{"line 2", "line 3", "line 4", "line 5"}; !slices.Equal(sent, want) {
		t.Fatalf("after the restart sent %q, want %q", sent, want)
	}
	// line 5's send ended with the context: it is kept, nothing else.
	sent = nil
	ctx, cancel = context.WithCancel(context.Background())
	out.Drain(ctx, func(ctx context.Context, e deploy.Event) { sent = append(sent, e.Text.String()); cancel() })
	if want := []string{"line 5"}; !slices.Equal(sent, want) {
		t.Fatalf("then sent %q, want %q", sent, want)
	}
}
