package irc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/bot/irc"
	"github.com/jouncebot/jouncebot/bot/irc/irctest"
)

// When services link only 10 s after the IRC server is up, the bot first
// registers without its account; it says so in its log and Status, and
// ends up logged in once services are there, and logs that too.
func TestLogsInWhenServicesComeLate(t *testing.T) {
	t.Parallel()
	srv := irctest.Start(t)
	srv.Register(t, botNick, botPass)
	srv.Register(t, "alice", "alicepassword1")
	srv.StopServices(t)
	b := startBot(t, botNetwork(srv))
	waitUntil(t, "the bot registers without its account", func() bool {
		return strings.Contains(b.logs.String(), "registered without the services account")
	})
	if s := b.tr.Status(); !strings.Contains(s, "not logged in to services") {
		t.Errorf("Status() = %q, want it to say the bot is not logged in", s)
	}
	servicesDown := time.Now()
	time.Sleep(10 * time.Second) // the scenario: services link 10 s late
	srv.StartServices(t)
	linked := time.Now()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(b.logs.String(), "logged in to services after registration") {
		if time.Now().After(deadline) {
			t.Fatalf("the bot did not log in within two minutes of services linking")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("logged in %v after services linked (%v after they were down)", time.Since(linked).Round(time.Millisecond), time.Since(servicesDown).Round(time.Millisecond))
	if s := b.tr.Status(); strings.Contains(s, "not logged in") || !strings.HasPrefix(s, "connected") {
		t.Errorf("Status() = %q after the login", s)
	}
	if strings.Contains(b.logs.String(), botPass) {
		t.Errorf("the log shows the password")
	}
	// Services see the bot as logged in: its messages carry the account.
	alice := srv.Client(t, irctest.ClientConfig{Nick: "alice", Account: "alice", Password: "alicepassword1"})
	alice.Join(t, channel)
	alice.Say(channel, "jouncebot: echo hi")
	if m := alice.Expect(t, irctest.FromTo(botNick, channel)); m.Account != botNick {
		t.Errorf("the bot's answer carries account %q, want %q", m.Account, botNick)
	}
}

// Services that hang never answer the SASL login: the bot gives up on it,
// registers without the account, and logs in once services answer again.
func TestLogsInWhenServicesHangDuringSASL(t *testing.T) {
	t.Parallel()
	srv := irctest.Start(t)
	srv.Register(t, botNick, botPass)
	srv.PauseServices()
	t.Cleanup(srv.ResumeServices)
	b := startBot(t, botNetwork(srv), irc.WithSASLTimeout(2*time.Second))
	waitUntil(t, "the bot gives up the SASL login and registers", func() bool {
		logs := b.logs.String()
		return strings.Contains(logs, "no answer to the SASL login") && strings.Contains(logs, "registered without the services account")
	})
	srv.ResumeServices()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(b.logs.String(), "logged in to services") {
		if time.Now().After(deadline) {
			t.Fatalf("the bot did not log in within two minutes of services answering again")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
