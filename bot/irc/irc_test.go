package irc_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lrstanley/girc"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/bot/irc"
	"github.com/jouncebot/jouncebot/bot/irc/irctest"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

const (
	channel = "#ops"
	botNick = "jouncebot"
	botPass = "botpassword1"
)

// helpText stands in for the command table's multi-line help.
var helpText = []string{
	"next — the next deployment window",
	"now — the window open now",
	"nowandnext — both of the above",
	"refresh — read the calendar again",
	"deploy <change> — backport a change (deployers)",
	"lock <reason> — take the deploy lock (deployers)",
	"unlock — release the deploy lock (deployers)",
	"freeze <reason> — stop deploys (admins)",
	"log <message> — write to the Server Admin Log",
	"help — this list",
}

// longReply needs four IRC lines.
var longReply = func() string {
	var words []string
	for i := range 250 {
		words = append(words, fmt.Sprintf("word%03d", i))
	}
	return strings.Join(words, " ")
}()

// testHandler answers like the command table will, until it lands: it
// strips the address prefix, answers nowandnext, whoami (which needs an
// identified account), help and echo, and records every message.
type testHandler struct {
	nick func() string

	mu   sync.Mutex
	seen []bot.Message
}

func (h *testHandler) Handle(ctx context.Context, r *bot.Request) {
	h.mu.Lock()
	h.seen = append(h.seen, r.Message)
	h.mu.Unlock()
	text := r.Text
	if !r.Private {
		rest, ok := cutAddress(text, h.nick())
		if !ok {
			return
		}
		text = rest
	}
	cmd, arg, _ := strings.Cut(text, " ")
	switch cmd {
	case "nowandnext":
		_ = r.Reply(ctx, bot.Join(bot.T("No deployments scheduled for the next 1 hour(s) and 0 minute(s)\nIn 1 hour(s) and 0 minute(s): "),
			bot.L("UTC late backport window", "https://wikitech.example.org/wiki/Deployments#deploycal-item-1")))
	case "whoami":
		if !r.Identified() {
			_ = r.Replyf(ctx, "%s: you need to be logged in to services (NickServ) for that.", r.Nick)
			return
		}
		_ = r.Replyf(ctx, "%s: you are logged in as %s.", r.Nick, r.Account)
	case "help":
		_ = r.Reply(ctx, bot.T(strings.Join(helpText, "\n")))
	case "long":
		_ = r.Reply(ctx, bot.T(longReply))
	case "echo":
		_ = r.Replyf(ctx, "echo %s", arg)
	}
}

func (h *testHandler) messages() []bot.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]bot.Message(nil), h.seen...)
}

func cutAddress(text, nick string) (string, bool) {
	if len(text) <= len(nick) || !strings.EqualFold(text[:len(nick)], nick) {
		return "", false
	}
	rest := text[len(nick):]
	if rest[0] != ':' && rest[0] != ',' {
		return "", false
	}
	return strings.TrimSpace(rest[1:]), true
}

// logBuffer collects log output safely from many goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

type runningBot struct {
	tr      *irc.Transport
	handler *testHandler
	logs    *logBuffer
}

func secret(v string) *config.Secret {
	s := config.NewSecret(v)
	return &s
}

// botNetwork is the bot's network configuration: SASL PLAIN on the
// server's strict-flood-limit port.
func botNetwork(srv *irctest.Server) config.Network {
	return config.Network{
		Name: "testnet", Type: "irc", Server: srv.StrictAddr,
		Nick: botNick, User: botNick, RealName: "jouncebot test",
		SASL:        &config.SASL{Mechanism: "PLAIN", Username: botNick, Password: secret(botPass)},
		Channels:    []config.Channel{{Name: channel}},
		PingTimeout: time.Minute,
	}
}

// startBot runs the transport in a bot.Bot until the test ends.
func startBot(t *testing.T, n config.Network, opts ...irc.Option) *runningBot {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tr, err := irc.New(n, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	h := &testHandler{nick: tr.Nick}
	b := bot.New(log, h)
	b.Add(tr)
	runHub(t, b)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("bot log:\n%s", logs.String())
		}
	})
	return &runningBot{tr: tr, handler: h, logs: logs}
}

// runHub runs b until the test ends; stopping must not take long.
func runHub(t testing.TB, b *bot.Bot) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(testenv.Scale(time.Minute)):
			t.Errorf("the bot did not stop within a minute of being asked to")
		}
	})
}

