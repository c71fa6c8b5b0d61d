package matrixtest

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/jouncebot/jouncebot/internal/testenv"
)

// Watcher syncs a client in the background and records every timeline
// event of joined rooms, and every invite, that arrives after Watch
// returned.
type Watcher struct {
	cli *mautrix.Client

	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever events arrive
	events  []*event.Event
	invites []id.RoomID
	taken   map[int]bool
	invited int // invites returned by WaitAnyInvite
	err     error
}

// DefaultWait is how long Wait waits before failing the test.
var DefaultWait = testenv.Scale(20 * time.Second)

// Watch starts syncing cli until the test ends. History from before the
// call is skipped.
func Watch(t testing.TB, cli *mautrix.Client) *Watcher {
	t.Helper()
	w := &Watcher{cli: cli, changed: make(chan struct{}), taken: map[int]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	first, err := cli.FullSyncRequest(ctx, mautrix.ReqSync{Timeout: 0})
	if err != nil {
		cancel()
		t.Fatalf("matrixtest: initial sync of %s: %v", cli.UserID, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.loop(ctx, first.NextBatch)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func (w *Watcher) loop(ctx context.Context, since string) {
	// A timeline longer than the filter's limit comes back cut ("limited"),
	// its first events left out: ask for more than any test sends at once.
	filter, err := json.Marshal(&mautrix.Filter{Room: &mautrix.RoomFilter{Timeline: &mautrix.FilterPart{Limit: 1000}}})
	if err != nil {
		panic(err)
	}
	for ctx.Err() == nil {
		resp, err := w.cli.FullSyncRequest(ctx, mautrix.ReqSync{Timeout: 10000, Since: since, FilterID: string(filter)})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		since = resp.NextBatch
		w.mu.Lock()
		w.err = nil
		for roomID, room := range resp.Rooms.Join {
			for _, ev := range room.Timeline.Events {
				ev.RoomID = roomID
				_ = ev.Content.ParseRaw(ev.Type)
				w.events = append(w.events, ev)
			}
		}
		for roomID := range resp.Rooms.Invite {
			w.invites = append(w.invites, roomID)
		}
		close(w.changed)
		w.changed = make(chan struct{})
		w.mu.Unlock()
	}
}

// Events returns every event recorded so far.
func (w *Watcher) Events() []*event.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*event.Event(nil), w.events...)
}

// Wait returns the first recorded event that matches and was not returned
// by an earlier Wait, waiting up to DefaultWait for it.
func (w *Watcher) Wait(t testing.TB, match func(*event.Event) bool) *event.Event {
	t.Helper()
	ev, err := w.WaitFor(DefaultWait, match)
	if err != nil {
		t.Fatalf("matrixtest: %s: %v", w.cli.UserID, err)
	}
	return ev
}

// WaitFor is Wait with a limit and an error instead of a test failure.
func (w *Watcher) WaitFor(limit time.Duration, match func(*event.Event) bool) (*event.Event, error) {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		for i, ev := range w.events {
			if !w.taken[i] && match(ev) {
				w.taken[i] = true
				w.mu.Unlock()
				return ev, nil
			}
		}
		changed, syncErr := w.changed, w.err
		w.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			if syncErr != nil {
				return nil, errors.Join(errors.New("no matching event before the deadline"), syncErr)
			}
			return nil, errors.New("no matching event before the deadline")
		}
	}
}

// WaitInvite waits until the client is invited to room.
func (w *Watcher) WaitInvite(t testing.TB, room id.RoomID) {
	t.Helper()
	deadline := time.NewTimer(DefaultWait)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		for _, r := range w.invites {
			if r == room {
				w.mu.Unlock()
				return
			}
		}
		changed := w.changed
		w.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("matrixtest: %s was not invited to %s", w.cli.UserID, room)
		}
	}
}

// WaitAnyInvite returns the next invite not returned before.
func (w *Watcher) WaitAnyInvite(t testing.TB) id.RoomID {
	t.Helper()
	deadline := time.NewTimer(DefaultWait)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		if w.invited < len(w.invites) {
			r := w.invites[w.invited]
			w.invited++
			w.mu.Unlock()
			return r
		}
		changed := w.changed
		w.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("matrixtest: %s was not invited anywhere", w.cli.UserID)
		}
	}
}

// Message matches m.room.message events in room from sender (any sender
// when empty) whose content satisfies ok (any when nil).
func Message(room id.RoomID, sender id.UserID, ok func(*event.MessageEventContent) bool) func(*event.Event) bool {
	return func(ev *event.Event) bool {
		if ev.Type != event.EventMessage || ev.RoomID != room || (sender != "" && ev.Sender != sender) {
			return false
		}
		return ok == nil || ok(ev.Content.AsMessage())
	}
}

// Member matches a membership change of user in room to membership.
func Member(room id.RoomID, user id.UserID, membership event.Membership) func(*event.Event) bool {
	return func(ev *event.Event) bool {
		return ev.Type == event.StateMember && ev.RoomID == room && ev.GetStateKey() == user.String() &&
			ev.Content.AsMember().Membership == membership
	}
}
