package matrix

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/bot/matrix/matrixtest"
)

// BenchmarkRoundTrip measures the time from alice sending "jouncebot: ping
// N" to her client receiving the answer, for the bot (transport + bot.Bot
// hub + handler) and for a minimal mautrix echo client on the same server.
// It reports p50 and p99 in milliseconds.
//
//	go test ./bot/matrix -run '^$' -bench RoundTrip -benchtime 200x
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("bot", func(b *testing.B) {
		e, room := benchEnv(b)
		db := openDB(b, e.dbPath)
		tr, err := New(Config{Network: e.network(room.String()), Nick: "jouncebot", DB: db})
		if err != nil {
			b.Fatal(err)
		}
		hub := bot.New(slog.New(slog.DiscardHandler), bot.HandlerFunc(func(ctx context.Context, r *bot.Request) {
			if n, ok := strings.CutPrefix(r.Text, "jouncebot: ping "); ok {
				_ = r.Reply(ctx, bot.T("pong "+n))
			}
		}))
		hub.Add(tr)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); hub.Run(ctx) }()
		b.Cleanup(func() { cancel(); <-done })
		<-tr.Ready()
		measure(b, e, room)
	})
	b.Run("echo", func(b *testing.B) {
		e, room := benchEnv(b)
		echo := e.srv.Client(b, e.botUser)
		if _, err := echo.JoinRoomByID(context.Background(), room); err != nil {
			b.Fatal(err)
		}
		syncer := echo.Syncer.(*mautrix.DefaultSyncer)
		syncer.OnEventType(event.EventMessage, func(ctx context.Context, ev *event.Event) {
			if n, ok := strings.CutPrefix(ev.Content.AsMessage().Body, "jouncebot: ping "); ok && ev.Sender != echo.UserID {
				_, _ = echo.SendNotice(ctx, ev.RoomID, "pong "+n)
			}
		})
		syncer.OnSync(echo.DontProcessOldEvents)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); echo.SyncWithContext(ctx) }()
		b.Cleanup(func() { cancel(); <-done })
		// Wait until the echo client answers before timing.
		warm(b, e, room)
		measure(b, e, room)
	})
}

func benchEnv(b *testing.B) (*env, id.RoomID) {
	srv := matrixtest.Start(b)
	e := &env{srv: srv, dbPath: b.TempDir() + "/jouncebot.db"}
	e.botUser = srv.CreateUser(b, "deploybot", "bot-password")
	e.alice = srv.Client(b, srv.CreateUser(b, "alice", "alice-password"))
	e.aliceW = matrixtest.Watch(b, e.alice)
	resp, err := e.alice.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		b.Fatal(err)
	}
	return e, resp.RoomID
}

func warm(b *testing.B, e *env, room id.RoomID) {
	for i := 0; ; i++ {
		if _, err := e.alice.SendText(context.Background(), room, fmt.Sprintf("jouncebot: ping warm%d", i)); err != nil {
			b.Fatal(err)
		}
		want := fmt.Sprintf("pong warm%d", i)
		if _, err := e.aliceW.WaitFor(time.Second, matrixtest.Message(room, e.botUser.ID, func(c *event.MessageEventContent) bool { return c.Body == want })); err == nil {
			return
		}
		if i > 30 {
			b.Fatal("the echo client never answered")
		}
	}
}

func measure(b *testing.B, e *env, room id.RoomID) {
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := e.alice.SendText(ctx, room, fmt.Sprintf("jouncebot: ping %d", i)); err != nil {
			b.Fatal(err)
		}
		want := fmt.Sprintf("pong %d", i)
		if _, err := e.aliceW.WaitFor(10*time.Second, matrixtest.Message(room, e.botUser.ID, func(c *event.MessageEventContent) bool { return c.Body == want })); err != nil {
			b.Fatalf("round trip %d: %v", i, err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