// waitUntil polls cond until it holds or the harness timeout passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(irctest.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// joins counts the times nick joined channel, as seen by c.
func joins(c *irctest.Client, nick string) func() int {
	return func() int {
		n := 0
		for _, e := range c.Events() {
			if e.Command == girc.JOIN && e.Source != nil && strings.EqualFold(e.Source.Name, nick) {
				n++
			}
		}
		return n
	}
}

// world is a server with accounts for the bot and alice, alice in the
// channel (as its operator), and the bot connected and joined.
type world struct {
	srv   *irctest.Server
	alice *irctest.Client
	bot   *runningBot
}

func newWorld(t *testing.T, opts ...irc.Option) *world {
	t.Helper()
	srv := irctest.Start(t)
	srv.Register(t, botNick, botPass)
	srv.Register(t, "alice", "alicepassword1")
	alice := srv.Client(t, irctest.ClientConfig{Nick: "alice", Account: "alice", Password: "alicepassword1"})
	alice.Join(t, channel)
	b := startBot(t, botNetwork(srv), opts...)
	waitUntil(t, "the bot joins "+channel, func() bool { return joins(alice, botNick)() >= 1 })
	return &world{srv: srv, alice: alice, bot: b}
}

func TestRoundTripInChannelAndPrivately(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	want := []string{
		"No deployments scheduled for the next 1 hour(s) and 0 minute(s)",
		"In 1 hour(s) and 0 minute(s): UTC late backport window (https://wikitech.example.org/wiki/Deployments#deploycal-item-1)",
	}

	w.alice.Say(channel, "jouncebot: nowandnext")
	var got []string
	for range want {
		got = append(got, w.alice.Expect(t, irctest.FromTo(botNick, channel)).Text)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("answer in channel (-want +got):\n%s", d)
	}

	w.alice.Say(botNick, "nowandnext")
	got = nil
	for range want {
		got = append(got, w.alice.Expect(t, irctest.FromTo(botNick, "alice")).Text)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("private answer (-want +got):\n%s", d)
	}

	w.alice.Say(channel, "jouncebot: whoami")
	if m := w.alice.Expect(t, irctest.FromTo(botNick, channel)); m.Text != "alice: you are logged in as alice." {
		t.Errorf("whoami answer = %q", m.Text)
	}

	msgs := w.bot.handler.messages()
	if len(msgs) < 2 {
		t.Fatalf("handler saw %d messages, want at least 2", len(msgs))
	}
	if m := msgs[0]; m.Room != channel || m.Private || m.Nick != "alice" || m.Account != "alice" || m.Network != "testnet" || m.Text != "jouncebot: nowandnext" || m.ID == "" || m.Time.IsZero() {
		t.Errorf("channel message = %+v", m)
	}
	if m := msgs[1]; m.Room != "alice" || !m.Private || m.Account != "alice" || m.Text != "nowandnext" {
		t.Errorf("private message = %+v", m)
	}
	if !strings.Contains(w.bot.logs.String(), "logged in to services") {
		t.Errorf("the bot's log does not show its SASL login:\n%s", w.bot.logs)
	}
	if s := w.bot.tr.Status(); !strings.HasPrefix(s, "connected") {
		t.Errorf("Status() = %q, want connected…", s)
	}

	ctx := context.Background()
	for _, tt := range []struct {
		room           string
		nick           string
		present, known bool
	}{
		{channel, "alice", true, true},
		{channel, "ALICE", true, true},
		{channel, "bob", false, true},
		{"#elsewhere", "alice", false, false},
		{channel, "", false, false},
	} {
		present, known := w.bot.tr.InRoom(ctx, tt.room, bot.Person{Name: "X", IRCNick: tt.nick})
		if present != tt.present || known != tt.known {
			t.Errorf("InRoom(%s, %q) = %v, %v; want %v, %v", tt.room, tt.nick, present, known, tt.present, tt.known)
		}
	}
	if to, ok := w.bot.tr.DirectTarget(ctx, bot.Person{IRCNick: "alice"}); !ok || to != (bot.Target{Network: "testnet", Room: "alice", Private: true}) {
		t.Errorf("DirectTarget = %+v, %v", to, ok)
	}
}

