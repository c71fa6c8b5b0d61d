package irc

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lrstanley/girc"

	"github.com/jouncebot/jouncebot/bot"
)

// session is one connection to the server, from dial to disconnect.
type session struct {
	t      *Transport
	c      *girc.Client
	bucket *Bucket
	dialer *dialer

	registered chan struct{} // closed at the welcome

	ctx    context.Context // done when the connection is over
	cancel context.CancelFunc
	runCtx context.Context // done when the transport stops; handlers get it

	lastRecv atomic.Int64 // unix nanoseconds of the last line from the server
	ids      atomic.Uint64

	mu         sync.Mutex
	welcomed   bool
	curNick    string
	reason     string // why the connection ended, for logs and Status
	saslFailed bool
	saslSilent bool // services never answered the SASL login
	noSASL     bool // this connection does not try SASL at registration
	loggedIn   bool // RPL_LOGGEDIN seen (and no RPL_LOGGEDOUT since)
	lastCTCP   time.Time

	outMu    sync.Mutex
	pending  []*delivery          // priority sends with lines on this connection
	barriers map[string]*delivery // PING token → the send it settles
}

// result says how a connection ended.
type result struct {
	welcomed   bool
	saslFailed bool
	saslSilent bool // the next connection should register without SASL
	reason     string
}

func (s *session) nick() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.curNick
}

func (s *session) setReason(r string) {
	s.mu.Lock()
	if s.reason == "" {
		s.reason = r
	}
	s.mu.Unlock()
}

// connect runs one connection until it ends or ctx is done.
// Without SASL at registration (noSASL) it logs in to services afterwards
// (see account.go).
func (t *Transport) connect(ctx context.Context, h bot.Handler, noSASL bool) result {
	s := &session{t: t, bucket: t.opts.bucket(), dialer: &dialer{tls: t.tls}, runCtx: ctx, registered: make(chan struct{}), noSASL: noSASL}
	s.ctx, s.cancel = context.WithCancel(ctx)
	defer s.cancel()
	s.c = girc.New(t.clientConfig(s))
	// CTCP is answered by us, through the flood-controlled queue: replace
	// girc's default answers, which would bypass it.
	for _, cmd := range []string{girc.CTCP_PING, girc.CTCP_PONG, girc.CTCP_VERSION, girc.CTCP_SOURCE, girc.CTCP_TIME, girc.CTCP_FINGER} {
		s.c.CTCP.Set(cmd, func(_ *girc.Client, e girc.CTCPEvent) { s.onCTCP(&e) })
	}
	s.register(h)
	s.lastRecv.Store(time.Now().UnixNano())

	done := make(chan error, 1)
	go func() { done <- s.c.DialerConnect(s.dialer) }()
	var wg sync.WaitGroup
	wg.Go(s.watchdog)
	wg.Go(s.saslWatch)
	err := func() error {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			s.setReason("shutting down")
			s.c.Quit("shutting down")
			select {
			case err := <-done:
				return err
			case <-time.After(2 * time.Second):
				s.dialer.close()
				return <-done
			}
		}
	}()
	s.cancel()
	wg.Wait()

	t.mu.Lock()
	if t.conn == s {
		t.conn = nil
		t.ready = make(chan struct{})
		t.since, t.drops = time.Now(), t.drops+1
	}
	t.mu.Unlock()
	t.chans.clear()

	s.mu.Lock()
	defer s.mu.Unlock()
	res := result{welcomed: s.welcomed, saslFailed: s.saslFailed, saslSilent: s.saslSilent, reason: s.reason}
	if res.reason == "" {
		switch {
		case err != nil:
			res.reason = err.Error()
		default:
			res.reason = "the server closed the connection"
		}
	}
	s.failPending(res.reason)
	return res
}

