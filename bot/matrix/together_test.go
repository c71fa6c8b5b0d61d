package matrix

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/bot/console"
	"github.com/jouncebot/jouncebot/internal/testenv"
	"github.com/jouncebot/jouncebot/store"
)

// The console and Matrix in one bot: announcements reach both, and while
// the homeserver is unreachable the console is answered at once and
// announcements are not held up; Matrix gets them when it is back.
func TestTogetherWithTheConsole(t *testing.T) {
	e := newEnv(t)
	room := e.publicRoom(t)
	p := e.srv.Proxy(t)
	n := e.network(room.String())
	n.Homeserver = p.URL
	db, err := store.Open(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tr, err := New(Config{Network: n, Nick: "jouncebot", DB: db, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	in, typed := io.Pipe()
	out := &syncBuffer{}
	hub := bot.New(testLog(t), bot.HandlerFunc(func(ctx context.Context, r *bot.Request) {
		text := strings.TrimPrefix(r.Text, "jouncebot: ")
		if arg, ok := strings.CutPrefix(text, "ping"); ok {
			_ = r.Reply(ctx, bot.T("pong"+arg))
		}
	}))
	hub.Add(console.New(in, out, ""))
	hub.Add(tr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); hub.Run(ctx) }()
	t.Cleanup(func() { cancel(); typed.Close(); <-done })
	<-tr.Ready()

	waitConsole := func(want string) {
		t.Helper()
		deadline := time.Now().Add(testenv.Scale(time.Second))
		for !strings.Contains(out.String(), want+"\n") {
			if time.Now().After(deadline) {
				t.Fatalf("console did not show %q within %s; it shows:\n%s", want, testenv.Scale(time.Second), out)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := hub.Announce(ctx, bot.T("window open")); err != nil {
		t.Fatal(err)
	}
	waitConsole("window open")
	e.waitReply(t, room, "window open")

	p.SetDown(true)
	start := time.Now()
	if err := hub.Announce(ctx, bot.T("during outage")); err != nil {
		t.Errorf("Announce during the outage: %v", err)
	}
	waitConsole("during outage")
	if _, err := io.WriteString(typed, "ping console\n"); err != nil {
		t.Fatal(err)
	}
	waitConsole("pong console")
	if d := time.Since(start); d > testenv.Scale(time.Second) {
		t.Errorf("the console waited %s for the unreachable homeserver", d)
	}
	p.SetDown(false)
	e.waitReply(t, room, "during outage")
	send(t, e.alice, room, "jouncebot: ping matrix")
	e.waitReply(t, room, "pong matrix")
}
