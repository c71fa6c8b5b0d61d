package matrix

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/commands"
	"github.com/jouncebot/jouncebot/config"
)

// The real command table answers nowandnext in a Matrix room, through the
// bot hub, configured from YAML the way main does it.
func TestNowAndNextFromTheCommandTable(t *testing.T) {
	e := newEnv(t)
	room := e.publicRoom(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "matrix-password"), []byte(e.botUser.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := `
bot:
  nick: jouncebot
  data_dir: data
networks:
  - name: matrix
    type: matrix
    homeserver: ` + e.srv.URL + `
    user_id: "` + e.botUser.ID.String() + `"
    password: {file: matrix-password}
    rooms: ["` + room.String() + `"]
people:
  - name: Alice
    matrix_id: "@alice:localhost"
    roles: [deployer]
windows:
  - name: UTC afternoon backport window
    kind: backport
    schedule: "0 14 * * *"
    timezone: UTC
    duration: 1h
    deployers: [Alice]
`
	cfg, err := config.Parse([]byte(yaml), "jouncebot.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC) }
	log := testLog(t)
	d := commands.NewDispatcher(commands.Options{Config: cfg, Log: log})
	d.Register(commands.HelpCommands(d)...)
	d.Register(commands.CalendarCommands(commands.CalendarOptions{Source: calendar.NewService(cfg, now), Now: now})...)

	db := openDB(t, filepath.Join(cfg.Bot.DataDir, "jouncebot.db"))
	tr, err := FromConfig(cfg, cfg.NetworkByName("matrix"), db, log)
	if err != nil {
		t.Fatal(err)
	}
	hub := bot.New(log, d)
	hub.Add(tr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); hub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-tr.Ready()

	send(t, e.alice, room, "jouncebot: nowandnext")
	ev := e.aliceW.Wait(t, func(ev *event.Event) bool {
		return ev.Type == event.EventMessage && ev.RoomID == room && ev.Sender == e.botUser.ID
	})
	c := ev.Content.AsMessage()
	lines := strings.Split(c.Body, "\n")
	if c.MsgType != event.MsgNotice || len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "For the next 40 minutes: UTC afternoon backport window (") ||
		!strings.HasPrefix(lines[1], "In 23 hours and 40 minutes: UTC afternoon backport window (") {
		t.Errorf("nowandnext answered %s %q", c.MsgType, c.Body)
	}
	if !strings.Contains(c.FormattedBody, "<b>UTC afternoon backport window</b>") || !strings.Contains(c.FormattedBody, "<br>") {
		t.Errorf("formatted body %q lacks the bold window name or the line break", c.FormattedBody)
	}
}
