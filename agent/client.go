package agent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/store"
)

// ClientOptions configure a Client.
type ClientOptions struct {
	// Name is the agent's name from the configuration (the cursor's key).
	Name string
	// Address is the agent's host:port.
	Address string
	// TLS is the client side of mutual TLS (ClientTLS).
	TLS *tls.Config
	// DB keeps the cursor into the agent's event log.
	DB *store.DB
	// Notify receives the agent's events, in order, once each.
	Notify deploy.Notifier
	Log    *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Client is the deploy engine as the chat side sees it when the engine
// runs in a deploy agent. Its methods are safe for concurrent use.
type Client struct {
	o    ClientOptions
	base string
	hc   *http.Client
	log  *slog.Logger

	mu   sync.Mutex
	down time.Time // when the agent was first found unreachable; zero when reachable
}

// NewClient returns a client of the agent at o.Address.
func NewClient(o ClientOptions) *Client {
	if o.Now == nil {
		o.Now = time.Now
	}
	// A blackholed agent fails a chat command within the dial timeout,
	// not the command's two minutes.
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 15 * time.Second}
	tr := &http.Transport{TLSClientConfig: o.TLS, DialContext: dialer.DialContext, ForceAttemptHTTP2: true, TLSHandshakeTimeout: 30 * time.Second,
		IdleConnTimeout: 90 * time.Second, MaxIdleConnsPerHost: 4}
	return &Client{o: o, base: "https://" + o.Address + "/v1/", hc: &http.Client{Transport: tr},
		log: o.Log.With("component", "agent-client", "agent", o.Name)}
}

// Unreachable reports since when the agent cannot be reached (ok false
// while it can), for status and /readyz.
func (c *Client) Unreachable() (since time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.down, !c.down.IsZero()
}

// markDown records that the agent is unreachable, keeping the first time;
// first says whether this call noticed it.
func (c *Client) markDown(err error) (since time.Time, first bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down.IsZero() {
		c.down, first = c.o.Now(), true
		c.log.Warn("deploy agent unreachable", "err", err)
	}
	return c.down, first
}

// markUp records that the agent answered; it returns since when it had
// been unreachable (zero when it was not).
func (c *Client) markUp() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	was := c.down
	c.down = time.Time{}
	if !was.IsZero() {
		c.log.Info("deploy agent reachable again", "down_since", was)
	}
	return was
}

// unreachable is the sentence for a call the agent could not get.
type unreachable struct {
	since time.Time
	then  string
}

func (u *unreachable) Error() string {
	return fmt.Sprintf("The deploy agent is unreachable since %s UTC; %s", u.since.UTC().Format("15:04"), u.then)
}

// What each refused call tells the person who asked.
var unreachableThen = map[string]string{
	"tested":   "your answer was not recorded: say it again once the agent is back.",
	"decide":   "your answer was not recorded: say it again once the agent is back.",
	"continue": "your answer was not recorded: say it again once the agent is back.",
	"status":   "I cannot say what the current deploy is doing.",
}

