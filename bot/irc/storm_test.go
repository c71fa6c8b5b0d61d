package irc_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lrstanley/girc"

	"github.com/jouncebot/jouncebot/bot/irc/irctest"
)

// TestBackInSecondsAfterRestarts restarts the server ten times, each as
// soon as the bot has answered after the previous restart, and asks the bot
// after each: it must answer within 3 s of the server being ready (both
// servers up and linked). The time includes alice's own reconnect and join.
func TestBackInSecondsAfterRestarts(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const bound = 3 * time.Second
	var took []time.Duration
	for round := range 10 {
		w.srv.Stop()
		w.srv.Restart(t)
		ready := time.Now()
		alice := w.srv.Client(t, irctest.ClientConfig{Nick: "alice", Account: "alice", Password: "alicepassword1"})
		alice.Join(t, channel)
		waitUntil(t, "the bot is in "+channel, func() bool {
			ch := alice.LookupChannel(channel)
			return ch != nil && ch.UserIn(botNick)
		})
		want := fmt.Sprintf("echo round %d", round)
		alice.Say(channel, "jouncebot: "+want)
		m, err := alice.ExpectWithin(time.Minute, func(m irctest.Msg) bool { return m.Nick == botNick && m.Text == want })
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		took = append(took, m.At.Sub(ready))
		alice.Quit("next round")
		alice.WaitEvent(t, func(e *girc.Event) bool { return e.Command == girc.ERROR || e.Command == girc.DISCONNECTED })
	}
	t.Logf("answered after readiness: %v", took)
	for i, d := range took {
		if d > bound {
			t.Errorf("restart %d: the bot answered %v after the server was ready, want within %v", i+1, d.Round(time.Millisecond), bound)
		}
	}
	if logs := w.bot.logs.String(); strings.Contains(logs, "keeps being lost") {
		t.Errorf("ten restarts were taken for flapping:\n%s", logs)
	}
}
