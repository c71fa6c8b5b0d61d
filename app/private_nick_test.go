package app_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/bot/irc/irctest"
)

// TestSecurityDetailsGoToTheAccountNotTheNick: Alice, a deployer, is
// logged in to her account under another nick; a stranger holds the nick
// the people list gives her. With a security room, her check's private
// answer goes to the nick she asked from, and only her presence under that
// nick makes her a member; with none, Bob's check sends the details to
// the deployers at the nick logged in to their account. The stranger gets
// nothing either way.
func TestSecurityDetailsGoToTheAccountNotTheNick(t *testing.T) {
	t.Parallel()
	t.Run("security room, Alice asks", func(t *testing.T) { runNickScenario(t, true) })
	t.Run("no security room, Bob asks", func(t *testing.T) { runNickScenario(t, false) })
}

func runNickScenario(t *testing.T, rooms bool) {
	w := &leakWorld{ircd: irctest.Start(t)}
	w.ircd.Register(t, "alice", "alicepassword1")
	w.ircd.Register(t, "bob", "bobpassword11")
	w.alice = w.ircd.Client(t, irctest.ClientConfig{Nick: "alice_", Account: "alice", Password: "alicepassword1"})
	w.bob = w.ircd.Client(t, irctest.ClientConfig{Nick: "bob", Account: "bob", Password: "bobpassword11"})
	mallory := w.ircd.Client(t, irctest.ClientConfig{Nick: "alice"}) // not logged in
	w.alice.Join(t, "#ops")
	if rooms {
		w.alice.Join(t, "#security")
	}
	w.bob.Join(t, "#ops")
	mallory.Join(t, "#ops")
	w.dir = t.TempDir()
	channels, security := `[{name: "#ops"}]`, ""
	if rooms {
		channels, security = `[{name: "#ops"}, {name: "#security"}]`, `security: {rooms: ["libera/#security"]}`
	}
	w.config = `
bot: {nick: jouncebot, data_dir: data, http: "127.0.0.1:0"}
networks:
  - {name: libera, type: irc, server: "` + w.ircd.Addr + `", channels: ` + channels + `}
people:
  - {name: Alice, irc_account: alice, gerrit: alice, roles: [deployer]}
  - {name: Bob, irc_account: bob, gerrit: bob, roles: [owner]}
windows:
  - {name: UTC afternoon backport window, kind: backport, schedule: "0 14 * * *", duration: 1h, deployers: [Alice]}
policy:
  windows: [{kind: backport, allow: [deploy, revert]}]
sal:
  projects: [{name: production, rooms: ["libera/#ops"]}]
deploy: {sandbox: true}
` + security + "\n"
	w.setNow(time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC))
	a, stop := w.start(t)
	defer stop()
	n := leakStates[2].prepare(t, a.Sandbox()) // an uncommitted security fix
	w.bob.Say("#ops", "jouncebot: add "+strconv.Itoa(n))
	w.bob.Expect(t, func(m irctest.Msg) bool {
		return m.Target == "#ops" && strings.Contains(m.Text, "Queued change "+strconv.Itoa(n))
	})
	asker := w.alice
	if !rooms {
		asker = w.bob
	}
	asker.Say("#ops", "jouncebot: check")
	w.alice.Expect(t, func(m irctest.Msg) bool { return m.Target == "alice_" && leaksAny(m.Text) != "" })
	w.alice.Expect(t, func(m irctest.Msg) bool {
		return m.Target == "#ops" && strings.Contains(plain(m.Text), "UTC afternoon backport window: ")
	})
	mallory.Expect(t, func(m irctest.Msg) bool {
		return m.Target == "#ops" && strings.Contains(plain(m.Text), "UTC afternoon backport window: ")
	})
	for _, m := range mallory.Messages() {
		wantNoLeak(t, "IRC "+m.Target+" (seen by the stranger holding Alice's nick)", m.Text)
	}
}
