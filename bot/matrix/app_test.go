package matrix_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/bot/matrix"
	"github.com/jouncebot/jouncebot/bot/matrix/matrixtest"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// The whole jouncebot (app.New, the real command table and calendar)
// answers nowandnext in a Matrix room, configured from YAML.
func TestNowAndNextThroughTheApp(t *testing.T) {
	srv := matrixtest.Start(t)
	botUser := srv.CreateUser(t, "deploybot", "bot-password")
	alice := srv.Client(t, srv.CreateUser(t, "alice", "alice-password"))
	aliceW := matrixtest.Watch(t, alice)
	resp, err := alice.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	room := resp.RoomID

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "matrix-password"), []byte(botUser.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := `
bot:
  nick: jouncebot
  data_dir: data
networks:
  - name: matrix
    type: matrix
    homeserver: ` + srv.URL + `
    user_id: "` + botUser.ID.String() + `"
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
	log := slog.New(slog.DiscardHandler)
	a, err := app.New(app.Options{Config: cfg, Log: log, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	// Until app wires Matrix networks itself, add the transport here.
	var tr bot.Transport
	for _, x := range a.Bot().Transports() {
		if x.Network() == "matrix" {
			tr = x
		}
	}
	if tr == nil {
		mt, err := matrix.FromConfig(cfg, cfg.NetworkByName("matrix"), a.DB(), log)
		if err != nil {
			t.Fatal(err)
		}
		a.Bot().Add(mt)
		tr = mt
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if r, ok := tr.(interface{ Ready() <-chan struct{} }); ok {
		select {
		case <-r.Ready():
		case <-time.After(testenv.Scale(30 * time.Second)):
			t.Fatal("the Matrix transport did not get ready")
		}
	}

	if _, err := alice.SendText(ctx, room, "jouncebot: nowandnext"); err != nil {
		t.Fatal(err)
	}
	// The window's own notices (late: the bot starts inside it) come too.
	ev := aliceW.Wait(t, matrixtest.Message(room, botUser.ID, func(c *event.MessageEventContent) bool { return strings.HasPrefix(c.Body, "For the next") }))
	c := ev.Content.AsMessage()
	lines := strings.Split(c.Body, "\n")
	if c.MsgType != event.MsgNotice || len(lines) < 2 ||
		!strings.HasPrefix(lines[0], "For the next 40 minutes: UTC afternoon backport window (") ||
		!strings.HasPrefix(lines[len(lines)-1], "In 23 hours and 40 minutes: UTC afternoon backport window (") {
		t.Errorf("nowandnext answered %s %q", c.MsgType, c.Body)
	}
	if !strings.Contains(c.FormattedBody, "<b>UTC afternoon backport window</b>") || !strings.Contains(c.FormattedBody, "<br>") {
		t.Errorf("formatted body %q lacks the bold window name or the line break", c.FormattedBody)
	}
}
