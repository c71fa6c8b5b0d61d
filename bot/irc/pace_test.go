package irc_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/bot/irc/irctest"
	"github.com/jouncebot/jouncebot/config"
)

// A network configured with a faster pace (burst 10, then 3 lines a
// second) gets lines at that pace, on a server that allows it and
// disconnects for anything more: 40 lines arrive in far less than the 35 s
// the default pace needs, and the bot stays connected.
func TestConfiguredPaceIsHonoured(t *testing.T) {
	t.Parallel()
	srv := irctest.Start(t)
	srv.Register(t, botNick, botPass)
	srv.Register(t, "alice", "alicepassword1")
	alice := srv.Client(t, irctest.ClientConfig{Nick: "alice", Account: "alice", Password: "alicepassword1"})
	alice.Join(t, channel)
	n := botNetwork(srv)
	n.Server = srv.FastAddr
	n.Pace = &config.Pace{Burst: 10, Rate: 3}
	b := startBot(t, n)
	waitUntil(t, "the bot joins", func() bool { return joins(alice, botNick)() >= 1 })

	const lines = 40
	start := time.Now()
	for i := range lines {
		if err := b.tr.Send(context.Background(), bot.Target{Network: "testnet", Room: channel}, bot.T(fmt.Sprintf("line %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range lines {
		want := fmt.Sprintf("line %d", i)
		if _, err := alice.ExpectWithin(time.Minute, func(m irctest.Msg) bool { return m.Nick == botNick && m.Text == want }); err != nil {
			t.Fatalf("after %v: %v", time.Since(start), err)
		}
	}
	took := time.Since(start)
	t.Logf("%d lines in %v", lines, took.Round(time.Millisecond))
	// At the default pace (5, then 1 a second) they take at least 35 s.
	if slowest := time.Duration(lines-config.DefaultPaceBurst) * time.Second; took >= slowest {
		t.Errorf("%d lines took %v, no faster than the default pace (%v)", lines, took, slowest)
	}
	if logs := b.logs.String(); strings.Contains(logs, "disconnected") {
		t.Errorf("the bot was disconnected:\n%s", logs)
	}
}
