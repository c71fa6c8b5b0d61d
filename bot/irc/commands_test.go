package irc_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lrstanley/girc"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/bot/irc"
	"github.com/jouncebot/jouncebot/bot/irc/irctest"
	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/commands"
	"github.com/jouncebot/jouncebot/config"
)

const commandsConfig = `
bot:
  nick: jouncebot
people:
  - name: Alice
    irc_account: alice
    roles: [deployer]
windows:
  - name: UTC afternoon backport window
    kind: backport
    schedule: "0 6 * * 1-4"
    timezone: America/Los_Angeles
    duration: 1h
    max_patches: 6
    deployers: [Alice]
`

// TestRealCommandTable runs the lead's command table behind the IRC
// transport: nowandnext from the calendar, and a deployer-only command that
// an unidentified user with a deployer's nick is refused.
func TestRealCommandTable(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte(commandsConfig), "test.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cal := calendar.NewService(calendar.ServiceOptions{Config: cfg, Log: log, Now: clock})
	d := commands.NewDispatcher(commands.Options{Config: cfg, Log: log})
	d.Register(commands.HelpCommands(d)...)
	d.Register(commands.CalendarCommands(commands.CalendarOptions{Source: cal, Now: clock})...)
	d.Register(commands.Command{Name: "lock", Usage: "lock", Help: "Takes the deploy lock.", Perm: commands.Deployer,
		Run: func(context.Context, *commands.Call) (bot.Text, error) { return bot.T("Locked."), nil }})

	srv := irctest.Start(t)
	srv.Register(t, botNick, botPass)
	srv.Register(t, "alice", "alicepassword1")
	alice := srv.Client(t, irctest.ClientConfig{Nick: "alice", Account: "alice", Password: "alicepassword1"})
	alice.Join(t, channel)

	// The command table finds people by the network's type, so the network
	// must be in the configuration.
	cfg.Networks = append(cfg.Networks, botNetwork(srv))
	tr, err := irc.New(cfg.Networks[0], log)
	if err != nil {
		t.Fatal(err)
	}
	hub := bot.New(log, d)
	hub.Add(tr)
	runHub(t, hub)
	waitUntil(t, "the bot joins", func() bool { return joins(alice, botNick)() >= 1 })

	want := irc.Render(calendar.FormatNowAndNext(cal.Calendar(), now, nil), true)
	alice.Say(channel, "jouncebot: nowandnext")
	var got []string
	for range want {
		got = append(got, alice.Expect(t, irctest.FromTo(botNick, channel)).Text)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("nowandnext (-want +got):\n%s", d)
	}

	alice.Say(botNick, "lock")
	if m := alice.Expect(t, irctest.FromTo(botNick, "alice")); m.Text != "Locked." {
		t.Errorf("identified deployer's lock answered %q", m.Text)
	}

	alice.Quit("bye")
	alice.WaitEvent(t, func(e *girc.Event) bool { return e.Command == girc.DISCONNECTED || e.Command == girc.ERROR })
	mallory := srv.Client(t, irctest.ClientConfig{Nick: "alice"}) // alice's nick, not logged in
	mallory.Join(t, channel)
	mallory.Say(channel, "jouncebot: lock")
	m := mallory.Expect(t, irctest.FromTo(botNick, channel))
	if want := "lock needs you to be identified"; len(m.Text) < len(want) || m.Text[:len(want)] != want {
		t.Errorf("unidentified lock answered %q", m.Text)
	}
}