func TestUnidentifiedNickSpooferHasNoAccount(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.alice.Quit("bye")
	waitUntil(t, "alice has left", func() bool {
		for _, e := range w.alice.Events() {
			if e.Command == girc.ERROR || e.Command == girc.DISCONNECTED {
				return true
			}
		}
		return false
	})
	mallory := w.srv.Client(t, irctest.ClientConfig{Nick: "alice"}) // alice's nick, no login
	mallory.Join(t, channel)
	mallory.Say(channel, "jouncebot: whoami")
	if m := mallory.Expect(t, irctest.FromTo(botNick, channel)); m.Text != "alice: you need to be logged in to services (NickServ) for that." {
		t.Errorf("answer to the spoofer = %q", m.Text)
	}
	msgs := w.bot.handler.messages()
	last := msgs[len(msgs)-1]
	if last.Nick != "alice" || last.Account != "" {
		t.Errorf("spoofed message has Nick %q Account %q, want alice and no account", last.Nick, last.Account)
	}
}

func TestWrongSASLPasswordIsLoggedAndRetried(t *testing.T) {
	t.Parallel()
	srv := irctest.Start(t)
	srv.Register(t, botNick, botPass)
	n := botNetwork(srv)
	n.SASL.Password = secret("wrong-password")
	b := startBot(t, n, irc.WithBackoff(irc.Backoff{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond}))
	waitUntil(t, "two failed logins are logged", func() bool {
		return strings.Count(b.logs.String(), "SASL login failed") >= 2
	})
	logs := b.logs.String()
	if strings.Contains(logs, "wrong-password") {
		t.Errorf("the log shows the password:\n%s", logs)
	}
	if !strings.Contains(logs, `SASL PLAIN login as \"jouncebot\" refused`) {
		t.Errorf("the log does not say which login was refused:\n%s", logs)
	}
	if s := b.tr.Status(); !strings.Contains(s, "SASL login failed") {
		t.Errorf("Status() = %q, want it to say the SASL login failed", s)
	}
}

func TestReconnectsAndRejoinsAfterServerRestart(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	stopped := time.Now()
	w.srv.Stop()
	waitUntil(t, "the bot notices", func() bool { return strings.HasPrefix(w.bot.tr.Status(), "reconnecting") })
	w.srv.Restart(t)
	restarted := time.Now()
	alice := w.srv.Client(t, irctest.ClientConfig{Nick: "alice", Account: "alice", Password: "alicepassword1"})
	alice.Join(t, channel)
	// The bot may be back before alice: then she sees it in the names.
	waitUntil(t, "the bot rejoins", func() bool {
		ch := alice.LookupChannel(channel)
		return ch != nil && ch.UserIn(botNick)
	})
	// A few quick attempts (about half a second apart) and a
	// registration; a busy machine, whose restart is slow, adds to it.
	if d, limit := time.Since(restarted), testenv.Scale(9*time.Second); d > limit {
		t.Errorf("the bot took %v to come back after a %v outage; want at most %v", d, restarted.Sub(stopped), limit)
	}
	alice.Say(channel, "jouncebot: whoami")
	if m := alice.Expect(t, irctest.FromTo(botNick, channel)); m.Text != "alice: you are logged in as alice." {
		t.Errorf("answer after reconnect = %q", m.Text)
	}
	if !strings.Contains(w.bot.logs.String(), "disconnected; reconnecting") {
		t.Errorf("the reconnect is not in the log:\n%s", w.bot.logs)
	}
}

func TestPingTimeoutReconnects(t *testing.T) {
	t.Parallel()
	srv := irctest.Start(t)
	srv.Register(t, botNick, botPass)
	n := botNetwork(srv)
	n.PingTimeout = time.Second
	b := startBot(t, n, irc.WithBackoff(irc.Backoff{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond}))
	waitUntil(t, "connected", func() bool { return strings.HasPrefix(b.tr.Status(), "connected") })
	srv.Pause()
	waitUntil(t, "the bot notices the silence", func() bool { return strings.Contains(b.tr.Status(), "ping timeout") })
	srv.Resume()
	waitUntil(t, "connected again", func() bool { return strings.HasPrefix(b.tr.Status(), "connected") })
}

