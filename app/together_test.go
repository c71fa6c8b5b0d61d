package app_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lrstanley/girc"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/bot/irc/irctest"
	"github.com/jouncebot/jouncebot/bot/matrix/matrixtest"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// IRC and Matrix in one process: an announcement reaches both networks,
// and with the IRC server stopped, Matrix is still answered and still gets
// announcements at once.
func TestIRCAndMatrixTogether(t *testing.T) {
	t.Parallel()
	ircd := irctest.Start(t)
	ircd.Register(t, "alice", "alicepassword1")
	aliceIRC := ircd.Client(t, irctest.ClientConfig{Nick: "alice", Account: "alice", Password: "alicepassword1"})
	aliceIRC.Join(t, "#ops")

	hs := matrixtest.Start(t)
	botUser := hs.CreateUser(t, "jouncebot", "bot-password")
	aliceMX := hs.Client(t, hs.CreateUser(t, "alice", "alice-password"))
	watch := matrixtest.Watch(t, aliceMX)
	resp, err := aliceMX.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	room := resp.RoomID

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "mx"), []byte(botUser.Password), 0o600)
	cfg, err := config.Parse([]byte(`
bot: {nick: jouncebot, data_dir: data}
networks:
  - {name: libera, type: irc, server: "`+ircd.Addr+`", channels: [{name: "#ops"}]}
  - name: matrix
    type: matrix
    homeserver: `+hs.URL+`
    user_id: "`+botUser.ID.String()+`"
    password: {file: mx}
    rooms: ["`+room.String()+`"]
people:
  - {name: Alice, irc_account: alice, matrix_id: "@alice:localhost", roles: [deployer]}
windows:
  - {name: UTC afternoon backport window, kind: backport, schedule: "0 14 * * *", duration: 1h, deployers: [Alice]}
deploy:
  gerrit: {url: "http://127.0.0.1:1/", username: bot, password: {file: mx}}
`), "jouncebot.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Options{Config: cfg, Log: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// Both transports up: the bot joins #ops and the Matrix room.
	aliceIRC.WaitEvent(t, func(e *girc.Event) bool {
		return e.Command == girc.JOIN && e.Source != nil && e.Source.Name == "jouncebot"
	})
	for _, tr := range a.Bot().Transports() {
		if r, ok := tr.(interface{ Ready() <-chan struct{} }); ok {
			select {
			case <-r.Ready():
			case <-time.After(testenv.Scale(60 * time.Second)):
				t.Fatal("the Matrix transport did not get ready")
			}
		}
	}
	fromBot := func(prefix string) func(*event.Event) bool {
		return matrixtest.Message(room, botUser.ID, func(c *event.MessageEventContent) bool { return strings.HasPrefix(c.Body, prefix) })
	}

	// An announcement reaches both.
	if err := a.Bot().Announce(ctx, bot.T("Window open: testing both networks")); err != nil {
		t.Fatalf("announce: %v", err)
	}
	aliceIRC.Expect(t, func(m irctest.Msg) bool {
		return m.Nick == "jouncebot" && m.Target == "#ops" && m.Text == "Window open: testing both networks"
	})
	watch.Wait(t, fromBot("Window open: testing both networks"))

	// With IRC down, Matrix is answered and announced to without waiting
	// for IRC; Announce reports that IRC did not take it once its deadline
	// has passed.
	ircd.Stop()
	actx, acancel := context.WithTimeout(ctx, testenv.Scale(3*time.Second))
	defer acancel()
	announced := make(chan error, 1)
	go func() { announced <- a.Bot().Announce(actx, bot.T("Second announcement")) }()
	watch.Wait(t, fromBot("Second announcement"))
	if err := <-announced; err == nil {
		t.Errorf("Announce reported the announcement delivered with the IRC server down")
	}
	if _, err := aliceMX.SendText(ctx, room, "jouncebot: nowandnext"); err != nil {
		t.Fatal(err)
	}
	watch.Wait(t, fromBot("For the next 40 minutes: UTC afternoon backport window"))
}
