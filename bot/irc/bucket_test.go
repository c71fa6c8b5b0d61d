package irc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
)

func TestBackoffDelay(t *testing.T) {
	b := DefaultBackoff
	tests := []struct {
		n      int
		jitter float64
		want   time.Duration
	}{
		{0, 0, time.Second}, // 0.75 s clamped up to Min
		{0, 0.5, time.Second},
		{0, 0.999, 1249 * time.Millisecond},
		{1, 0.5, 2 * time.Second},
		{2, 0, 3 * time.Second},
		{3, 0.5, 8 * time.Second},
		{6, 0.5, 64 * time.Second},
		{7, 0, 90 * time.Second}, // 128 s capped to 120 s, then jittered
		{7, 0.5, 2 * time.Minute},
		{64, 0, 90 * time.Second},
		{64, 0.999, 2 * time.Minute},
		{1000, 0.3, 108 * time.Second},
	}
	for _, tt := range tests {
		got := b.Delay(tt.n, tt.jitter).Truncate(time.Millisecond)
		if got != tt.want {
			t.Errorf("Delay(%d, %v) = %v, want %v", tt.n, tt.jitter, got, tt.want)
		}
	}
}

func TestBucketReserve(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		at    []time.Duration // offsets from start of each Reserve
		waits []time.Duration
	}{
		{"burst then paced",
			[]time.Duration{0, 0, 0, 0, 0, 0, 0},
			[]time.Duration{0, 0, 0, 0, 0, time.Second, 2 * time.Second}},
		{"refills over time",
			[]time.Duration{0, 0, 0, 0, 0, 3 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second},
			[]time.Duration{0, 0, 0, 0, 0, 0, 0, 0, time.Second}},
		{"never above burst",
			[]time.Duration{time.Hour, time.Hour, time.Hour, time.Hour, time.Hour, time.Hour},
			[]time.Duration{0, 0, 0, 0, 0, time.Second}},
		{"steady one a second never waits",
			[]time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 5 * time.Second, 6 * time.Second},
			[]time.Duration{0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := DefaultBucket()
			var got []time.Duration
			for _, at := range tt.at {
				got = append(got, b.Reserve(start.Add(at)))
			}
			if d := cmp.Diff(tt.waits, got); d != "" {
				t.Errorf("waits (-want +got):\n%s", d)
			}
		})
	}
}

// TestSendPacing checks the queue end to end with a fake clock: lines
// queued at once leave in order, a burst at once and then one a second.
func TestSendPacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr, err := New(config.Network{Name: "n", Type: "irc", Server: "irc.invalid:6667", Nick: "jb", User: "jb"},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		s := &session{t: tr, bucket: DefaultBucket()}
		var sent []time.Duration
		start := time.Now()
		send := func(outLine) { sent = append(sent, time.Since(start)) }
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		for i := range 8 {
			if err := tr.Send(ctx, bot.Target{Room: "#ops"}, bot.T(string(rune('a'+i)))); err != nil {
				t.Fatal(err)
			}
		}
		for range 8 {
			l, _ := tr.replies.pop()
			tr.pace(ctx, s, l, send)
		}
		want := []time.Duration{0, 0, 0, 0, 0, time.Second, 2 * time.Second, 3 * time.Second}
		if d := cmp.Diff(want, sent); d != "" {
			t.Errorf("send times (-want +got):\n%s", d)
		}
	})
}

// TestConcurrentSendsKeepTheirLinesTogether: the lines of one reply are
// never interleaved with another reply's.
func TestConcurrentSendsKeepTheirLinesTogether(t *testing.T) {
	tr, err := New(config.Network{Name: "n", Type: "irc", Server: "irc.invalid:6667", Nick: "jb", User: "jb"},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	const senders, lines = 8, 5
	done := make(chan struct{})
	for i := range senders {
		go func() {
			defer func() { done <- struct{}{} }()
			var b strings.Builder
			for j := range lines {
				fmt.Fprintf(&b, "%d-%d\n", i, j)
			}
			if err := tr.Send(t.Context(), bot.Target{Room: "#ops"}, bot.T(b.String())); err != nil {
				t.Error(err)
			}
		}()
	}
	for range senders {
		<-done
	}
	var got []string
	for l, ok := tr.replies.pop(); ok; l, ok = tr.replies.pop() {
		got = append(got, l.ev.Last())
	}
	for k := 0; k < len(got); k += lines {
		sender := strings.Split(got[k], "-")[0]
		for j := range lines {
			if want := fmt.Sprintf("%s-%d", sender, j); got[k+j] != want {
				t.Fatalf("line %d is %q, want %q; all: %q", k+j, got[k+j], want, got)
			}
		}
	}
}

func TestReconnectDelay(t *testing.T) {
	tr := &Transport{opts: options{backoff: DefaultBackoff}}
	tests := []struct {
		n      int
		jitter float64
		want   time.Duration
	}{
		{0, 0.5, 500 * time.Millisecond},
		{0, 0, 375 * time.Millisecond},
		{quickRetries - 1, 0.999, 624 * time.Millisecond},
		{quickRetries, 0.5, time.Second}, // then the backoff from its start
		{quickRetries + 3, 0.5, 8 * time.Second},
	}
	for _, tt := range tests {
		if got := tr.reconnectDelay(tt.n, tt.jitter).Truncate(time.Millisecond); got != tt.want {
			t.Errorf("reconnectDelay(%d, %v) = %v, want %v", tt.n, tt.jitter, got, tt.want)
		}
	}
}

func TestFlapCounter(t *testing.T) {
	var f flapCounter
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for i := range flapLimit {
		if f.add(start.Add(time.Duration(i) * 10 * time.Second)) {
			t.Fatalf("connection %d lost counted as flapping", i+1)
		}
	}
	if !f.add(start.Add(flapLimit * 10 * time.Second)) {
		t.Errorf("%d losses within %v not counted as flapping", flapLimit+1, flapWindow)
	}
	// Old losses age out of the window.
	if f.add(start.Add(flapWindow + flapLimit*10*time.Second + time.Second)) {
		t.Errorf("losses older than %v still counted", flapWindow)
	}
}