func TestRejoinsAfterKick(t *testing.T) {
	t.Parallel()
	w := newWorld(t, irc.WithRejoinDelay(100*time.Millisecond))
	w.alice.Raw("KICK " + channel + " " + botNick + " :testing")
	waitUntil(t, "the bot rejoins", func() bool { return joins(w.alice, botNick)() >= 2 })
	if !strings.Contains(w.bot.logs.String(), "kicked; rejoining") {
		t.Errorf("the kick is not in the log:\n%s", w.bot.logs)
	}
}

func TestIgnoredRelayOnlyDeliversSAL(t *testing.T) {
	t.Parallel()
	srv := irctest.Start(t)
	srv.Register(t, botNick, botPass)
	relay := srv.Client(t, irctest.ClientConfig{Nick: "logbot"})
	relay.Join(t, channel)
	n := botNetwork(srv)
	n.Ignore = []string{"LogBot"}
	b := startBot(t, n)
	waitUntil(t, "the bot joins", func() bool { return joins(relay, botNick)() >= 1 })
	relay.Say(channel, "jouncebot: whoami")
	relay.Say(channel, "!log alice: restarted \x02apache\x02")
	waitUntil(t, "the !log line arrives", func() bool { return len(b.handler.messages()) > 0 })
	got := b.handler.messages()
	if len(got) != 1 || got[0].Text != "!log alice: restarted apache" || got[0].Nick != "logbot" {
		t.Errorf("delivered from the ignored relay: %+v", got)
	}
}

func TestRegainsNickWhenFreed(t *testing.T) {
	t.Parallel()
	srv := irctest.Start(t)
	srv.Register(t, botNick, botPass)
	holder := srv.Client(t, irctest.ClientConfig{Nick: botNick})
	holder.Join(t, channel)
	b := startBot(t, botNetwork(srv), irc.WithNickRetry(200*time.Millisecond))
	waitUntil(t, "the bot connects as jouncebot_", func() bool { return b.tr.Nick() == botNick+"_" })
	holder.Quit("freeing the nick")
	waitUntil(t, "the bot takes its nick back", func() bool { return b.tr.Nick() == botNick })
}

func TestAnswersCTCPVersionAndIgnoresNotices(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.alice.Cmd.SendCTCP(botNick, "VERSION", "")
	m := w.alice.Expect(t, func(m irctest.Msg) bool { return m.Command == girc.NOTICE && m.Nick == botNick })
	if !strings.Contains(m.Text, "VERSION jouncebot") {
		t.Errorf("CTCP VERSION answer = %q", m.Text)
	}
	w.alice.Cmd.SendCTCP(botNick, "CLIENTINFO", "")
	w.alice.Cmd.Notice(channel, "jouncebot: whoami")
	w.alice.Say(channel, "jouncebot: echo after-notice")
	m = w.alice.Expect(t, irctest.FromTo(botNick, channel))
	if m.Text != "echo after-notice" {
		t.Errorf("the bot answered the NOTICE: %q", m.Text)
	}
	for _, m := range w.alice.Messages() {
		if m.Command == girc.NOTICE && m.Nick == botNick && strings.Contains(m.Text, "ERRMSG") {
			t.Errorf("the bot answered an unknown CTCP: %q", m.Text)
		}
	}
}

func TestTLSWithSASLExternal(t *testing.T) {
	t.Parallel()
	srv := irctest.Start(t)
	srv.Register(t, botNick, botPass)
	cert, key, fp, err := srv.ClientCert(botNick)
	if err != nil {
		t.Fatal(err)
	}
	owner := srv.Client(t, irctest.ClientConfig{Nick: "owner", Account: botNick, Password: botPass})
	owner.Say("NickServ", "CERT ADD "+fp)
	owner.Expect(t, func(m irctest.Msg) bool { return m.Nick == "NickServ" && strings.Contains(m.Text, "fingerprint") })

	n := botNetwork(srv)
	n.Server, n.TLS, n.CAFile = srv.TLSAddr, true, srv.CAFile
	n.SASL = &config.SASL{Mechanism: "EXTERNAL", CertFile: cert, KeyFile: key}
	b := startBot(t, n)
	waitUntil(t, "connected over TLS", func() bool { return strings.HasPrefix(b.tr.Status(), "connected") })
	if !strings.Contains(b.logs.String(), "logged in to services") {
		t.Errorf("the bot did not log in with its certificate:\n%s", b.logs)
	}
	if !strings.Contains(b.logs.String(), "tls=true") {
		t.Errorf("the connection is not logged as TLS:\n%s", b.logs)
	}
}

