package matrix_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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

// Two deployers and a stranger ask question after question in one room,
// faster than the reply budget (40 lines, then one every 3 s) allows. The
// deployers get every answer, in the order they asked; the stranger gets
// the budget, one sentence saying to slow down, and then no more than the
// budget refills.
func TestDeployersAreAnsweredInTurnStrangerIsCutOff(t *testing.T) {
	srv := matrixtest.Start(t)
	botUser := srv.CreateUser(t, "deploybot", "bot-password")
	alice := srv.Client(t, srv.CreateUser(t, "alice", "alice-password"))
	bob := srv.Client(t, srv.CreateUser(t, "bob", "bob-password"))
	eve := srv.Client(t, srv.CreateUser(t, "eve", "eve-password"))
	ctx := context.Background()
	resp, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	room := resp.RoomID
	for _, c := range []*mautrix.Client{bob, eve} {
		if _, err := c.JoinRoomByID(ctx, room); err != nil {
			t.Fatal(err)
		}
	}
	watch := matrixtest.Watch(t, alice)

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
  - name: Bob
    matrix_id: "@bob:localhost"
    roles: [deployer]
`
	cfg, err := config.Parse([]byte(yaml), "jouncebot.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Options{Config: cfg, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); a.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	for _, tr := range a.Bot().Transports() {
		if r, ok := tr.(interface{ Ready() <-chan struct{} }); ok {
			select {
			case <-r.Ready():
			case <-time.After(testenv.Scale(30 * time.Second)):
				t.Fatal("the Matrix transport did not get ready")
			}
		}
	}

	// Each asks about a command that does not exist: the answer names it,
	// so it says which question it answers. The deployers ask 45 times;
	// the stranger asks until told to slow down, however long sending
	// takes on a busy machine, and then ten times more.
	const deployerQuestions, afterSlowDown = 45, 10
	slowedDown := func() bool {
		for _, ev := range watch.Events() {
			if ev.Sender == botUser.ID && strings.HasPrefix(ev.Content.AsMessage().Body, slowDownPrefix) {
				return true
			}
		}
		return false
	}
	ask := func(c *mautrix.Client, q string) bool {
		if _, err := c.SendText(ctx, room, "jouncebot: "+q); err != nil {
			t.Errorf("%s: %v", c.UserID, err)
			return false
		}
		return true
	}
	var wg sync.WaitGroup
	for _, p := range []struct {
		cli    *mautrix.Client
		prefix string
	}{{alice, "a"}, {bob, "b"}} {
		wg.Go(func() {
			for i := range deployerQuestions {
				if !ask(p.cli, fmt.Sprintf("%s%d", p.prefix, i)) {
					return
				}
			}
		})
	}
	strangerQuestions := 0
	wg.Go(func() {
		for extra := 0; extra < afterSlowDown; strangerQuestions++ {
			if !ask(eve, fmt.Sprintf("e%d", strangerQuestions)) {
				return
			}
			if strangerQuestions > 500 {
				t.Errorf("the stranger was never told to slow down")
				return
			}
			if extra > 0 || slowedDown() {
				extra++
			}
		}
	})
	wg.Wait()
	if t.Failed() {
		return
	}

	// 5 lines over the budget take the deployers 15 s more.
	limit := matrixtest.DefaultWait + testenv.Scale(30*time.Second)
	for _, last := range []string{"a", "b"} {
		q := fmt.Sprintf(`"%s%d"`, last, deployerQuestions-1)
		if _, err := watch.WaitFor(limit, botSays(room, botUser.ID, q)); err != nil {
			t.Fatalf("the answer to %s: %v", q, err)
		}
	}
	got := map[string][]string{}
	slowDowns := 0
	for _, ev := range watch.Events() {
		if ev.RoomID != room || ev.Sender != botUser.ID || ev.Type != event.EventMessage {
			continue
		}
		body := ev.Content.AsMessage().Body
		if strings.HasPrefix(body, slowDownPrefix) {
			slowDowns++
			continue
		}
		q, ok := askedAbout(body)
		if !ok {
			continue // the bot's own notices
		}
		got[q[:1]] = append(got[q[:1]], q)
	}
	for _, p := range []string{"a", "b"} {
		var want []string
		for i := range deployerQuestions {
			want = append(want, fmt.Sprintf("%s%d", p, i))
		}
		if strings.Join(got[p], " ") != strings.Join(want, " ") {
			t.Errorf("deployer %s was answered about %v, want every question in order", p, got[p])
		}
	}
	if n := len(got["e"]); slowDowns != 1 || n < 40 || n >= strangerQuestions {
		t.Errorf("the stranger got %d answers and %d slow-downs, want at least the budget's 40, not all %d, and one slow-down", n, slowDowns, strangerQuestions)
	}
}

const slowDownPrefix = "You are asking faster than I can answer; I will answer you again in about "

// askedAbout returns the command an unknown-command answer names.
func askedAbout(body string) (string, bool) {
	rest, ok := strings.CutPrefix(body, `I don't know the command "`)
	if !ok {
		return "", false
	}
	q, _, ok := strings.Cut(rest, `"`)
	return q, ok
}

func botSays(room id.RoomID, bot id.UserID, text string) func(*event.Event) bool {
	return matrixtest.Message(room, bot, func(c *event.MessageEventContent) bool { return strings.Contains(c.Body, text) })
}