func (c *Client) call(ctx context.Context, method string, in call) (reply, error) {
	in.Caller, _ = CallerFrom(ctx)
	body, err := json.Marshal(in)
	if err != nil {
		return reply{}, fmt.Errorf("agent %s: encode %s: %w", c.o.Name, method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+method, bytes.NewReader(body))
	if err != nil {
		return reply{}, fmt.Errorf("agent %s: %s: %w", c.o.Name, method, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		since, _ := c.markDown(err)
		then, ok := unreachableThen[method]
		if !ok {
			then = "nothing was done. Try again once it is back."
		}
		c.log.Warn("call failed", "method", method, "err", err)
		return reply{}, &unreachable{since: since, then: then}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return reply{}, fmt.Errorf("agent %s: %s: HTTP %s", c.o.Name, method, resp.Status)
	}
	var rep reply
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return reply{}, fmt.Errorf("agent %s: %s: decode reply: %w", c.o.Name, method, err)
	}
	if was := c.markUp(); !was.IsZero() {
		c.o.Notify.Notify(ctx, c.backEvent(was))
	}
	switch {
	case rep.Code == codeNoDecision:
		return rep, deploy.ErrNoDecision
	case rep.Code == codeNoTest:
		return rep, deploy.ErrNoTest
	case rep.Error != "":
		return rep, errors.New(rep.Error)
	}
	return rep, nil
}

// backEvent says in chat that the agent answers again.
func (c *Client) backEvent(since time.Time) deploy.Event {
	return deploy.Event{Kind: deploy.EventProgress, Time: c.o.Now().UTC(),
		Text: bot.T(fmt.Sprintf("The deploy agent is reachable again (it was unreachable since %s UTC).", since.UTC().Format("15:04")))}
}

// Start implements deploy.Engine.
func (c *Client) Start(ctx context.Context, r deploy.Request) (deploy.ID, error) {
	rep, err := c.call(ctx, "start", call{Request: &r})
	return rep.ID, err
}

// Revert implements deploy.Engine.
func (c *Client) Revert(ctx context.Context, r deploy.RevertRequest) (deploy.ID, error) {
	rep, err := c.call(ctx, "revert", call{Revert: &r})
	return rep.ID, err
}

// Continue implements deploy.Engine.
func (c *Client) Continue(ctx context.Context, id deploy.ID, who deploy.Person) error {
	_, err := c.call(ctx, "continue", call{ID: id, By: who})
	return err
}

// Abort implements deploy.Engine.
func (c *Client) Abort(ctx context.Context, id deploy.ID, who deploy.Person) error {
	_, err := c.call(ctx, "abort", call{ID: id, By: who})
	return err
}

// Approve implements deploy.Engine.
func (c *Client) Approve(ctx context.Context, id deploy.ID, who deploy.Person) error {
	_, err := c.call(ctx, "approve", call{ID: id, By: who})
	return err
}

// Tested implements deploy.Engine.
func (c *Client) Tested(ctx context.Context, id deploy.ID, who deploy.Person, ok bool) error {
	_, err := c.call(ctx, "tested", call{ID: id, By: who, OK: ok})
	return err
}

// Decide implements deploy.Engine.
func (c *Client) Decide(ctx context.Context, id deploy.ID, who deploy.Person, action, reason string) error {
	_, err := c.call(ctx, "decide", call{ID: id, By: who, Action: action, Reason: reason})
	return err
}

// Status implements deploy.Engine.
func (c *Client) Status(ctx context.Context) (deploy.Status, error) {
	rep, err := c.call(ctx, "status", call{})
	if err != nil || rep.Status == nil {
		return deploy.Status{}, err
	}
	return *rep.Status, nil
}

// Plan implements deploy.Engine.
func (c *Client) Plan(ctx context.Context, changes []string) (bot.Text, error) {
	rep, err := c.call(ctx, "plan", call{Changes: changes})
	return rep.Text, err
}

// Summary implements deploy.Engine.
func (c *Client) Summary(ctx context.Context, changes []string) (string, error) {
	rep, err := c.call(ctx, "summary", call{Changes: changes})
	return rep.Summary, err
}

// callTimeout bounds the calls that have no chat message's context.
const callTimeout = time.Minute

// Record returns a deploy's record.
func (c *Client) Record(id deploy.ID) (*deploy.Deploy, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	rep, err := c.call(ctx, "record", call{ID: id})
	return rep.Deploy, err
}

// Estimate returns how long the last n deploys took.
func (c *Client) Estimate(n int) (time.Duration, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	rep, err := c.call(ctx, "estimate", call{N: n})
	return rep.Estimate, rep.From, err
}

// History returns the last n finished deploys that synced, newest first.
func (c *Client) History(n int) ([]deploy.Took, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	rep, err := c.call(ctx, "history", call{N: n})
	return rep.History, err
}

// Run follows the agent's event stream until ctx is done, delivering each
// event to the Notifier and then moving the cursor, and reconnecting after
// a broken link (with a growing, jittered pause of up to 10 seconds).
func (c *Client) Run(ctx context.Context) {
	pause := 500 * time.Millisecond
	for ctx.Err() == nil {
		delivered, err := c.stream(ctx)
		if ctx.Err() != nil {
			return
		}
		if since, first := c.markDown(err); first {
			c.o.Notify.Notify(ctx, deploy.Event{Kind: deploy.EventProgress, Time: c.o.Now().UTC(),
				Text: bot.T(fmt.Sprintf("I lost the link to the deploy agent at %s UTC; I keep trying to reconnect.", since.UTC().Format("15:04")))})
		}
		if delivered {
			pause = 500 * time.Millisecond
		}
		wait := pause/2 + rand.N(pause/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		pause = min(2*pause, 10*time.Second)
	}
}

// idleLimit is how long the stream may stay silent (the agent sends a
// comment every 15 seconds) before the link is taken for dead.
const idleLimit = 45 * time.Second

// stream reads the event stream once, until it breaks. delivered says
// whether the connection was established.
func (c *Client) stream(ctx context.Context) (bool, error) {
	cursor, err := c.cursor()
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"events?after="+strconv.FormatUint(cursor, 10), nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.hc.Do(req)
	if err != nil {
		return false, fmt.Errorf("agent %s: events: %w", c.o.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("agent %s: events: HTTP %s", c.o.Name, resp.Status)
	}
	if was := c.markUp(); !was.IsZero() {
		c.o.Notify.Notify(ctx, c.backEvent(was))
	}
	watchdog := time.AfterFunc(idleLimit, cancel)
	defer watchdog.Stop()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	var kind, data string
	for sc.Scan() {
		watchdog.Reset(idleLimit)
		line := sc.Text()
		switch {
		case line == "":
			if data != "" {
				if err := c.deliver(ctx, kind, data, &cursor); err != nil {
					return true, err
				}
			}
			kind, data = "", ""
		case strings.HasPrefix(line, "event: "):
			kind = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
	if err := sc.Err(); err != nil {
		return true, fmt.Errorf("agent %s: events: %w", c.o.Name, err)
	}
	return true, fmt.Errorf("agent %s: events: the stream ended", c.o.Name)
}

// deliver hands one event to the Notifier and then stores the cursor
// past it. A pending question carries no sequence number: it is asked
// again, not a new event.
func (c *Client) deliver(ctx context.Context, kind, data string, cursor *uint64) error {
	var rec Record
	if err := json.Unmarshal([]byte(data), &rec); err != nil {
		return fmt.Errorf("agent %s: decode event: %w", c.o.Name, err)
	}
	if kind == "pending" {
		c.o.Notify.Notify(ctx, rec.Event)
		return nil
	}
	if rec.Seq <= *cursor {
		return nil
	}
	c.o.Notify.Notify(ctx, rec.Event)
	*cursor = rec.Seq
	err := c.o.DB.Update(func(tx *bolt.Tx) error {
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], rec.Seq)
		return tx.Bucket(store.AgentCursor).Put([]byte(c.o.Name), v[:])
	})
	if err != nil {
		return fmt.Errorf("agent %s: store cursor: %w", c.o.Name, err)
	}
	c.log.Debug("event delivered", "seq", rec.Seq, "deploy", rec.Event.Deploy, "kind", rec.Event.Kind)
	return nil
}

// cursor is the sequence number of the last event delivered.
func (c *Client) cursor() (uint64, error) {
	var n uint64
	err := c.o.DB.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(store.AgentCursor).Get([]byte(c.o.Name)); len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return n, err
}
