package matrix

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/bot/matrix/matrixtest"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// botNotices returns the bodies of the bot's messages in room that start
// with prefix, in order.
func (e *env) botNotices(room id.RoomID, prefix string) []string {
	var out []string
	for _, ev := range e.aliceW.Events() {
		if ev.Type == event.EventMessage && ev.RoomID == room && ev.Sender == e.botUser.ID {
			if b := ev.Content.AsMessage().Body; strings.HasPrefix(b, prefix) {
				out = append(out, b)
			}
		}
	}
	return out
}

func announce(t *testing.T, tr *Transport, room id.RoomID, text string) {
	t.Helper()
	if err := tr.Send(context.Background(), bot.Target{Network: "matrix", Room: room.String()}, bot.T(text)); err != nil {
		t.Fatalf("Send(%q): %v", text, err)
	}
}

func TestRateLimitsAreHonouredAndNothingIsDropped(t *testing.T) {
	e := newEnv(t)
	room := e.publicRoom(t)
	p := e.srv.Proxy(t)
	n := e.network(room.String())
	n.Homeserver = p.URL
	r := e.start(t, n)

	const wait = 300 * time.Millisecond
	p.Limit(4, wait, matrixtest.IsSend)
	p.Limit(2, wait, matrixtest.IsSync)
	var want []string
	for i := range 5 {
		want = append(want, fmt.Sprintf("announce %d", i))
		announce(t, r.tr, room, want[i])
	}
	send(t, e.alice, room, "jouncebot: ping after limits")
	e.waitReply(t, room, "alice: pong after limits")
	announce(t, r.tr, room, "done")
	e.waitReply(t, room, "done")

	if diff := cmp.Diff(want, e.botNotices(room, "announce")); diff != "" {
		t.Errorf("announcements (-want +got):\n%s", diff)
	}
	// Every request refused with M_LIMIT_EXCEEDED was repeated no sooner
	// than retry_after_ms.
	reqs := p.Requests()
	limited := 0
	for i, rq := range reqs {
		if !rq.Limited {
			continue
		}
		limited++
		for _, next := range reqs[i+1:] {
			if next.Method == rq.Method && sameKind(next.Path, rq.Path) {
				if gap := next.Time.Sub(rq.Time); gap < wait {
					t.Errorf("%s %s repeated after %s, before retry_after_ms %s", rq.Method, rq.Path, gap, wait)
				}
				break
			}
		}
	}
	if limited != 6 {
		t.Errorf("%d requests were rate limited, want 6", limited)
	}
}

func sameKind(a, b string) bool {
	return strings.Contains(a, "/send/") == strings.Contains(b, "/send/") && strings.HasSuffix(a, "/sync") == strings.HasSuffix(b, "/sync")
}

func TestHomeserverDown(t *testing.T) {
	e := newEnv(t)
	room := e.publicRoom(t)
	p := e.srv.Proxy(t)
	n := e.network(room.String())
	n.Homeserver = p.URL
	r := e.start(t, n)

	p.SetDown(true)
	start := time.Now()
	want := []string{"during outage 0", "during outage 1", "during outage 2"}
	for _, w := range want {
		announce(t, r.tr, room, w)
	}
	if d := time.Since(start); d > testenv.Scale(time.Second) {
		t.Errorf("Send blocked for %s while the homeserver was down", d)
	}
	send(t, e.alice, room, "jouncebot: ping during outage")
	p.SetDown(false)

	e.waitReply(t, room, "alice: pong during outage")
	if diff := cmp.Diff(want, e.botNotices(room, "during outage")); diff != "" {
		t.Errorf("messages queued during the outage (-want +got):\n%s", diff)
	}
}

