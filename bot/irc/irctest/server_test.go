package irctest_test

import (
	"testing"

	"github.com/jouncebot/jouncebot/bot/irc/irctest"
)

func TestAccountTagReachesOtherClients(t *testing.T) {
	srv := irctest.Start(t)
	srv.Register(t, "alice", "alicepassword1")
	alice := srv.Client(t, irctest.ClientConfig{Nick: "alice", Account: "alice", Password: "alicepassword1"})
	bob := srv.Client(t, irctest.ClientConfig{Nick: "bob"})
	alice.Join(t, "#test")
	bob.Join(t, "#test")
	alice.Say("#test", "hello")
	m := bob.Expect(t, irctest.FromTo("alice", "#test"))
	if m.Account != "alice" {
		t.Errorf("account tag = %q, want alice", m.Account)
	}
	bob.Say("#test", "hi")
	m = alice.Expect(t, irctest.FromTo("bob", "#test"))
	if m.Account != "" {
		t.Errorf("account tag of unidentified bob = %q, want empty", m.Account)
	}
}
