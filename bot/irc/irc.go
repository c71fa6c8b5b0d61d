// Package irc is jouncebot's IRC transport, built on girc. It implements
// bot.Transport (and bot.Status) for one config.Network of type "irc":
//
//	tr, err := irc.New(netCfg, logger)
//	if err != nil { ... }
//	b.Add(tr) // b is a *bot.Bot; b.Run(ctx) runs tr.Run
//
// What it does for the rest of the bot:
//
//   - Connects over plain TCP or TLS (system roots, or ca_file), with a
//     server password and SASL PLAIN or EXTERNAL, and joins the configured
//     channels (with keys). "Connected" means RPL_WELCOME was received.
//   - Stays connected: a ping watchdog closes a silent connection after
//     ping_timeout; reconnects back off exponentially with jitter from
//     about 1 s to 2 min; channels are rejoined after a reconnect, a kick
//     and a failed join; the configured nick is taken back when it frees up
//     (or with NickServ GHOST when nickserv_password is set). A failed SASL
//     login is logged with the server's reason and retried at the capped
//     interval. Status() says what the connection is doing.
//   - Never floods: every line the bot sends (messages, joins, nick changes)
//     goes through one queue per connection, paced by a token bucket; long
//     replies are split at spaces to fit IRC's 512-byte line including the
//     prefix the server adds; absurdly long replies are cut with a note.
//   - Fills bot.Message.Account with the sender's services account: from
//     the IRCv3 account tag when the server sends it (then a missing tag
//     means "not identified"), else from what extended-join and
//     account-notify told us. Nick never counts as identity.
//   - Ignores nicks in the network's ignore list (bots, relays), except for
//     their lines that start with "!log ", which the Server Admin Log needs
//     from relay bots. Their Account is the relay's own account, not that
//     of whoever the relay speaks for.
//   - Replies where it was asked: in the channel, or privately to the nick.
//     Incoming text has IRC formatting and control bytes removed; outgoing
//     text has user-supplied control bytes removed, bold as ^B only when the
//     network's formatting is enabled, mentions as IRC nicks. CTCP VERSION
//     and PING are answered; NOTICEs and the bot's own messages are never
//     acted on.
//
// Message.Text is the line as said, including an address prefix such as
// "jouncebot: "; Nick() gives the nick the bot currently has on the network
// so commands can recognise it when the configured nick was taken. The
// transport also implements bot.Roster (by nick, for whom to ping) and
// bot.Directer (a private message to the person's IRC nick).
//
// Concurrency: Send may be called from any goroutine; the lines of one Send
// are never interleaved with another's. Replies queued while disconnected
// go out after the reconnect, unless they waited more than ten minutes.
package irc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lrstanley/girc"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
)

var (
	_ bot.Transport = (*Transport)(nil)
	_ bot.Status    = (*Transport)(nil)
)

// Transport is one IRC network connection. Create it with New.
type Transport struct {
	net  config.Network
	log  *slog.Logger
	opts options
	tls  *tls.Config // nil for plain TCP
	host string
	port int

	// ctrl and msgs are the outbound queue: ctrl (joins, nick changes,
	// NickServ) goes before msgs (replies), both through the same bucket.
	ctrl   chan outLine
	msgs   chan outLine
	sendMu sync.Mutex // keeps the lines of one Send together

	mu      sync.Mutex
	status  string
	conn    *session      // the current connection, nil between connections
	ready   chan struct{} // closed while a connection is welcomed
	running bool
	since   time.Time // when the connection last came up or went down
	drops   uint64    // connections lost
}

// Option changes a Transport's behaviour; the defaults suit real networks.
type Option func(*options)

type options struct {
	backoff     Backoff
	bucket      func() *Bucket
	maxLines    int
	rejoinDelay time.Duration
	nickRetry   time.Duration
	stableAfter time.Duration
	version     string
}

// WithBackoff sets the reconnect backoff.
func WithBackoff(b Backoff) Option { return func(o *options) { o.backoff = b } }

// WithBucket sets the flood-control bucket of each new connection.
func WithBucket(burst int, interval time.Duration) Option {
	return func(o *options) {
		o.bucket = func() *Bucket { return &Bucket{Burst: burst, Interval: interval} }
	}
}

// WithMaxLines sets how many IRC lines one reply may take before it is cut.
func WithMaxLines(n int) Option { return func(o *options) { o.maxLines = n } }

// WithRejoinDelay sets the wait before rejoining after a kick; a failed
// join is retried after ten times this.
func WithRejoinDelay(d time.Duration) Option { return func(o *options) { o.rejoinDelay = d } }

// WithNickRetry sets how often the bot tries to take back its configured
// nick while it has another.
func WithNickRetry(d time.Duration) Option { return func(o *options) { o.nickRetry = d } }