// TestFloodStaysConnected sends a multi-line answer and then 29
// requests as fast as the requester can; the bot sits on the port with
// InspIRCd's stock flood limits, which disconnect a client for "Excess
// Flood". Every answer must arrive, in order, without a reconnect.
func TestFloodStaysConnected(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.alice.Say(channel, "jouncebot: help")
	const n = 29 // with help, within one sender's reply budget (bot.Request.Reply)
	for i := range n {
		w.alice.Say(channel, fmt.Sprintf("jouncebot: echo %d", i))
	}
	// A long answer takes at most three lines in the channel; the rest
	// goes to alice privately.
	want := []string{helpText[0], helpText[1], fmt.Sprintf("alice: … and %d more lines, sent to you privately.", len(helpText)-2)}
	for i := range n {
		want = append(want, fmt.Sprintf("echo %d", i))
	}
	var got []string
	for range want {
		m, err := w.alice.ExpectWithin(2*time.Minute, irctest.FromTo(botNick, channel))
		if err != nil {
			t.Fatalf("after %d answers: %v", len(got), err)
		}
		got = append(got, m.Text)
	}
	// The bot hub answers each room's requests in the order they came.
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("answers (-want +got):\n%s", d)
	}
	got = nil
	for _, m := range w.alice.Messages() { // they came before the echoes
		if irctest.FromTo(botNick, "alice")(m) {
			got = append(got, m.Text)
		}
	}
	if d := cmp.Diff(helpText[2:], got); d != "" {
		t.Errorf("the rest of the long answer, privately (-want +got):\n%s", d)
	}
	if logs := w.bot.logs.String(); strings.Contains(logs, "disconnected") {
		t.Errorf("the bot was disconnected:\n%s", logs)
	}
}

// TestFloodWithoutBucketIsKilled shows that the flood test means something:
// with pacing switched off, the same server disconnects the bot.
func TestFloodWithoutBucketIsKilled(t *testing.T) {
	t.Parallel()
	w := newWorld(t, irc.WithBucket(1000, time.Nanosecond))
	for i := range 30 {
		w.alice.Say(channel, fmt.Sprintf("jouncebot: echo %d", i))
	}
	waitUntil(t, "the server disconnects the bot", func() bool {
		return strings.Contains(w.bot.logs.String(), "disconnected; reconnecting")
	})
}

func TestJoinsWithKeyAndRetriesFailedJoin(t *testing.T) {
	t.Parallel()
	srv := irctest.Start(t)
	srv.Register(t, botNick, botPass)
	op := srv.Client(t, irctest.ClientConfig{Nick: "op"})
	op.Join(t, channel)
	op.Join(t, "#keyed")
	op.Raw("MODE #keyed +k sesame")
	op.Raw("MODE " + channel + " +i")
	op.WaitEvent(t, func(e *girc.Event) bool { return e.Command == girc.MODE && len(e.Params) > 1 && e.Params[1] == "+i" })

	n := botNetwork(srv)
	n.Channels = []config.Channel{{Name: channel}, {Name: "#keyed", Key: secret("sesame")}}
	b := startBot(t, n, irc.WithRejoinDelay(50*time.Millisecond))
	waitUntil(t, "the bot joins #keyed with its key", func() bool {
		for _, e := range op.Events() {
			if e.Command == girc.JOIN && e.Source != nil && e.Source.Name == botNick && e.Params[0] == "#keyed" {
				return true
			}
		}
		return false
	})
	waitUntil(t, "the failed join is logged", func() bool { return strings.Contains(b.logs.String(), "could not join; will retry") })
	op.Raw("MODE " + channel + " -i")
	waitUntil(t, "the bot joins "+channel+" once it may", func() bool { return joins(op, botNick)() >= 2 })
}

func TestGhostsNickHolderWithNickServ(t *testing.T) {
	t.Parallel()
	srv := irctest.Start(t)
	srv.Register(t, botNick, botPass)
	holder := srv.Client(t, irctest.ClientConfig{Nick: botNick})
	n := botNetwork(srv)
	n.NickServ = secret(botPass)
	b := startBot(t, n, irc.WithNickRetry(time.Hour))
	waitUntil(t, "the bot takes its nick back", func() bool { return b.tr.Nick() == botNick })
	holder.WaitEvent(t, func(e *girc.Event) bool { return e.Command == girc.ERROR || e.Command == girc.DISCONNECTED })
	if logs := b.logs.String(); strings.Contains(logs, botPass) {
		t.Errorf("the NickServ password is in the log:\n%s", logs)
	}
}

