package irctest

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lrstanley/girc"

	"github.com/jouncebot/jouncebot/internal/testenv"
)

// Timeout bounds every wait of the harness.
var Timeout = testenv.Scale(15 * time.Second)

// Msg is a PRIVMSG or NOTICE a test client received.
type Msg struct {
	Command string // PRIVMSG or NOTICE
	Nick    string // sender
	Target  string // channel, or the client's own nick for private messages
	Text    string
	Account string // sender's account from the account tag
	At      time.Time
}

func (m Msg) String() string {
	return fmt.Sprintf("%s %s→%s: %q", m.Command, m.Nick, m.Target, m.Text)
}

// ClientConfig says how a test client connects.
type ClientConfig struct {
	Nick string
	// Account and Password log in with SASL PLAIN when Account is set.
	Account, Password string
}

// Client is a person on the test network: a girc client that records the
// messages it receives. Expect consumes them in order.
type Client struct {
	*girc.Client

	mu      sync.Mutex
	msgs    []Msg
	next    int
	changed chan struct{}
	events  []*girc.Event
	ended   chan struct{} // closed when the connection has ended
}

// Client connects a test client with generous flood limits and waits until
// it is registered (and logged in, with an account).
func (s *Server) Client(t testing.TB, cfg ClientConfig) *Client {
	t.Helper()
	host, port, _ := net.SplitHostPort(s.Addr)
	p, _ := strconv.Atoi(port)
	gc := girc.Config{Server: host, Port: p, Nick: cfg.Nick, User: "test", Name: cfg.Nick, AllowFlood: true, PingDelay: -1}
	if cfg.Account != "" {
		gc.SASL = &girc.SASLPlain{User: cfg.Account, Pass: cfg.Password}
	}
	c := &Client{Client: girc.New(gc), changed: make(chan struct{}, 1), ended: make(chan struct{})}
	welcome := make(chan struct{})
	var once sync.Once
	c.Handlers.AddBg(girc.RPL_WELCOME, func(*girc.Client, girc.Event) { once.Do(func() { close(welcome) }) })
	// Recording runs in girc's event loop (Add, not AddBg): background
	// handlers each get a goroutine of their own, so lines the server sent
	// in order were recorded in whatever order those goroutines ran.
	for _, cmd := range []string{girc.PRIVMSG, girc.NOTICE} {
		c.Handlers.Add(cmd, func(_ *girc.Client, e girc.Event) { c.record(e) })
	}
	c.Handlers.Add(girc.ALL_EVENTS, func(_ *girc.Client, e girc.Event) {
		c.mu.Lock()
		c.events = append(c.events, e.Copy())
		c.mu.Unlock()
		c.poke()
	})
	done := make(chan error, 1)
	go func() { err := c.Connect(); close(c.ended); done <- err }()
	t.Cleanup(func() {
		// girc ignores Close until its connection is set up, so keep
		// asking; never hang the test run on a client that will not stop.
		deadline := time.After(Timeout)
		for {
			c.Close()
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			case <-deadline:
				t.Errorf("irctest: client %s did not stop within %v", cfg.Nick, Timeout)
				return
			}
		}
	})
	select {
	case <-welcome:
	case err := <-done:
		t.Fatalf("irctest: client %s could not connect: %v\n%s", cfg.Nick, err, readTail(s.Dir+"/ircd.log"))
	case <-time.After(Timeout):
		t.Fatalf("irctest: client %s was not welcomed within %v\n%s\n%s", cfg.Nick, Timeout,
			readTail(s.Dir+"/ircd.log"), readTail(s.Dir+"/atheme.log"))
	}
	return c
}

func (c *Client) record(e girc.Event) {
	if e.Source == nil || len(e.Params) < 1 {
		return
	}
	acct, _ := e.Tags.Get("account")
	m := Msg{Command: e.Command, Nick: e.Source.Name, Target: e.Params[0], Text: e.Last(), Account: acct, At: time.Now()}
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
	c.poke()
}

func (c *Client) poke() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Say sends a PRIVMSG.
func (c *Client) Say(target, text string) { c.Cmd.Message(target, text) }

