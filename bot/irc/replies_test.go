package irc

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Replies are served a line per target in turn; each target's lines keep
// their order, and a target's case does not make it another target.
func TestReplyQueueRoundRobin(t *testing.T) {
	q := newReplyQueue(100)
	push := func(target string, texts ...string) {
		var lines []outLine
		for _, s := range texts {
			lines = append(lines, outLine{ev: privmsg(target, s)})
		}
		if err := q.push(context.Background(), target, lines); err != nil {
			t.Fatal(err)
		}
	}
	push("alice", "a0", "a1", "a2")
	push("#ops", "o0")
	push("Alice", "a3", "a4")
	push("bob", "b0", "b1")
	var got []string
	for l, ok := q.pop(); ok; l, ok = q.pop() {
		got = append(got, l.ev.Last())
	}
	want := strings.Fields("a0 o0 b0 a1 b1 a2 a3 a4")
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
	if q.len() != 0 {
		t.Errorf("len = %d after draining", q.len())
	}
}

// A full queue takes a reply whole once there is room, or not at all.
func TestReplyQueueFull(t *testing.T) {
	q := newReplyQueue(3)
	lines := []outLine{{ev: privmsg("a", "1")}, {ev: privmsg("a", "2")}}
	if err := q.push(context.Background(), "a", lines); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.push(ctx, "b", lines); err == nil {
		t.Fatalf("push into a full queue succeeded")
	}
	if q.len() != 2 {
		t.Errorf("len = %d, want 2: a refused push left lines behind", q.len())
	}
	done := make(chan error)
	go func() { done <- q.push(context.Background(), "b", lines) }()
	q.pop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if q.len() != 3 {
		t.Errorf("len = %d, want 3", q.len())
	}
}
