package matrix_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/bot/matrix/matrixtest"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// logBuffer collects a log for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runApp runs the whole jouncebot from YAML (the bot's password is
// written to the file matrix-password) until the test ends, and waits
// until its Matrix transport has joined its rooms. It returns the log.
func runApp(t *testing.T, botUser matrixtest.User, yaml string, now func() time.Time) *logBuffer {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "matrix-password"), []byte(botUser.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(yaml), "jouncebot.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("jouncebot log:\n%s", logs)
		}
	})
	a, err := app.New(app.Options{Config: cfg, Log: slog.New(slog.NewTextHandler(logs, nil)), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; a.Close() })
	for _, tr := range a.Bot().Transports() {
		if r, ok := tr.(interface{ Ready() <-chan struct{} }); ok {
			select {
			case <-r.Ready():
			case <-time.After(testenv.Scale(30 * time.Second)):
				t.Fatal("the Matrix transport did not get ready")
			}
		}
	}
	return logs
}

// botConfig is the YAML of a bot on srv in rooms, with Amir as deployer,
// a SAL project fed by salRooms, and the extra YAML appended.
func botConfig(srv *matrixtest.Server, botUser matrixtest.User, rooms, salRooms []string, extra string) string {
	quote := func(ss []string) string {
		var q []string
		for _, s := range ss {
			q = append(q, `"`+s+`"`)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return `
bot:
  nick: jouncebot
  data_dir: data
networks:
  - name: matrix
    type: matrix
    homeserver: ` + srv.URL + `
    user_id: "` + botUser.ID.String() + `"
    password: {file: matrix-password}
    rooms: ` + quote(rooms) + `
people:
  - name: Amir
    matrix_id: "` + srv.UserID("amir").String() + `"
    roles: [deployer]
sal:
  projects:
    - name: production
      rooms: ` + quote(salRooms) + `
` + extra
}

// fromBot matches the bot's messages in room whose body contains s.
func fromBot(room id.RoomID, botUser matrixtest.User, s string) func(*event.Event) bool {
	return matrixtest.Message(room, botUser.ID, func(c *event.MessageEventContent) bool { return strings.Contains(c.Body, s) })
}

// !log works in a room the configuration names by its alias, an alias that
// does not exist is a clear start-up warning, and a stranger who took a
// deployer's display name is refused by a mention of their own id.
func TestLogInRoomConfiguredByAlias(t *testing.T) {
	srv := matrixtest.Start(t)
	botUser := srv.CreateUser(t, "deploybot", "bot-password")
	amir := srv.Client(t, srv.CreateUser(t, "amir", "amir-password"))
	mallory := srv.Client(t, srv.CreateUser(t, "mallory", "mallory-password"))
	ctx := context.Background()
	if err := mallory.SetDisplayName(ctx, "Amir"); err != nil {
		t.Fatal(err)
	}
	resp, err := amir.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomAliasName: "wikimedia-operations"})
	if err != nil {
		t.Fatal(err)
	}
	room := resp.RoomID
	if _, err := mallory.JoinRoomByID(ctx, room); err != nil {
		t.Fatal(err)
	}
	alias := "#wikimedia-operations:" + srv.ServerName
	missing := "#no-such-room:" + srv.ServerName
	w := matrixtest.Watch(t, amir)
	logs := runApp(t, botUser, botConfig(srv, botUser, []string{alias, missing}, []string{"matrix/" + alias}, ""), nil)

	if !strings.Contains(logs.String(), "configured room alias does not exist on the homeserver") || !strings.Contains(logs.String(), missing) {
		t.Errorf("no start-up warning about %s:\n%s", missing, logs)
	}

	if _, err := amir.SendText(ctx, room, "!log restarted apache on mw1001"); err != nil {
		t.Fatal(err)
	}
	w.Wait(t, fromBot(room, botUser, "Logged the message"))

	if _, err := mallory.SendText(ctx, room, "!log depooled everything"); err != nil {
		t.Fatal(err)
	}
	ev := w.Wait(t, fromBot(room, botUser, "You are not on the list"))
	c := ev.Content.AsMessage()
	if !strings.HasPrefix(c.Body, mallory.UserID.String()+": ") {
		t.Errorf("refusal body %q does not address %s", c.Body, mallory.UserID)
	}
	if !strings.Contains(c.FormattedBody, `href="https://matrix.to/#/`+mallory.UserID.String()+`"`) {
		t.Errorf("refusal %q has no mention pill of %s", c.FormattedBody, mallory.UserID)
	}
	if c.Mentions == nil || !slices.Contains(c.Mentions.UserIDs, mallory.UserID) || slices.Contains(c.Mentions.UserIDs, amir.UserID) {
		t.Errorf("refusal mentions %+v; want %s and not %s", c.Mentions, mallory.UserID, amir.UserID)
	}
}

// A first start inside an open window (fresh data directory) delivers the
// window's notices once, marked late, after the bot joined the room.
func TestFirstStartInOpenWindowNoticesAfterJoin(t *testing.T) {
	srv := matrixtest.Start(t)
	botUser := srv.CreateUser(t, "deploybot", "bot-password")
	amir := srv.Client(t, srv.CreateUser(t, "amir", "amir-password"))
	ctx := context.Background()
	resp, err := amir.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomAliasName: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	room := resp.RoomID
	alias := "#ops:" + srv.ServerName
	w := matrixtest.Watch(t, amir)
	now := func() time.Time { return time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC) }
	runApp(t, botUser, botConfig(srv, botUser, []string{alias}, []string{"matrix/" + alias}, `
windows:
  - name: UTC afternoon backport window
    kind: backport
    schedule: "0 14 * * *"
    timezone: UTC
    duration: 1h
    deployers: [Amir]
`), now)

	join := w.Wait(t, matrixtest.Member(room, botUser.ID, event.MembershipJoin))
	start := w.Wait(t, fromBot(room, botUser, "it's time for UTC afternoon backport window"))
	unclaimed := w.Wait(t, fromBot(room, botUser, "nobody has claimed UTC afternoon backport window yet"))
	for _, ev := range []*event.Event{start, unclaimed} {
		if body := ev.Content.AsMessage().Body; !strings.HasSuffix(body, "(late)") {
			t.Errorf("notice %q is not marked late", body)
		}
		if ev.Timestamp < join.Timestamp {
			t.Errorf("notice sent before the bot joined")
		}
	}
	// Anything sent twice would be in the room before the answer to this.
	if _, err := amir.SendText(ctx, room, "jouncebot: now"); err != nil {
		t.Fatal(err)
	}
	w.Wait(t, fromBot(room, botUser, "For the next 40 minutes"))
	for _, s := range []string{"it's time for", "nobody has claimed"} {
		n := 0
		for _, ev := range w.Events() {
			if fromBot(room, botUser, s)(ev) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d notices containing %q; want 1", n, s)
		}
	}
}