// WithVersion sets the CTCP VERSION answer.
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// New checks the network's settings and returns a transport ready to Run.
// It reads the TLS files now, so a wrong path is reported at startup.
func New(n config.Network, log *slog.Logger, opts ...Option) (*Transport, error) {
	if n.Type != "irc" {
		return nil, fmt.Errorf("irc: network %s has type %q, not irc", n.Name, n.Type)
	}
	host, portStr, err := net.SplitHostPort(n.Server)
	if err != nil {
		return nil, fmt.Errorf("irc: network %s: server must be host:port, got %q", n.Name, n.Server)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("irc: network %s: port %q is not a number", n.Name, portStr)
	}
	t := &Transport{
		net: n, host: host, port: port,
		log:    log.With("component", "irc", "network", n.Name),
		ctrl:   make(chan outLine, 64),
		msgs:   make(chan outLine, 1024),
		ready:  make(chan struct{}),
		status: "not started",
		opts: options{
			backoff:     DefaultBackoff,
			bucket:      DefaultBucket,
			maxLines:    20,
			rejoinDelay: 5 * time.Second,
			nickRetry:   time.Minute,
			stableAfter: time.Minute,
			version:     "jouncebot (https://github.com/jouncebot/jouncebot)",
		},
	}
	if t.net.PingTimeout <= 0 {
		t.net.PingTimeout = 3 * time.Minute
	}
	for _, o := range opts {
		o(&t.opts)
	}
	if t.tls, err = tlsConfig(n, host); err != nil {
		return nil, fmt.Errorf("irc: network %s: %w", n.Name, err)
	}
	return t, nil
}