func (t *Transport) clientConfig(s *session) girc.Config {
	cfg := girc.Config{
		Server:     t.host,
		Port:       t.port,
		ServerPass: t.net.ServerPassword.Value(),
		Nick:       t.net.Nick,
		User:       t.net.User,
		Name:       t.net.RealName,
		AllowFlood: true, // we pace lines ourselves
		PingDelay:  -1,   // the watchdog pings
		HandleNickCollide: func(old string) string {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.welcomed {
				return "" // a failed attempt to regain the nick: keep ours
			}
			return old + "_"
		},
		DisableSTS: true,
		// echo-message tells a priority send that the server took it.
		SupportedCaps: map[string][]string{"echo-message": nil},
		// A bug in one of our event handlers must not take the process down.
		RecoverFunc: func(_ *girc.Client, e *girc.HandlerError) {
			t.log.Error("IRC event handler panicked", "panic", e.Panic, "event", e.Event.Command, "stack", string(e.Stack))
		},
	}
	if sasl := t.net.SASL; sasl != nil && !s.noSASL {
		switch sasl.Mechanism {
		case "EXTERNAL":
			cfg.SASL = &girc.SASLExternal{}
		default:
			cfg.SASL = &girc.SASLPlain{User: sasl.Username, Pass: sasl.Password.Value()}
		}
	}
	return cfg
}

// watchdog closes a connection the server has gone quiet on: it pings after
// half the ping timeout of silence and gives up after the whole.
func (s *session) watchdog() {
	timeout := s.t.net.PingTimeout
	tick := time.NewTicker(max(timeout/8, 10*time.Millisecond))
	defer tick.Stop()
	pinged := false
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		quiet := time.Since(time.Unix(0, s.lastRecv.Load()))
		switch {
		case quiet >= timeout:
			s.setReason(fmt.Sprintf("ping timeout: nothing from the server for %s", quiet.Round(time.Second)))
			s.dialer.close()
			return
		case quiet >= timeout/2 && !pinged:
			if s.c.IsConnected() {
				// Through the bucket like every other line: a server
				// counts a PING against the flood allowance too.
				s.t.control(s, 1, girc.PING, fmt.Sprint(time.Now().UnixNano()))
			}
			pinged = true
		case quiet < timeout/2:
			pinged = false
		}
	}
}

func (s *session) register(h bot.Handler) {
	c, t := s.c, s.t
	c.Handlers.Add(girc.ALL_EVENTS, func(_ *girc.Client, e girc.Event) {
		s.lastRecv.Store(time.Now().UnixNano())
		if e.Echo {
			s.onEcho(e)
		}
	})
	c.Handlers.Add(girc.PONG, func(_ *girc.Client, e girc.Event) { s.onPong(e) })
	for _, code := range []string{girc.ERR_NOSUCHNICK, girc.ERR_NOSUCHCHANNEL, girc.ERR_CANNOTSENDTOCHAN, girc.ERR_NOTEXTTOSEND} {
		c.Handlers.Add(code, func(_ *girc.Client, e girc.Event) { s.onRefused(e) })
	}
	c.Handlers.Add(girc.RPL_WELCOME, func(_ *girc.Client, e girc.Event) { s.welcome(e) })
	c.Handlers.Add(girc.ERROR, func(_ *girc.Client, e girc.Event) {
		s.setReason("server said: " + StripControl(e.Last()))
	})
	for _, code := range []string{girc.ERR_SASLFAIL, girc.ERR_SASLTOOLONG, girc.ERR_SASLABORTED, girc.RPL_NICKLOCKED} {
		c.Handlers.Add(code, func(_ *girc.Client, e girc.Event) {
			s.mu.Lock()
			s.saslFailed = true
			s.mu.Unlock()
			s.setReason(fmt.Sprintf("SASL %s login as %q refused: %s", t.saslMech(), t.saslUser(), StripControl(e.Last())))
			s.dialer.close()
		})
	}
	c.Handlers.Add(girc.RPL_SASLMECHS, func(_ *girc.Client, e girc.Event) {
		s.mu.Lock()
		s.saslFailed = true
		s.mu.Unlock()
		offers := ""
		if len(e.Params) >= 2 {
			offers = StripControl(e.Params[1])
		}
		s.setReason(fmt.Sprintf("the server does not offer SASL %s (it offers %q)", t.saslMech(), offers))
		s.dialer.close()
	})
	c.Handlers.Add(girc.RPL_LOGGEDIN, func(_ *girc.Client, e girc.Event) { s.onLoggedIn(e) })
	c.Handlers.Add(girc.RPL_LOGGEDOUT, func(_ *girc.Client, e girc.Event) { s.onLoggedOut(e) })
	c.Handlers.Add(girc.JOIN, func(_ *girc.Client, e girc.Event) { s.onJoin(e) })
	c.Handlers.Add(girc.KICK, func(_ *girc.Client, e girc.Event) { s.onKick(e) })
	for _, code := range []string{girc.ERR_CHANNELISFULL, girc.ERR_INVITEONLYCHAN, girc.ERR_BANNEDFROMCHAN,
		girc.ERR_BADCHANNELKEY, "477", girc.ERR_TOOMANYCHANNELS, girc.ERR_UNAVAILRESOURCE} {
		c.Handlers.Add(code, func(_ *girc.Client, e girc.Event) { s.onJoinFailed(e) })
	}
	c.Handlers.Add(girc.NICK, func(_ *girc.Client, e girc.Event) { s.onNick(e) })
	c.Handlers.Add(girc.QUIT, func(_ *girc.Client, e girc.Event) { s.onQuit(e) })
	c.Handlers.Add(girc.PRIVMSG, func(_ *girc.Client, e girc.Event) { s.onPrivmsg(e, h) })
}