// TestLongReplyIsSplitAtWords checks the 512-byte arithmetic against the
// server: InspIRCd cuts longer lines silently, so every word arriving
// intact, in order, proves the pieces fit with the prefix it adds.
func TestLongReplyIsSplitAtWords(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.alice.Say(channel, "jouncebot: long")
	var got []string
	for len(strings.Join(got, " ")) < len(longReply) {
		m := w.alice.Expect(t, irctest.FromTo(botNick, channel))
		got = append(got, m.Text)
	}
	if len(got) < 4 {
		t.Errorf("the reply came in %d lines, want at least 4", len(got))
	}
	if d := cmp.Diff(longReply, strings.Join(got, " ")); d != "" {
		t.Errorf("reassembled reply (-want +got):\n%s", d)
	}
}

func TestServerPassword(t *testing.T) {
	t.Parallel()
	srv := irctest.Start(t)
	n := botNetwork(srv)
	n.Server, n.SASL = srv.PasswordAddr, nil

	n.ServerPassword = secret("wrong")
	wrong := startBot(t, n, irc.WithBackoff(irc.Backoff{Min: 50 * time.Millisecond, Max: 100 * time.Millisecond}))
	waitUntil(t, "the wrong password is refused", func() bool { return strings.Contains(wrong.tr.Status(), "reconnecting") })

	n.ServerPassword = secret(irctest.ServerPassword)
	right := startBot(t, n)
	waitUntil(t, "connected with the password", func() bool { return strings.HasPrefix(right.tr.Status(), "connected") })
	if strings.Contains(wrong.tr.Status(), "connected to") {
		t.Errorf("connected with a wrong password: %s", wrong.tr.Status())
	}
	t.Logf("wrong password: %s", wrong.tr.Status())
}

// TestAccountFromTrackingWithoutAccountTag covers servers without the
// account tag: the account comes from extended-join, WHO and
// account-notify, and logging out is seen at once.
func TestAccountFromTrackingWithoutAccountTag(t *testing.T) {
	t.Parallel()
	srv := irctest.Start(t, irctest.WithoutAccountTag())
	srv.Register(t, botNick, botPass)
	srv.Register(t, "alice", "alicepassword1")
	srv.Register(t, "carol", "carolpassword1")
	alice := srv.Client(t, irctest.ClientConfig{Nick: "alice", Account: "alice", Password: "alicepassword1"})
	alice.Join(t, channel) // before the bot: known from WHO
	b := startBot(t, botNetwork(srv))
	waitUntil(t, "the bot joins", func() bool { return joins(alice, botNick)() >= 1 })
	carol := srv.Client(t, irctest.ClientConfig{Nick: "carol", Account: "carol", Password: "carolpassword1"})
	carol.Join(t, channel) // after the bot: known from extended-join
	mallory := srv.Client(t, irctest.ClientConfig{Nick: "mallory"})
	mallory.Join(t, channel)

	ask := func(c *irctest.Client, nick string) string {
		t.Helper()
		c.Say(channel, "jouncebot: whoami")
		return c.Expect(t, func(m irctest.Msg) bool {
			return irctest.FromTo(botNick, channel)(m) && strings.HasPrefix(m.Text, nick+":")
		}).Text
	}
	for _, tt := range []struct {
		c    *irctest.Client
		nick string
		want string
	}{
		{alice, "alice", "alice: you are logged in as alice."},
		{carol, "carol", "carol: you are logged in as carol."},
		{mallory, "mallory", "mallory: you need to be logged in to services (NickServ) for that."},
	} {
		if got := ask(tt.c, tt.nick); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.nick, got, tt.want)
		}
	}
	carol.Say("NickServ", "LOGOUT")
	carol.Expect(t, func(m irctest.Msg) bool { return m.Nick == "NickServ" && strings.Contains(m.Text, "logged out") })
	if got := ask(carol, "carol"); got != "carol: you need to be logged in to services (NickServ) for that." {
		t.Errorf("after logout: got %q", got)
	}
	for _, m := range b.handler.messages() {
		if m.Account != "" && m.Account != m.Nick {
			t.Errorf("message from %s carries account %q", m.Nick, m.Account)
		}
	}
}
