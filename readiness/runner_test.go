package readiness_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/readiness"
)

type fakeChat struct {
	mu   sync.Mutex
	sent map[string][]string // room or "dm:<name>" -> texts
}

func (c *fakeChat) Rooms() []bot.Target {
	return []bot.Target{{Network: "libera", Room: "#wikimedia-operations"}}
}

func (c *fakeChat) Send(_ context.Context, to bot.Target, t bot.Text) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent[to.Room] = append(c.sent[to.Room], t.String())
	return nil
}

func (c *fakeChat) DirectTarget(_ context.Context, network string, p bot.Person) (bot.Target, bool) {
	return bot.Target{Network: network, Room: "dm:" + p.Name}, true
}

// The runner checks a window once, its lead before the start: one summary
// in the room, a private message to the owner with a problem (and none to
// the owner without), the security details only to the security
// destination; a second tick (or a restart) sends nothing more.
func TestRunnerReportsOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	sec := w.upload("bob", "", "Setup: log the request size", gerrittest.File{Path: "includes/Setup.php", Content: "<?php\n// log\n"})
	w.queue(w.win, "alice", w.sb.Changes["config"])
	w.queue(w.win, "bob", sec)
	chat := &fakeChat{sent: map[string][]string{}}
	var security []string
	r := &readiness.Runner{Checker: w.checker, Chat: chat, Notices: w.book, Lead: 10 * time.Minute, Person: person,
		URL:      func(id string) string { return "https://bot.example.org/windows/" + id },
		Security: func(_ context.Context, s string) { security = append(security, s) }}
	r.Tick(context.Background(), w.win.Start.Add(-11*time.Minute))
	if len(chat.sent) != 0 {
		t.Fatalf("reported before the lead: %v", chat.sent)
	}
	before := snapshot(t, w.sb.Staging)
	r.Tick(context.Background(), w.win.Start.Add(-10*time.Minute))
	if after := snapshot(t, w.sb.Staging); len(after) != len(before) {
		t.Fatal("staging changed")
	}
	room := chat.sent["#wikimedia-operations"]
	if len(room) != 1 || !strings.HasPrefix(room[0], "UTC late backport window: 1 patch ready, 1 blocked — 445117: merge conflict with a local security patch; bob please talk to the deployers.") {
		t.Errorf("room got %q", room)
	}
	if !strings.Contains(room[0], "Full report: https://bot.example.org/windows/20261127T2300") {
		t.Errorf("no report link: %q", room[0])
	}
	if dm := chat.sent["dm:bob"]; len(dm) != 1 || !strings.Contains(dm[0], "Your change 445117") {
		t.Errorf("bob got %q", dm)
	}
	if dm := chat.sent["dm:alice"]; len(dm) != 0 {
		t.Errorf("alice got %q", dm)
	}
	if len(security) != 1 || !strings.Contains(security[0], "SECURITY: reject oversized requests") {
		t.Errorf("security destination got %q", security)
	}
	r.Tick(context.Background(), w.win.Start.Add(-5*time.Minute))
	if n := len(chat.sent["#wikimedia-operations"]); n != 1 {
		t.Errorf("reported %d times", n)
	}
	// The start ping's line and the deploy command's reason come from the
	// stored result.
	res, ok, err := w.checker.Store.Load(w.win.ID)
	must(t, err)
	if !ok || readiness.StartNote(res) != "Readiness at 22:00 UTC: 445113 ready; 445117 blocked (merge conflict with a local security patch)." {
		t.Errorf("start note: %q", readiness.StartNote(res))
	}
	if p, _, ok := w.checker.Store.Latest(sec, w.now); !ok || p.Status != readiness.Blocked {
		t.Errorf("latest: %+v %v", p, ok)
	}
}

// A lead of 0 turns the automatic check off.
func TestRunnerOff(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.queue(w.win, "alice", w.sb.Changes["config"])
	chat := &fakeChat{sent: map[string][]string{}}
	r := &readiness.Runner{Checker: w.checker, Chat: chat, Notices: w.book, Person: person}
	r.Tick(context.Background(), w.win.Start.Add(-time.Minute))
	if len(chat.sent) != 0 {
		t.Errorf("sent %v", chat.sent)
	}
	if _, ok, _ := w.checker.Store.Load(w.win.ID); ok {
		t.Error("checked")
	}
}
