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
// N" to her client receiving "pong N", for the bot (this transport, the
// bot.Bot hub and a handler) and for a minimal mautrix echo client, on the
// same homeserver. Each iteration asks both, one after the other, so that
// load on the machine affects both alike. It reports p50 and p99 of each in
// milliseconds and the ratio of the p50s.
//
//	go test ./bot/matrix -run '^$' -bench RoundTrip -benchtime 300x
func BenchmarkRoundTrip(b *testing.B) {
	srv := matrixtest.Start(b)
	botUser := srv.CreateUser(b, "deploybot", "bot-password")
	echoUser := srv.CreateUser(b, "echobot", "echo-password")
	alice := srv.Client(b, srv.CreateUser(b, "alice", "alice-password"))
	aliceW := matrixtest.Watch(b, alice)
	ctx, cancel := context.WithCancel(context.Background())
	var stops []func()
	b.Cleanup(func() {
		cancel()
		for _, s := range stops {
			s()
		}
	})
	newRoom := func() id.RoomID {
		resp, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
		if err != nil {
			b.Fatal(err)
		}
		return resp.RoomID
	}
	botRoom, echoRoom := newRoom(), newRoom()

	// The bot.
	e := &env{srv: srv, botUser: botUser}
	tr, err := New(Config{Network: e.network(botRoom.String()), Nick: "jouncebot", DB: openDB(b, b.TempDir()+"/jouncebot.db")})
	if err != nil {
		b.Fatal(err)
	}
	hub := bot.New(slog.New(slog.DiscardHandler), bot.HandlerFunc(func(ctx context.Context, r *bot.Request) {
		if n, ok := strings.CutPrefix(r.Text, "jouncebot: ping "); ok {
			_ = r.Reply(ctx, bot.T("pong "+n))
		}
	}))
	hub.Add(tr)
	hubDone := make(chan struct{})
	go func() { defer close(hubDone); hub.Run(ctx) }()
	stops = append(stops, func() { <-hubDone })
	<-tr.Ready()

	// The minimal echo client.
	echo := srv.Client(b, echoUser)
	if _, err := echo.JoinRoomByID(ctx, echoRoom); err != nil {
		b.Fatal(err)
	}
	syncer := echo.Syncer.(*mautrix.DefaultSyncer)
	syncer.OnEventType(event.EventMessage, func(ctx context.Context, ev *event.Event) {
		if n, ok := strings.CutPrefix(ev.Content.AsMessage().Body, "jouncebot: ping "); ok && ev.Sender != echo.UserID {
			_, _ = echo.SendNotice(ctx, ev.RoomID, "pong "+n)
		}
	})
	syncer.OnSync(echo.DontProcessOldEvents)
	echoDone := make(chan struct{})
	go func() { defer close(echoDone); echo.SyncWithContext(ctx) }()
	stops = append(stops, func() { <-echoDone })

	roundTrip := func(room id.RoomID, from id.UserID, tag string) (time.Duration, error) {
		start := time.Now()
		if _, err := alice.SendText(ctx, room, "jouncebot: ping "+tag); err != nil {
			return 0, err
		}
		want := "pong " + tag
		_, err := aliceW.WaitFor(10*time.Second, matrixtest.Message(room, from, func(c *event.MessageEventContent) bool { return c.Body == want }))
		return time.Since(start), err
	}
	// Warm up until both answer.
	for i := 0; ; i++ {
		_, err1 := roundTrip(botRoom, botUser.ID, fmt.Sprintf("warm%d", i))
		_, err2 := roundTrip(echoRoom, echoUser.ID, fmt.Sprintf("warm%d", i))
		if err1 == nil && err2 == nil {
			break
		}
		if i == 5 {
			b.Fatalf("no answer: bot %v, echo %v", err1, err2)
		}
	}

	var botLat, echoLat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := roundTrip(botRoom, botUser.ID, fmt.Sprint(i))
		if err != nil {
			b.Fatalf("bot round trip %d: %v", i, err)
		}
		botLat = append(botLat, d)
		d, err = roundTrip(echoRoom, echoUser.ID, fmt.Sprint(i))
		if err != nil {
			b.Fatalf("echo round trip %d: %v", i, err)
		}
		echoLat = append(echoLat, d)
	}
	b.StopTimer()
	bp50, bp99 := percentiles(botLat)
	ep50, ep99 := percentiles(echoLat)
	b.ReportMetric(bp50, "bot-p50-ms")
	b.ReportMetric(bp99, "bot-p99-ms")
	b.ReportMetric(ep50, "echo-p50-ms")
	b.ReportMetric(ep99, "echo-p99-ms")
	b.ReportMetric(bp50/ep50, "p50-ratio")
}

func percentiles(lat []time.Duration) (p50, p99 float64) {
	slices.Sort(lat)
	at := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	return at(0.50), at(0.99)
}