func TestSendQueueFull(t *testing.T) {
	q, d, f := queueSize, enqueueTimeout, flushTimeout
	t.Cleanup(func() { queueSize, enqueueTimeout, flushTimeout = q, d, f }) // after the transport stopped
	queueSize, enqueueTimeout, flushTimeout = 2, 200*time.Millisecond, 100*time.Millisecond

	e := newEnv(t)
	room := e.publicRoom(t)
	p := e.srv.Proxy(t)
	n := e.network(room.String())
	n.Homeserver = p.URL
	r := e.start(t, n)
	p.SetDown(true)

	var err error
	for i := 0; i < 10 && err == nil; i++ {
		start := time.Now()
		err = r.tr.Send(context.Background(), bot.Target{Network: "matrix", Room: room.String()}, bot.T("x"))
		if d := time.Since(start); d > enqueueTimeout+testenv.Scale(time.Second) {
			t.Fatalf("Send blocked for %s", d)
		}
	}
	if !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Send with a full queue: %v, want ErrQueueFull", err)
	}
	// Once a send has failed for want of a homeserver, a full queue is
	// reported at once: an announcement to every network must not wait on
	// this one.
	deadline := time.Now().Add(testenv.Scale(10 * time.Second))
	for {
		start := time.Now()
		err := r.tr.Send(context.Background(), bot.Target{Network: "matrix", Room: room.String()}, bot.T("x"))
		if !errors.Is(err, ErrQueueFull) {
			t.Fatalf("Send with a full queue: %v, want ErrQueueFull", err)
		}
		if time.Since(start) < enqueueTimeout/2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Send keeps waiting for a queue nothing drains")
		}
	}
}

func TestStopsPromptlyWhileHomeserverUnreachable(t *testing.T) {
	e := newEnv(t)
	p := e.srv.Proxy(t)
	p.SetDown(true)
	n := e.network()
	n.Homeserver = p.URL
	db := openDB(t, e.dbPath)
	tr, err := New(Config{Network: n, Nick: "jouncebot", DB: db, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx, bot.HandlerFunc(func(context.Context, *bot.Request) {})) }()
	deadline := time.Now().Add(testenv.Scale(10 * time.Second))
	for !strings.HasPrefix(tr.Status(), "cannot log in") {
		if time.Now().After(deadline) {
			t.Fatalf("status %q, want it to say the login is being retried", tr.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tr.Send(ctx, bot.Target{Network: "matrix", Room: "!nowhere:localhost"}, bot.T("queued")); err != nil {
		t.Errorf("Send while logging in: %v", err)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(testenv.Scale(2 * time.Second)):
		t.Fatalf("Run did not return within %s of being stopped", testenv.Scale(2*time.Second))
	}
	if d := time.Since(start); d > testenv.Scale(time.Second) {
		t.Errorf("Run took %s to stop", d)
	}
}

// dendrite's own rate limiting (one request per 300 ms, scaled: on a busy
// machine the bot's two joins are further apart): the transport waits out
// retry_after_ms and gets into both rooms.
func TestRealRateLimits(t *testing.T) {
	e := newEnv(t, matrixtest.WithRateLimit(1, testenv.Scale(300*time.Millisecond)))
	var rooms []id.RoomID
	for range 2 {
		err := matrixtest.WaitOutLimits(context.Background(), func() error {
			resp, err := e.alice.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{Preset: "public_chat"})
			if err == nil {
				rooms = append(rooms, resp.RoomID)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	logs := &syncBuffer{}
	e.log = slog.New(slog.NewTextHandler(logs, nil))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("transport log:\n%s", logs)
		}
	})
	e.start(t, e.network(rooms[0].String(), rooms[1].String()))
	for _, room := range rooms {
		e.aliceW.Wait(t, matrixtest.Member(room, e.botUser.ID, event.MembershipJoin))
	}
	send(t, e.alice, rooms[1], "jouncebot: ping limited")
	e.waitReply(t, rooms[1], "alice: pong limited")
	if !strings.Contains(logs.String(), "M_LIMIT_EXCEEDED") {
		t.Errorf("the transport was never rate limited; the test proves nothing:\n%s", logs)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
