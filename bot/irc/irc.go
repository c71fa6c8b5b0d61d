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
//     ping_timeout; after a lost connection it tries again about every half
//     second, ten times, then backs off exponentially with jitter up to
//     2 min; a registration resets that unless the connection keeps being
//     lost (more than 15 times in 10 minutes). Channels are joined at the
//     welcome and rejoined after a kick and a failed join; the configured
//     nick is taken back when it frees up (or with NickServ GHOST when
//     nickserv_password is set). A failed SASL login is logged with the
//     server's reason and retried at the capped interval; a registration
//     without the account (services away) is logged, shown in Status, and
//     mended once services are back (account.go). Status() says what the
//     connection is doing.
//   - Never floods, and is fair: every line the bot sends goes through one
//     token bucket per connection (the network's pace), from three queues:
//     control lines, then priority sends (SendPriority: deploy events,
//     notices), then replies (Send), which take turns by target a line at
//     a time, so a long private reply never holds up someone else's
//     answer. A priority send returns once the
//     server took it (echo-message, else a PING barrier). Long replies are
//     split at spaces to fit IRC's 512-byte line including the prefix the
//     server adds; absurdly long ones end with a note line. In channels,
//     replies of more than ChannelLines lines continue privately (the bot
//     core does that).
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
// Concurrency and order: Send and SendPriority may be called from any
// goroutine. Lines to one target arrive in the order they were given, each
// once: the lines of one Send stay together (no other reply comes between
// them), Sends keep the order in which they were called, and priority sends
// keep theirs. A priority send goes ahead of replies still queued, so it may
// come between two lines of a reply; nothing else is promised across the two
// kinds. Replies queued while disconnected go out after the reconnect,
// unless they waited more than ten minutes; a line the connection lost as it
// broke is not sent again (only priority sends learn of it).
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
	"sync"
	"sync/atomic"
	"time"

	"github.com/lrstanley/girc"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/internal/backoff"
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

	// ctrl, prio and replies are the outbound queues (see out.go): control
	// lines, then priority sends, then replies, all through one bucket.
	ctrl    chan outLine
	prio    chan outLine
	replies *replyQueue
	sendMu  sync.Mutex // keeps the lines of one Send together
	prioMu  sync.Mutex // keeps the lines of one SendPriority together
	// writeMu guards the connections' buckets and the writing of a paced
	// line, shared by the sending goroutine and Send's fast path.
	writeMu sync.Mutex
	queued  atomic.Int64 // lines queued or being sent by the sending goroutine

	mu      sync.Mutex
	status  string
	conn    *session      // the current connection, nil between connections
	ready   chan struct{} // closed while a connection is welcomed
	chans   channels      // the channels joined on the current connection
	running bool
	since   time.Time // when the connection last came up or went down
	drops   uint64    // connections lost
}

// Option changes a Transport's behaviour; the defaults suit real networks.
type Option func(*options)

type options struct {
	backoff      Backoff
	bucket       func() *Bucket
	maxLines     int
	rejoinDelay  time.Duration
	nickRetry    time.Duration
	version      string
	accountRetry time.Duration
	saslTimeout  time.Duration
}

// WithBackoff sets the reconnect backoff.
func WithBackoff(b Backoff) Option { return func(o *options) { o.backoff = b } }

// WithBucket sets the flood-control bucket of each new connection,
// overriding the network's pace.
func WithBucket(burst int, interval time.Duration) Option {
	return func(o *options) {
		o.bucket = func() *Bucket { return &Bucket{Burst: burst, Interval: interval} }
	}
}

// WithMaxLines sets how many IRC lines one message may take; a longer one
// ends with a note line instead.
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
		log:     log.With("component", "irc", "network", n.Name),
		ctrl:    make(chan outLine, 64),
		prio:    make(chan outLine, 256),
		replies: newReplyQueue(1024),
		ready:   make(chan struct{}),
		status:  "not started",
		opts: options{
			backoff:      DefaultBackoff,
			bucket:       DefaultBucket,
			maxLines:     100,
			rejoinDelay:  5 * time.Second,
			nickRetry:    time.Minute,
			accountRetry: 2 * time.Second,
			saslTimeout:  15 * time.Second,
			version:      "jouncebot (https://github.com/jouncebot/jouncebot)",
		},
	}
	if t.net.PingTimeout <= 0 {
		t.net.PingTimeout = 3 * time.Minute
	}
	if pc := n.Pace; pc != nil && pc.Burst > 0 && pc.Rate > 0 {
		WithBucket(pc.Burst, time.Duration(float64(time.Second)/pc.Rate))(&t.opts)
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
	var flaps flapCounter
	noSASL := false
	for {
		t.setStatus("connecting to %s", t.net.Server)
		res := t.connect(ctx, h, noSASL)
		noSASL = res.saslSilent
		if ctx.Err() != nil {
			t.setStatus("stopped")
			return ctx.Err()
		}
		// A registration that worked resets the backoff, unless the
		// connection keeps being lost soon after it (a flapping server,
		// or one that throws the bot out): then the waits keep growing.
		if res.welcomed {
			if flaps.add(time.Now()) {
				t.log.Warn("the connection keeps being lost; backing off", "lost", flapLimit, "within", flapWindow)
			} else {
				failures = 0
			}
		}
		var d time.Duration
		if res.saslFailed {
			// Retrying a wrong password quickly helps nobody and may
			// get the account locked; wait the longest interval.
			d = t.opts.backoff.Delay(64, rand.Float64())
			t.log.Error("SASL login failed; check the account and password", "reason", res.reason, "retry_in", d)
			t.setStatus("SASL login failed (%s); retrying in %s", res.reason, d.Round(time.Second))
		} else {
			d = t.reconnectDelay(failures, rand.Float64())
			failures++
			t.log.Warn("disconnected; reconnecting", "reason", res.reason, "retry_in", d, "attempt", failures)
			t.setStatus("reconnecting in %s: %s", d.Round(time.Second), res.reason)
		}
		if err := backoff.Sleep(ctx, d); err != nil {
			t.setStatus("stopped")
			return err
		}
	}
}

// rfcEqual compares nicks and channel names the way IRC servers do.
func rfcEqual(a, b string) bool { return girc.ToRFC1459(a) == girc.ToRFC1459(b) }

// reconnectDelay is the wait before reconnect attempt n after a lost
// connection: about half a second for the first quickRetries attempts (a
// restarting server is back within seconds), then the backoff.
func (t *Transport) reconnectDelay(n int, jitter float64) time.Duration {
	if n < quickRetries {
		return time.Duration(float64(min(quickDelay, t.opts.backoff.Min)) * (0.75 + 0.5*jitter))
	}
	return t.opts.backoff.Delay(n-quickRetries, jitter)
}
