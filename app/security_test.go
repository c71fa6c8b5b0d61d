package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lrstanley/girc"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/bot/irc/irctest"
	"github.com/jouncebot/jouncebot/bot/matrix/matrixtest"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// A local security patch that conflicts with a deploy: its subject and
// file reach only the private security channel. The public IRC channel,
// the Matrix room, the SAL and the web pages get the neutral sentence.
func TestSecurityPatchConflictStaysPrivate(t *testing.T) {
	t.Parallel()
	ircd := irctest.Start(t)
	ircd.Register(t, "alice", "alicepassword1")
	aliceIRC := ircd.Client(t, irctest.ClientConfig{Nick: "alice", Account: "alice", Password: "alicepassword1"})
	aliceIRC.Join(t, "#ops")
	aliceIRC.Join(t, "#security")

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
bot: {nick: jouncebot, data_dir: data, http: "127.0.0.1:0"}
networks:
  - {name: libera, type: irc, server: "`+ircd.Addr+`", channels: [{name: "#ops"}, {name: "#security"}]}
  - name: matrix
    type: matrix
    homeserver: `+hs.URL+`
    user_id: "`+botUser.ID.String()+`"
    password: {file: mx}
    rooms: ["`+room.String()+`"]
people:
  - {name: Alice, irc_account: alice, matrix_id: "@alice:localhost", gerrit: alice, roles: [deployer]}
  - {name: Bob, irc_account: bob, gerrit: bob, roles: [owner]}
windows:
  - {name: UTC afternoon backport window, kind: backport, schedule: "0 14 * * *", duration: 1h, deployers: [Alice]}
policy:
  windows: [{kind: backport, allow: [deploy, revert]}]
security:
  rooms: ["libera/#security"]
  private_message: true
sal:
  projects: [{name: production, rooms: ["libera/#ops"]}]
deploy: {sandbox: true}
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
	aliceIRC.WaitEvent(t, func(e *girc.Event) bool {
		return e.Command == girc.JOIN && e.Source != nil && e.Source.Name == "jouncebot" && len(e.Params) > 0 && e.Params[0] == "#security"
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

	// Upstream rewords the very line the local security patch changes.
	sb := a.Sandbox()
	n, err := sb.Upload(gerrittest.Upload{Project: gerrittest.CoreProject, Branch: gerrittest.CoreBranch, Owner: "bob",
		Subject: "Reword the setup comment", Files: []gerrittest.File{{Path: "includes/Setup.php", Content: "<?php\n// MediaWiki setup, reworded\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	num := strconv.Itoa(n)
	const subject, file = "reject oversized requests", "Setup.php"

	// Deploy 1 from IRC, deploy 2 (the merged change again) from Matrix.
	aliceIRC.Say("#ops", "jouncebot: deploy "+num)
	aliceIRC.Expect(t, func(m irctest.Msg) bool {
		return m.Target == "#security" && strings.Contains(m.Text, subject) && strings.Contains(m.Text, "includes/"+file)
	})
	aliceIRC.Expect(t, func(m irctest.Msg) bool { // and to the deployer, privately
		return m.Target == "alice" && strings.HasPrefix(m.Text, "Deploy 1: ") && strings.Contains(m.Text, subject)
	})
	aliceIRC.Expect(t, func(m irctest.Msg) bool {
		return m.Target == "#ops" && strings.HasPrefix(m.Text, "alice: deploy 1 stopped: A local security patch conflicts with this change in staging/php-1.46.0-wmf.3.")
	})
	if _, err := aliceMX.SendText(ctx, room, "jouncebot: deploy "+num); err != nil {
		t.Fatal(err)
	}
	watch.Wait(t, matrixtest.Message(room, botUser.ID, func(c *event.MessageEventContent) bool {
		return strings.Contains(c.Body, "deploy 2 stopped: A local security patch conflicts with this change in staging/php-1.46.0-wmf.3.") &&
			strings.Contains(c.Body, "details sent to Alice privately.")
	}))
	aliceIRC.Expect(t, func(m irctest.Msg) bool {
		return m.Target == "#security" && strings.HasPrefix(m.Text, "Deploy 2: ") && strings.Contains(m.Text, subject)
	})

	// Every public output, searched.
	leaks := func(where, text string) {
		t.Helper()
		if strings.Contains(text, subject) || strings.Contains(text, file) {
			t.Errorf("%s names the security patch: %s", where, text)
		}
	}
	for _, m := range aliceIRC.Messages() {
		if m.Target != "#security" && m.Target != "alice" {
			leaks("IRC "+m.Target, m.Text)
		}
	}
	for _, e := range watch.Events() {
		if e.RoomID != room {
			continue // the private message to the deployer
		}
		if c, ok := e.Content.Parsed.(*event.MessageEventContent); ok {
			leaks("Matrix", c.Body+" "+c.FormattedBody)
		}
	}
	aliceIRC.Say("#ops", "jouncebot: status")
	aliceIRC.Say("#ops", "!log checked the security patch conflict")
	aliceIRC.Expect(t, func(m irctest.Msg) bool { return m.Target == "#ops" && strings.HasPrefix(m.Text, "Logged the message") })
	for _, path := range []string{"/sal", "/api/sal", "/sal/atom/production", "/calendar.ics"} {
		res, err := http.Get("http://" + a.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("GET %s: %s", path, res.Status)
		}
		leaks("web "+path, string(body))
	}
	for _, m := range aliceIRC.Messages() {
		if m.Target != "#security" && m.Target != "alice" {
			leaks("IRC "+m.Target, m.Text)
		}
	}
}