func tlsConfig(n config.Network, host string) (*tls.Config, error) {
	external := n.SASL != nil && n.SASL.Mechanism == "EXTERNAL"
	if !n.TLS {
		if external {
			return nil, errors.New("SASL EXTERNAL needs tls: true (the client certificate is sent in the TLS handshake)")
		}
		return nil, nil
	}
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if n.CAFile != "" {
		pem, err := os.ReadFile(n.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", n.CAFile)
		}
		cfg.RootCAs = pool
	}
	if external {
		cert, err := tls.LoadX509KeyPair(n.SASL.CertFile, n.SASL.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load SASL EXTERNAL client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Network is the configured network name.
func (t *Transport) Network() string { return t.net.Name }

// Rooms lists the configured channels; announcements go there.
func (t *Transport) Rooms() []string {
	rooms := make([]string, len(t.net.Channels))
	for i, c := range t.net.Channels {
		rooms[i] = c.Name
	}
	return rooms
}

// Status says what the connection is doing, e.g. "connected as jouncebot"
// or "reconnecting in 4s: ping timeout". It implements bot.Status.
func (t *Transport) Status() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status
}

// Nick is the nick the bot has on the network now (the configured one
// when not connected).
func (t *Transport) Nick() string {
	t.mu.Lock()
	s := t.conn
	t.mu.Unlock()
	if s != nil {
		if n := s.nick(); n != "" {
			return n
		}
	}
	return t.net.Nick
}

func (t *Transport) setStatus(format string, args ...any) {
	t.mu.Lock()
	t.status = fmt.Sprintf(format, args...)
	t.mu.Unlock()
}

// Run connects, delivers messages to h and reconnects until ctx is done.
func (t *Transport) Run(ctx context.Context, h bot.Handler) error {
	t.mu.Lock()
	if t.running {
		t.mu.Unlock()
		return errors.New("irc: Run called twice")
	}
	t.running = true
	t.mu.Unlock()

	var wg sync.WaitGroup
	wg.Go(func() { t.sendLoop(ctx) })
	defer wg.Wait()

	failures := 0
	for {
		t.setStatus("connecting to %s", t.net.Server)
		start := time.Now()
		res := t.connect(ctx, h)
		if ctx.Err() != nil {
			t.setStatus("stopped")
			return ctx.Err()
		}
		if res.welcomed && time.Since(start) >= t.opts.stableAfter {
			failures = 0
		}
		var d time.Duration
		if res.saslFailed {
			// Retrying a wrong password quickly helps nobody and may
			// get the account locked; wait the longest interval.
			d = t.opts.backoff.Delay(64, rand.Float64())
			t.log.Error("SASL login failed; check the account and password", "reason", res.reason, "retry_in", d)
			t.setStatus("SASL login failed (%s); retrying in %s", res.reason, d.Round(time.Second))
		} else {
			d = t.opts.backoff.Delay(failures, rand.Float64())
			failures++
			t.log.Warn("disconnected; reconnecting", "reason", res.reason, "retry_in", d, "attempt", failures)
			t.setStatus("reconnecting in %s: %s", d.Round(time.Second), res.reason)
		}
		select {
		case <-ctx.Done():
			t.setStatus("stopped")
			return ctx.Err()
		case <-time.After(d):
		}
	}
}

// Send renders t for IRC and queues it for to.Room (a channel, or a nick
// when to.Private). It returns once every line is queued.
func (t *Transport) Send(ctx context.Context, to bot.Target, text bot.Text) error {
	if to.Network != "" && to.Network != t.net.Name {
		return fmt.Errorf("irc: network %s cannot send to network %s", t.net.Name, to.Network)
	}
	target := StripControl(to.Room)
	if target == "" || strings.ContainsAny(target, " ,") {
		return fmt.Errorf("irc: cannot send to %q: not a channel or nick", to.Room)
	}
	lines := Fit(Render(text, t.net.FormattingEnabled()), t.maxText(target), t.opts.maxLines)
	t.sendMu.Lock()
	defer t.sendMu.Unlock()
	for _, l := range lines {
		select {
		case t.msgs <- outLine{ev: &girc.Event{Command: girc.PRIVMSG, Params: []string{target, l}}, queued: time.Now()}:
		case <-ctx.Done():
			return fmt.Errorf("irc: the message to %s could not be queued: %w", target, ctx.Err())
		}
	}
	return nil
}

// maxText is how many bytes of text fit in one PRIVMSG to target once the
// server has put ":nick!user@host " in front of it.
func (t *Transport) maxText(target string) int {
	nick := max(len(t.Nick()), len(t.net.Nick)+2)
	user := len(t.net.User) + 1 // servers may add "~"
	host := 63
	t.mu.Lock()
	if s := t.conn; s != nil {
		if h := s.c.GetHost(); h != "" {
			host = len(h)
		}
	}
	t.mu.Unlock()
	overhead := len(":!@ PRIVMSG  :\r\n") + nick + user + host + len(target)
	return 512 - overhead
}

// outLine is one queued line. Control lines belong to one connection and
// are dropped if it is gone by the time they would be sent.
type outLine struct {
	ev     *girc.Event
	cost   int       // bucket tokens (a JOIN also makes girc send WHO and MODE)
	conn   *session  // for control lines
	queued time.Time // for messages
}

// staleAfter is how long a message may wait for a connection. Answers and
// announcements older than this would confuse more than help.
const staleAfter = 10 * time.Minute

// sendLoop sends queued lines through the current connection, paced by
// the connection's bucket. Messages wait for a connection.
func (t *Transport) sendLoop(ctx context.Context) {
	for {
		var l outLine
		select {
		case <-ctx.Done():
			return
		case l = <-t.ctrl:
		default:
			select {
			case <-ctx.Done():
				return
			case l = <-t.ctrl:
			case l = <-t.msgs:
			}
		}
		t.sendLine(ctx, l)
	}
}

func (t *Transport) sendLine(ctx context.Context, l outLine) {
	for {
		t.mu.Lock()
		s, ready := t.conn, t.ready
		t.mu.Unlock()
		if l.conn != nil && l.conn != s {
			return // control line for a connection that is gone
		}
		if !l.queued.IsZero() && time.Since(l.queued) > staleAfter {
			t.log.Warn("dropping a message that waited too long for a connection", "to", l.ev.Params[0], "queued", l.queued)
			return
		}
		if s == nil {
			select {
			case <-ctx.Done():
				return
			case <-ready:
				continue
			}
		}
		if t.pace(ctx, s, l, func(l outLine) { s.c.Send(l.ev) }) {
			return
		}
	}
}

// pace waits until s's bucket lets l go and sends it. It reports false when
// the connection was lost while waiting, so l waits for the next one.
func (t *Transport) pace(ctx context.Context, s *session, l outLine, send func(outLine)) bool {
	wait := s.bucket.Reserve(time.Now())
	for range l.cost - 1 {
		s.bucket.Reserve(time.Now())
	}
	if wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return true
		case <-timer.C:
		}
	}
	if s.c != nil && !s.c.IsConnected() {
		return false
	}
	send(l)
	return true
}

// control queues a line for connection s ahead of replies.
func (t *Transport) control(s *session, cost int, command string, params ...string) {
	select {
	case t.ctrl <- outLine{ev: &girc.Event{Command: command, Params: params, Sensitive: command == girc.PRIVMSG}, cost: cost, conn: s}:
	default:
		t.log.Warn("control queue full; dropping line", "command", command)
	}
}

// rfcEqual compares nicks and channel names the way IRC servers do.
func rfcEqual(a, b string) bool { return girc.ToRFC1459(a) == girc.ToRFC1459(b) }