func (t *Transport) saslMech() string {
	if t.net.SASL == nil {
		return ""
	}
	return t.net.SASL.Mechanism
}

func (t *Transport) saslUser() string {
	if t.net.SASL == nil {
		return ""
	}
	return t.net.SASL.Username
}

func (s *session) welcome(e girc.Event) {
	t := s.t
	s.mu.Lock()
	if !s.welcomed {
		close(s.registered)
	}
	s.welcomed = true
	if len(e.Params) > 0 {
		s.curNick = e.Params[0]
	}
	nick := s.curNick
	s.mu.Unlock()
	t.log.Info("connected", "server", t.net.Server, "nick", nick, "tls", t.tls != nil, "echo_message", s.c.HasCapability("echo-message"))
	// The joins are queued before anything else may use the connection:
	// writeMu keeps Send's fast path from writing a reply first, and the
	// sending goroutine, woken by ready, sends control lines before a line
	// that waited for the connection (a channel line before the JOIN is
	// refused).
	t.writeMu.Lock()
	t.mu.Lock()
	t.conn, t.since = s, time.Now()
	t.status = fmt.Sprintf("connected to %s as %s", t.net.Server, nick)
	t.mu.Unlock()
	for _, ch := range t.net.Channels {
		s.join(ch.Name)
	}
	t.mu.Lock()
	close(t.ready)
	t.mu.Unlock()
	t.writeMu.Unlock()
	s.checkAccount(nick)
	if !rfcEqual(nick, t.net.Nick) {
		s.regainNick(true)
		go s.nickRetryLoop()
	}
}

func (s *session) join(channel string) {
	for _, ch := range s.t.net.Channels {
		if rfcEqual(ch.Name, channel) {
			if key := ch.Key.Value(); key != "" {
				s.t.control(s, 3, girc.JOIN, ch.Name, key)
				return
			}
			s.t.control(s, 3, girc.JOIN, ch.Name)
			return
		}
	}
}

// later runs f after d unless the connection ends first.
func (s *session) later(d time.Duration, f func()) {
	go func() {
		select {
		case <-s.ctx.Done():
		case <-time.After(d):
			f()
		}
	}()
}

func (s *session) isMe(nick string) bool { return rfcEqual(nick, s.nick()) }

func (s *session) onJoin(e girc.Event) {
	if e.Source != nil && len(e.Params) > 0 && s.isMe(e.Source.Name) {
		s.t.log.Info("joined", "channel", e.Params[0])
		s.t.chans.set(e.Params[0], true)
	}
}

func (s *session) onKick(e girc.Event) {
	if len(e.Params) < 2 || !s.isMe(e.Params[1]) {
		return
	}
	by := ""
	if e.Source != nil {
		by = e.Source.Name
	}
	d := s.t.opts.rejoinDelay
	s.t.log.Warn("kicked; rejoining", "channel", e.Params[0], "by", by, "reason", StripControl(e.Last()), "rejoin_in", d)
	ch := e.Params[0]
	s.t.chans.set(ch, false)
	s.later(d, func() { s.join(ch) })
}

