package irc_test

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lrstanley/girc"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/bot/irc"
	"github.com/jouncebot/jouncebot/bot/irc/irctest"
)

// BenchmarkCommandRoundTrip measures request→reply latency through the
// real server, seen from a second client: once for jouncebot (transport,
// bot hub, a handler answering "echo") and once for a minimal girc client
// that echoes, on the same server, alternating request by request. Both
// sit on the generous port and the bot's bucket is opened wide (always
// full), so the numbers are the cost of the code path (the reply queues,
// the bucket, the bot hub), not of waiting for tokens; the per-sender reply
// budget is off. Reports p50/p99 of both and their ratios (goal: at most
// 1.2 at p50 and p99).
func BenchmarkCommandRoundTrip(b *testing.B) {
	srv := irctest.Start(b)
	srv.Register(b, botNick, botPass)
	asker := srv.Client(b, irctest.ClientConfig{Nick: "asker"})
	asker.Join(b, channel)
	asker.Join(b, echoChannel)

	n := botNetwork(srv)
	n.Server = srv.Addr
	tr, err := irc.New(n, slog.New(slog.NewTextHandler(io.Discard, nil)), irc.WithBucket(1<<20, time.Nanosecond))
	if err != nil {
		b.Fatal(err)
	}
	hub := bot.New(slog.New(slog.NewTextHandler(io.Discard, nil)), &testHandler{nick: tr.Nick})
	hub.SetReplyBudget(0, 0) // one asker, thousands of questions
	hub.Add(tr)
	runHub(b, hub)

	echo := startEcho(b, srv.Addr)
	asker.WaitEvent(b, joinedBy(botNick))
	asker.WaitEvent(b, joinedBy("echo"))

	ask := func(where, prefix, from string, i int) time.Duration {
		want := fmt.Sprintf("echo %d", i)
		start := time.Now()
		asker.Say(where, prefix+want[len("echo "):])
		asker.Expect(b, func(m irctest.Msg) bool { return m.Nick == from && m.Text == want })
		return time.Since(start)
	}
	var botLat, echoLat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		botLat = append(botLat, ask(channel, "jouncebot: echo ", botNick, i))
		echoLat = append(echoLat, ask(echoChannel, "echo: ", "echo", i))
	}
	b.StopTimer()
	_ = echo
	bp50, bp99 := percentiles(botLat)
	ep50, ep99 := percentiles(echoLat)
	b.ReportMetric(ms(bp50), "bot-p50-ms")
	b.ReportMetric(ms(bp99), "bot-p99-ms")
	b.ReportMetric(ms(ep50), "echo-p50-ms")
	b.ReportMetric(ms(ep99), "echo-p99-ms")
	b.ReportMetric(float64(bp50)/float64(ep50), "p50-ratio")
	b.ReportMetric(float64(bp99)/float64(ep99), "p99-ratio")
	b.ReportMetric(0, "ns/op")
	if testing.Verbose() {
		for _, p := range []int{0, 10, 25, 50, 75, 90, 99} {
			bs, es := slices.Sorted(slices.Values(botLat)), slices.Sorted(slices.Values(echoLat))
			b.Logf("p%02d bot %6.2f ms  echo %6.2f ms", p, ms(bs[len(bs)*p/100]), ms(es[len(es)*p/100]))
		}
	}
}

func joinedBy(nick string) func(*girc.Event) bool {
	return func(e *girc.Event) bool {
		return e.Command == girc.JOIN && e.Source != nil && e.Source.Name == nick
	}
}

// echoChannel is the baseline's own channel. Sharing one channel skews
// both measures: a client that receives lines it does not answer delays its
// TCP ACKs, and InspIRCd (which does not disable Nagle's algorithm) then
// holds the next line to that client for up to 40 ms.
const echoChannel = "#echo"

// startEcho runs the baseline: a bare girc client answering "echo: N"
// with "echo N" in the channel.
func startEcho(b *testing.B, addr string) *girc.Client {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	c := girc.New(girc.Config{Server: host, Port: p, Nick: "echo", User: "echo", AllowFlood: true, PingDelay: -1})
	c.Handlers.Add(girc.RPL_WELCOME, func(c *girc.Client, _ girc.Event) { c.Cmd.Join(echoChannel) })
	c.Handlers.Add(girc.PRIVMSG, func(c *girc.Client, e girc.Event) {
		if rest, ok := strings.CutPrefix(e.Last(), "echo: "); ok {
			c.Cmd.Message(echoChannel, "echo "+rest)
		}
	})
	done := make(chan error, 1)
	go func() { done <- c.Connect() }()
	b.Cleanup(func() { c.Close(); <-done })
	return c
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)*50/100], s[min(len(s)-1, len(s)*99/100)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