// Raw sends a raw line.
func (c *Client) Raw(line string) { _ = c.Cmd.SendRaw(line) }

// Join joins a channel and waits until the server confirms it.
func (c *Client) Join(t testing.TB, channel string) {
	t.Helper()
	c.Cmd.Join(channel)
	c.WaitEvent(t, func(e *girc.Event) bool {
		return e.Command == girc.JOIN && e.Source != nil && e.Source.Name == c.GetNick() && len(e.Params) > 0 && strings.EqualFold(e.Params[0], channel)
	})
}

// WaitEvent waits until the client has received an event matching ok (at
// any time since it connected) and returns it.
func (c *Client) WaitEvent(t testing.TB, ok func(*girc.Event) bool) *girc.Event {
	t.Helper()
	deadline := time.After(Timeout)
	for {
		c.mu.Lock()
		for _, e := range c.events {
			if ok(e) {
				c.mu.Unlock()
				return e
			}
		}
		c.mu.Unlock()
		select {
		case <-c.changed:
		case <-deadline:
			t.Fatalf("irctest: %s: no matching event within %v", c.GetNick(), Timeout)
		}
	}
}

// Expect waits for the next message matching ok, skipping the ones that do
// not match, and returns it. Later calls look only at later messages.
func (c *Client) Expect(t testing.TB, ok func(Msg) bool) Msg {
	t.Helper()
	m, err := c.ExpectWithin(Timeout, ok)
	if err != nil {
		t.Fatalf("irctest: %s: %v", c.GetNick(), err)
	}
	return m
}

// ExpectWithin is Expect with its own timeout; it returns an error instead
// of failing the test.
func (c *Client) ExpectWithin(d time.Duration, ok func(Msg) bool) (Msg, error) {
	deadline := time.After(d)
	for {
		c.mu.Lock()
		for c.next < len(c.msgs) {
			m := c.msgs[c.next]
			c.next++
			if ok(m) {
				c.mu.Unlock()
				return m, nil
			}
		}
		c.mu.Unlock()
		select {
		case <-c.changed:
		case <-deadline:
			c.mu.Lock()
			defer c.mu.Unlock()
			return Msg{}, fmt.Errorf("no matching message within %v; last messages: %v", d, lastN(c.msgs, 5))
		}
	}
}

// Events returns every event received so far.
func (c *Client) Events() []*girc.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*girc.Event(nil), c.events...)
}

// Messages returns every message received so far.
func (c *Client) Messages() []Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Msg(nil), c.msgs...)
}

func lastN(ms []Msg, n int) []Msg {
	if len(ms) > n {
		return ms[len(ms)-n:]
	}
	return ms
}

// From matches PRIVMSGs sent by nick.
func From(nick string) func(Msg) bool {
	return func(m Msg) bool { return m.Command == girc.PRIVMSG && strings.EqualFold(m.Nick, nick) }
}

// FromTo matches PRIVMSGs sent by nick to target (a channel, or the
// receiving client's nick for private messages).
func FromTo(nick, target string) func(Msg) bool {
	return func(m Msg) bool { return From(nick)(m) && strings.EqualFold(m.Target, target) }
}

// Register creates a NickServ account by connecting as nick account and
// sending REGISTER.
func (s *Server) Register(t testing.TB, account, password string) {
	t.Helper()
	c := s.Client(t, ClientConfig{Nick: account})
	c.Say("NickServ", fmt.Sprintf("REGISTER %s %s@example.org", password, account))
	c.Expect(t, func(m Msg) bool {
		return m.Command == girc.NOTICE && strings.EqualFold(m.Nick, "NickServ") && strings.Contains(m.Text, "is now registered")
	})
	// Wait for the server to close the connection, so the nick is free
	// for the next client (on a busy machine the ircd may take a while).
	c.Quit("registered")
	select {
	case <-c.ended:
	case <-time.After(Timeout):
		t.Fatalf("irctest: the registration connection of %s did not end within %v", account, Timeout)
	}
}