func (s *session) onJoinFailed(e girc.Event) {
	if len(e.Params) < 2 {
		return
	}
	ch := e.Params[1]
	if !strings.HasPrefix(ch, "#") && !strings.HasPrefix(ch, "&") {
		return // ERR_UNAVAILRESOURCE for a nick
	}
	d := 10 * s.t.opts.rejoinDelay
	s.t.log.Warn("could not join; will retry", "channel", ch, "reason", StripControl(e.Last()), "retry_in", d)
	s.later(d, func() { s.join(ch) })
}

// regainNick asks for the configured nick, first ghosting whoever holds it
// when a NickServ password is configured and ghost is true.
func (s *session) regainNick(ghost bool) {
	t := s.t
	if rfcEqual(s.nick(), t.net.Nick) {
		return
	}
	if pw := t.net.NickServ.Value(); ghost && pw != "" {
		t.log.Info("asking NickServ to free the configured nick", "nick", t.net.Nick)
		t.control(s, 1, girc.PRIVMSG, "NickServ", "GHOST "+t.net.Nick+" "+pw)
		s.later(2*time.Second, func() { s.regainNick(false) })
		return
	}
	t.control(s, 1, girc.NICK, t.net.Nick)
}

func (s *session) nickRetryLoop() {
	tick := time.NewTicker(s.t.opts.nickRetry)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
			if rfcEqual(s.nick(), s.t.net.Nick) {
				return
			}
			s.regainNick(true)
		}
	}
}

func (s *session) onNick(e girc.Event) {
	if e.Source == nil || len(e.Params) < 1 {
		return
	}
	old, nick := e.Source.Name, e.Params[0]
	if s.isMe(old) {
		s.mu.Lock()
		s.curNick = nick
		s.mu.Unlock()
		s.t.log.Info("nick changed", "nick", nick)
		s.t.setStatus("connected to %s as %s", s.t.net.Server, nick)
		return
	}
	if rfcEqual(old, s.t.net.Nick) {
		s.regainNick(false) // the holder of our nick moved away
	}
}

func (s *session) onQuit(e girc.Event) {
	if e.Source != nil && rfcEqual(e.Source.Name, s.t.net.Nick) && !s.isMe(e.Source.Name) {
		s.regainNick(false)
	}
}

// dialer dials the server (with TLS when configured) and keeps the
// connection so the watchdog can close it.
type dialer struct {
	tls *tls.Config

	mu     sync.Mutex
	conn   net.Conn
	closed bool // close was called: refuse to hand out a connection
}

func (d *dialer) Dial(network, addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: 15 * time.Second}
	conn, err := nd.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	tcp := conn
	if d.tls != nil {
		tc := tls.Client(conn, d.tls)
		_ = tc.SetDeadline(time.Now().Add(15 * time.Second))
		if err := tc.Handshake(); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		_ = tc.SetDeadline(time.Time{})
		conn = tc
	}
	conn = &filterConn{Conn: conn, tcp: tcp}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		conn.Close()
		return nil, errors.New("connection closed while dialing")
	}
	d.conn = conn
	return conn, nil
}

// close closes the connection, or the one being dialed as soon as it is up.
func (d *dialer) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.conn != nil {
		d.conn.Close()
	}
}

// filterConn drops two kinds of line girc sends on its own, unthrottled:
// the "WHO <nick>" for every user who joins a channel the bot is in, and
// the CTCP ERRMSG answer to every unknown CTCP request. On a busy channel,
// after a netsplit or under a CTCP flood those alone would get the bot
// killed for flooding. Extended-join and account-notify already tell us the
// accounts; WHO for a channel (sent once when the bot joins) still goes out.
//
// It also keeps TCP acknowledgements quick (see quickAck).
type filterConn struct {
	net.Conn
	tcp net.Conn // the TCP connection under TLS, if any
}

func (c *filterConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	quickAck(c.tcp)
	return n, err
}

func (c *filterConn) Write(p []byte) (int, error) {
	if dropLine(p) {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func dropLine(p []byte) bool {
	if rest, ok := bytes.CutPrefix(p, []byte("WHO ")); ok {
		return len(rest) > 0 && rest[0] != '#' && rest[0] != '&'
	}
	if bytes.HasPrefix(p, []byte("NOTICE ")) {
		return bytes.Contains(p, []byte(" :\x01ERRMSG"))
	}
	return false
}
