package app_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lrstanley/girc"

	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/bot/irc/irctest"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// A flood of private "help"s from an unidentified user, while a sandbox
// deploy runs, neither stalls the deploy nor holds up its question: the
// flooder gets its budget of replies and one "slow down", and the deploy's
// test question reaches the channel at once, ahead of anything queued.
func TestHelpFloodDoesNotStallDeploy(t *testing.T) {
	t.Parallel()
	ircd := irctest.Start(t)
	ircd.Register(t, "amir", "amirpassword1")
	amir := ircd.Client(t, irctest.ClientConfig{Nick: "amir", Account: "amir", Password: "amirpassword1"})
	amir.Join(t, "#ops")
	mallory := ircd.Client(t, irctest.ClientConfig{Nick: "mallory"})

	// The bot sits on the port with InspIRCd's stock flood limits.
	logs := startIRCApp(t, ircd.StrictAddr, nil)
	amir.WaitEvent(t, func(e *girc.Event) bool {
		return e.Command == girc.JOIN && e.Source != nil && e.Source.Name == "jouncebot"
	})

	const helps = 100
	flood := time.Now() // before the first help: the budget's clock starts after this
	for i := range helps {
		mallory.Say("jouncebot", "help")
		if i == 1 {
			amir.Say("#ops", "jouncebot: deploy 445113")
		}
	}
	start := time.Now()
	fromBot := func(text string) func(irctest.Msg) bool {
		return func(m irctest.Msg) bool {
			return m.Nick == "jouncebot" && m.Target == "#ops" && strings.Contains(m.Text, text)
		}
	}
	if _, err := amir.ExpectWithin(testenv.Scale(2*time.Minute), fromBot("synced to the testservers")); err != nil {
		t.Fatal(err)
	}
	question := time.Since(start)
	// The question waits for the deploy's own lines before it, never
	// for the flooder's replies: the flooder gets one answer and one
	// slow-down (checked below), so nothing of the flood is queued
	// ahead of the deploy (no clock is asserted: a busy machine may be
	// slow, the order and the counts hold).
	amir.Say("#ops", "tested ok")
	amir.Expect(t, fromBot("deploy 1 is done"))
	t.Logf("test question after %v, deploy done after %v", question.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	// The flooder was answered within its budget and told to slow down
	// after its first answer.
	if _, err := mallory.ExpectWithin(testenv.Scale(2*time.Minute), func(m irctest.Msg) bool {
		return m.Nick == "jouncebot" && strings.HasPrefix(m.Text, "You are asking faster than I can answer")
	}); err != nil {
		t.Fatal(err)
	}
	// The budget: 40 lines at once, then one every 3 seconds (bot's
	// reply limiter), counted from the first help. A reply is charged
	// whole before its first line is sent, so a list that brings the
	// flooder's lines to n cannot begin to arrive before (n-40)*3s after
	// the flood began: a slow machine stretches the flood and may earn a
	// second list, never one early. (The slow-down is not charged; one
	// line of slack absorbs the budget's rounding.)
	const burst, every = 40, 3 * time.Second
	type reply struct {
		at    time.Time
		lines int
	}
	var replies []reply
	slow := 0
	for _, m := range mallory.Messages() {
		switch {
		case m.Nick != "jouncebot":
		case strings.HasPrefix(m.Text, "You are asking faster"):
			slow++
		case strings.HasPrefix(m.Text, "Address me as") || len(replies) == 0:
			replies = append(replies, reply{at: m.At, lines: 1})
		default:
			replies[len(replies)-1].lines++
		}
	}
	lists, charged := len(replies), 0
	for i, r := range replies {
		charged += min(r.lines, burst) // a reply longer than the burst is charged the burst
		if earliest := flood.Add(time.Duration(charged-burst-1) * every); r.at.Before(earliest) {
			t.Errorf("the flooder's help list %d (lines up to %d) began %v after the flood began, before its budget allowed (%v)",
				i+1, charged, r.at.Sub(flood).Round(time.Millisecond), earliest.Sub(flood))
		}
	}
	if lists < 1 || slow < 1 {
		t.Errorf("the flooder got %d help lists and %d slow-downs for %d helps; want at least one of each", lists, slow, helps)
	}
	if strings.Contains(logs.String(), "disconnected") {
		t.Errorf("the bot was disconnected during the flood")
	}
}

// startIRCApp runs the built-in default (example calendar, deploy sandbox)
// on the IRC server at addr, in channel #ops, at 14:20 UTC on a Wednesday
// (in the afternoon window). It returns the bot's log.
func startIRCApp(t *testing.T, addr string, pace *config.Pace) *syncBuffer {
	t.Helper()
	cfg := demoConfig(t, "")
	cfg.Networks = append(cfg.Networks, config.Network{Name: "libera", Type: "irc", Server: addr, Pace: pace,
		Nick: "jouncebot", User: "jouncebot", RealName: "jouncebot", Channels: []config.Channel{{Name: "#ops"}}, PingTimeout: time.Minute})
	logs := &syncBuffer{}
	a, err := app.New(app.Options{Config: cfg, Log: slog.New(slog.NewTextHandler(logs, nil)),
		Now: func() time.Time { return time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("bot log:\n%s", logs)
		}
	})
	return logs
}

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
