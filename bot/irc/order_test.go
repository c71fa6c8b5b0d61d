package irc_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/bot/irc"
	"github.com/jouncebot/jouncebot/bot/irc/irctest"
	"github.com/jouncebot/jouncebot/config"
)

// Lines sent in order to one channel or person arrive, all of them, in that
// order: 200 lines from five goroutines (replies of one to three lines to
// the channel and privately, priority sends to the channel), started with
// the bucket partly spent. Every tenth line a sender waits until its line
// has arrived, so the queue runs dry and later replies take the path where
// the caller writes a reply on an idle connection itself.
func TestLinesToOneTargetKeepTheirOrder(t *testing.T) {
	t.Parallel()
	srv := irctest.Start(t)
	srv.Register(t, botNick, botPass)
	srv.Register(t, "alice", "alicepassword1")
	alice := srv.Client(t, irctest.ClientConfig{Nick: "alice", Account: "alice", Password: "alicepassword1"})
	alice.Join(t, channel)
	n := botNetwork(srv)
	n.Server = srv.Addr // no flood limit: the bot's own pace is what holds the lines
	n.Pace = &config.Pace{Burst: 10, Rate: 40}
	b := startBot(t, n)
	waitUntil(t, "the bot joins", func() bool { return joins(alice, botNick)() >= 1 })
	ctx := context.Background()
	toChannel := bot.Target{Network: "testnet", Room: channel}
	toAlice := bot.Target{Network: "testnet", Room: "alice", Private: true}

	// Half of the burst is spent.
	for i := range 5 {
		if err := b.tr.Send(ctx, toChannel, bot.T(fmt.Sprintf("warm %d", i))); err != nil {
			t.Fatal(err)
		}
	}

	type sender struct {
		name     string
		to       bot.Target
		priority bool
	}
	senders := []sender{
		{"a", toChannel, false},
		{"b", toChannel, false},
		{"c", toAlice, false},
		{"d", toAlice, false},
		{"p", toChannel, true},
	}
	const perSender = 40 // 200 lines in all
	arrived := func(target, line string) bool {
		for _, m := range alice.Messages() {
			if m.Nick == botNick && strings.EqualFold(m.Target, target) && m.Text == line {
				return true
			}
		}
		return false
	}
	errs := make(chan error, len(senders))
	var wg sync.WaitGroup
	for _, s := range senders {
		wg.Go(func() {
			for i := 0; i < perSender; {
				k := min(1+i%3, perSender-i) // lines in this send
				var lines []string
				for j := range k {
					lines = append(lines, fmt.Sprintf("%s %d", s.name, i+j))
				}
				i += k
				text := bot.T(strings.Join(lines, "\n"))
				send := b.tr.Send
				if s.priority {
					send = b.tr.SendPriority
				}
				if err := send(ctx, s.to, text); err != nil {
					errs <- fmt.Errorf("sender %s: %w", s.name, err)
					return
				}
				if i%10 < k { // passed a multiple of ten: let the queue run dry
					last := lines[len(lines)-1]
					deadline := time.Now().Add(irctest.Timeout)
					for !arrived(s.to.Room, last) {
						if time.Now().After(deadline) {
							errs <- fmt.Errorf("sender %s: %q did not arrive within %v", s.name, last, irctest.Timeout)
							return
						}
						time.Sleep(5 * time.Millisecond)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	// Wait for the last line of every sender, then compare.
	for _, s := range senders {
		last := fmt.Sprintf("%s %d", s.name, perSender-1)
		waitUntil(t, last+" arrives", func() bool { return arrived(s.to.Room, last) })
	}
	got := map[string][]int{}
	for _, m := range alice.Messages() {
		if m.Nick != botNick {
			continue
		}
		name, num, ok := strings.Cut(m.Text, " ")
		if !ok || name == "warm" {
			continue
		}
		i, err := strconv.Atoi(num)
		if err != nil {
			t.Errorf("unexpected line %v", m)
			continue
		}
		got[name+" to "+strings.ToLower(m.Target)] = append(got[name+" to "+strings.ToLower(m.Target)], i)
	}
	for _, s := range senders {
		key := s.name + " to " + strings.ToLower(s.to.Room)
		seq := got[key]
		ok := len(seq) == perSender
		for i := 0; ok && i < perSender; i++ {
			ok = seq[i] == i
		}
		if !ok {
			t.Errorf("sender %s: lines arrived as %v, want 0 to %d in order, each once", key, seq, perSender-1)
		}
	}
	if len(got) != len(senders) {
		t.Errorf("lines arrived from %d sender/target pairs, want %d: %v", len(got), len(senders), got)
	}
}

// Replies to different targets take turns: a short answer in the channel
// does not wait for a long private reply queued before it to be sent.
func TestShortReplyDoesNotWaitForALongOneToSomeoneElse(t *testing.T) {
	t.Parallel()
	srv := irctest.Start(t)
	srv.Register(t, botNick, botPass)
	srv.Register(t, "alice", "alicepassword1")
	alice := srv.Client(t, irctest.ClientConfig{Nick: "alice", Account: "alice", Password: "alicepassword1"})
	alice.Join(t, channel)
	n := botNetwork(srv)
	n.Server = srv.Addr // the default pace: five lines, then one a second
	b := startBot(t, n)
	waitUntil(t, "the bot joins", func() bool { return joins(alice, botNick)() >= 1 })
	ctx := context.Background()

	const long = 30
	var lines []string
	for i := range long {
		lines = append(lines, fmt.Sprintf("help %d", i))
	}
	if err := b.tr.Send(ctx, bot.Target{Network: "testnet", Room: "alice", Private: true}, bot.T(strings.Join(lines, "\n"))); err != nil {
		t.Fatal(err)
	}
	if err := b.tr.Send(ctx, bot.Target{Network: "testnet", Room: channel}, bot.T("the answer")); err != nil {
		t.Fatal(err)
	}
	alice.Expect(t, func(m irctest.Msg) bool { return irctest.FromTo(botNick, channel)(m) && m.Text == "the answer" })
	before := 0
	for _, m := range alice.Messages() {
		if irctest.FromTo(botNick, "alice")(m) {
			before++
		}
	}
	// The burst goes at once, then the two queues take turns.
	if before > config.DefaultPaceBurst+3 {
		t.Errorf("the channel answer came after %d of the %d private lines queued before it, want at most %d", before, long, config.DefaultPaceBurst+3)
	}
}

// Replies queued while the connection is down arrive after the reconnect,
// all of them and in order, in a channel the bot must rejoin first (a
// channel line sent before the JOIN is refused), on a server with
// InspIRCd's stock flood limits, without the bot being disconnected for
// flooding.
func TestBacklogAfterReconnectArrivesInOrder(t *testing.T) {
	t.Parallel()
	srv := irctest.Start(t)
	srv.Register(t, botNick, botPass)
	srv.Register(t, "alice", "alicepassword1")
	alice := srv.Client(t, irctest.ClientConfig{Nick: "alice", Account: "alice", Password: "alicepassword1"})
	alice.Join(t, channel)
	n := botNetwork(srv)
	// Short, so the paused server is noticed soon; long enough that the
	// watchdog's PINGs (paced like every line) leave room for the backlog.
	n.PingTimeout = 3 * time.Second
	b := startBot(t, n, irc.WithBackoff(irc.Backoff{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond}))
	waitUntil(t, "the bot joins", func() bool { return joins(alice, botNick)() >= 1 })
	srv.Pause()
	waitUntil(t, "the bot notices the silence", func() bool { return strings.Contains(b.tr.Status(), "ping timeout") })
	ctx := context.Background()
	const queued = 12
	for i := range queued {
		if err := b.tr.Send(ctx, bot.Target{Network: "testnet", Room: channel}, bot.T(fmt.Sprintf("queued %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	srv.Resume()
	for i := range queued {
		want := fmt.Sprintf("queued %d", i)
		m := alice.Expect(t, func(m irctest.Msg) bool {
			return strings.HasPrefix(m.Nick, botNick) && strings.EqualFold(m.Target, channel) && strings.HasPrefix(m.Text, "queued ")
		})
		if m.Text != want {
			t.Fatalf("after the reconnect the channel got %q, want %q (lines 0 to %d in order, each once)", m.Text, want, queued-1)
		}
	}
	if logs := b.logs.String(); strings.Contains(logs, "Excess Flood") {
		t.Errorf("the bot was disconnected for flooding:\n%s", logs)
	}
}
