package agent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/internal/backoff"
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
	// SAL writes the agent's Server Admin Log lines (EventSAL), running
	// also in the same transaction, so each line is written once per
	// (log id, sequence number). Nil: the lines go to Notify.
	SAL func(ctx context.Context, ev deploy.Event, also func(tx *bolt.Tx) error) error
	Log *slog.Logger
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
	why  string    // why, in a few words
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

// Unreachable reports since when the agent cannot be reached and why
// (down false while it can), for status and /readyz.
func (c *Client) Unreachable() (since time.Time, why string, down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.down, c.why, !c.down.IsZero()
}

// markDown records that the agent is unreachable, keeping the first time;
// first says whether this call noticed it.
func (c *Client) markDown(err error) (since time.Time, why string, first bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.why = linkError(err)
	if c.down.IsZero() {
		c.down, first = c.o.Now(), true
		c.log.Warn("deploy agent unreachable", "why", c.why, "err", err)
	}
	return c.down, c.why, first
}

// linkError says in a few words why the agent could not be reached.
func linkError(err error) string {
	var (
		host    x509.HostnameError
		unknown x509.UnknownAuthorityError
		invalid x509.CertificateInvalidError
		op      *net.OpError
	)
	switch {
	case errors.As(err, &host):
		return fmt.Sprintf("its certificate does not carry the name %s (agents[].server_name)", host.Host)
	case errors.As(err, &unknown):
		return "its certificate is not signed by the CA in agents[].ca"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "its certificate has expired or is not valid yet"
	case errors.As(err, &invalid):
		return "its certificate is not valid for a server"
	case errors.As(err, &op) && op.Op == "remote error":
		return "it refused this bot's client certificate (" + strings.TrimPrefix(op.Err.Error(), "tls: ") + ")"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing listens at its address"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return "it did not answer in time"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "it did not answer in time"
	}
	return "the connection failed"
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
	why   string
	then  string
}

func (u *unreachable) Error() string {
	return fmt.Sprintf("The deploy agent is unreachable since %s UTC (%s); %s", u.since.UTC().Format("15:04"), u.why, u.then)
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
		since, why, _ := c.markDown(err)
		then, ok := unreachableThen[method]
		if !ok {
			then = "nothing was done. Try again once it is back."
		}
		c.log.Warn("call failed", "method", method, "err", err)
		return reply{}, &unreachable{since: since, why: why, then: then}
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
		return rep, deploy.NoTest(rep.Error) // the agent's sentence
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

// Start implements deploy.Service.
func (c *Client) Start(ctx context.Context, r deploy.Request) (deploy.ID, error) {
	rep, err := c.call(ctx, "start", call{Request: &r})
	return rep.ID, err
}

// Revert implements deploy.Service.
func (c *Client) Revert(ctx context.Context, r deploy.RevertRequest) (deploy.ID, error) {
	rep, err := c.call(ctx, "revert", call{Revert: &r})
	return rep.ID, err
}

// Continue implements deploy.Service.
func (c *Client) Continue(ctx context.Context, id deploy.ID, who deploy.Person) error {
	_, err := c.call(ctx, "continue", call{ID: id, By: who})
	return err
}

// Abort implements deploy.Service.
func (c *Client) Abort(ctx context.Context, id deploy.ID, who deploy.Person) error {
	_, err := c.call(ctx, "abort", call{ID: id, By: who})
	return err
}

// Approve implements deploy.Service.
func (c *Client) Approve(ctx context.Context, id deploy.ID, who deploy.Person) error {
	_, err := c.call(ctx, "approve", call{ID: id, By: who})
	return err
}

// PatchSets reads the changes' current patchsets in the agent's Gerrit:
// a request waiting for approvals is pinned to what the agent will
// deploy and check again when it starts.
func (c *Client) PatchSets(ctx context.Context, changes []int) (map[int]int, error) {
	rep, err := c.call(ctx, "patchsets", call{Numbers: changes})
	return rep.PatchSets, err
}

// Tested implements deploy.Service.
func (c *Client) Tested(ctx context.Context, id deploy.ID, who deploy.Person, ok bool) error {
	_, err := c.call(ctx, "tested", call{ID: id, By: who, OK: ok})
	return err
}

// Decide implements deploy.Service.
func (c *Client) Decide(ctx context.Context, id deploy.ID, who deploy.Person, action, reason string) error {
	_, err := c.call(ctx, "decide", call{ID: id, By: who, Action: action, Reason: reason})
	return err
}

// Status implements deploy.Service.
func (c *Client) Status(ctx context.Context) (deploy.Status, error) {
	rep, err := c.call(ctx, "status", call{})
	if err != nil || rep.Status == nil {
		return deploy.Status{}, err
	}
	return *rep.Status, nil
}

// Plan implements deploy.Service.
func (c *Client) Plan(ctx context.Context, changes []string) (bot.Text, error) {
	rep, err := c.call(ctx, "plan", call{Changes: changes})
	return rep.Text, err
}

// Summary implements deploy.Service.
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
	bo := backoff.New(backoff.Policy{Min: 500 * time.Millisecond, Max: 10 * time.Second, Jitter: backoff.Equal})
	for ctx.Err() == nil {
		delivered, err := c.stream(ctx)
		if ctx.Err() != nil {
			return
		}
		if since, why, first := c.markDown(err); first {
			c.o.Notify.Notify(ctx, deploy.Event{Kind: deploy.EventProgress, Time: c.o.Now().UTC(),
				Text: bot.T(fmt.Sprintf("I lost the link to the deploy agent at %s UTC (%s); I keep trying to reconnect.", since.UTC().Format("15:04"), why))})
		}
		if delivered {
			bo.Reset()
		}
		if backoff.Sleep(ctx, bo.Next()) != nil {
			return
		}
	}
}

// idleLimit is how long the stream may stay silent (the agent sends a
// comment every 15 seconds) before the link is taken for dead.
const idleLimit = 45 * time.Second

// stream reads the event stream once, until it breaks. delivered says
// whether the connection was established.
func (c *Client) stream(ctx context.Context) (bool, error) {
	cur, err := c.cursor()
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	q := url.Values{"log": {cur.Log}}
	if !cur.None {
		q.Set("after", strconv.FormatUint(cur.Seq, 10))
	}
	if len(cur.Runs) > 0 {
		q.Set("runs", strings.Join(cur.Runs, ","))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"events?"+q.Encode(), nil)
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
	st := &streamState{cur: cur}
	var kind, data string
	for sc.Scan() {
		watchdog.Reset(idleLimit)
		line := sc.Text()
		switch {
		case line == "":
			if data != "" {
				if err := c.deliver(ctx, kind, data, st); err != nil {
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

// streamState is what one connection of the events stream knows.
type streamState struct {
	cur     Cursor
	resumed bool
	// asked are the deploys whose waiting question was asked again on
	// this connection (the pending event), with its stage: the resumed
	// deploy asking the same question again after a restart (an event
	// with Again) is not asked a second time, whatever the deploy said
	// in between (where it resumes, what the hosts hold).
	asked map[deploy.ID]string
}

// maxCursorRuns bounds the runs a cursor remembers.
const maxCursorRuns = 32

// deliver hands one event to the Notifier and then stores the cursor
// past it. A pending question carries no sequence number: it is asked
// again, not a new event.
func (c *Client) deliver(ctx context.Context, kind, data string, st *streamState) error {
	if kind == "log" {
		var res Resumed
		if err := json.Unmarshal([]byte(data), &res); err != nil {
			return fmt.Errorf("agent %s: decode the log's identity: %w", c.o.Name, err)
		}
		st.resumed = true
		return c.resume(ctx, res, st)
	}
	if !st.resumed {
		return fmt.Errorf("agent %s: events: the stream did not say which log it is", c.o.Name)
	}
	var rec Record
	if err := json.Unmarshal([]byte(data), &rec); err != nil {
		return fmt.Errorf("agent %s: decode event: %w", c.o.Name, err)
	}
	if kind == "pending" {
		if st.asked == nil {
			st.asked = map[deploy.ID]string{}
		}
		st.asked[rec.Event.Deploy] = rec.Event.Stage
		c.o.Notify.Notify(ctx, rec.Event)
		return nil
	}
	if rec.Seq <= st.cur.Seq {
		return nil
	}
	next := st.cur
	next.Seq = rec.Seq
	if rec.Run != "" && (len(next.Runs) == 0 || next.Runs[len(next.Runs)-1] != rec.Run) {
		next.Runs = append(slices.Clip(next.Runs), rec.Run)
		if n := len(next.Runs); n > maxCursorRuns {
			next.Runs = next.Runs[n-maxCursorRuns:]
		}
	}
	ev := rec.Event
	stage, asked := st.asked[ev.Deploy]
	switch {
	case asked && ev.Kind == deploy.EventNeeds && ev.Again && ev.Stage == stage:
		// Asked already on this connection: one question, not two.
		delete(st.asked, ev.Deploy)
		c.log.Debug("question already asked again after the reconnect", "seq", rec.Seq, "deploy", ev.Deploy)
	case ev.Kind == EventSAL && c.o.SAL != nil:
		err := c.o.SAL(ctx, ev, func(tx *bolt.Tx) error { return putCursor(tx, next) })
		if err == nil {
			st.cur = next
			c.log.Debug("event delivered", "seq", rec.Seq, "deploy", ev.Deploy, "kind", ev.Kind)
			return nil
		}
		if ctx.Err() != nil {
			return err // stopping: the line is written after the restart
		}
		c.log.Error("SAL line from the deploy agent not logged", "seq", rec.Seq, "err", err)
	default:
		c.o.Notify.Notify(ctx, ev)
	}
	if err := c.storeCursor(next); err != nil {
		return err
	}
	st.cur = next
	c.log.Debug("event delivered", "seq", rec.Seq, "deploy", ev.Deploy, "kind", ev.Kind)
	return nil
}

// resume takes the stream's first message: which log this is and where it
// goes on. A log that is not the one the cursor was in is said in chat,
// with what the agent is doing now, and followed from where the agent
// says, so nothing is shown twice or skipped without a word.
func (c *Client) resume(ctx context.Context, res Resumed, st *streamState) error {
	if res.How == ResumeContinue && res.Log == st.cur.Log && res.Prune == 0 {
		return nil
	}
	next := Cursor{Log: res.Log, Seq: res.From, Runs: st.cur.Runs}
	if res.How == ResumeNew || res.How == ResumeChanged {
		next.Runs = nil
	}
	if res.Run != "" && (len(next.Runs) == 0 || next.Runs[len(next.Runs)-1] != res.Run) {
		// The reader is now in this log, at or before the current run's
		// events: naming that run as the newest it has seen keeps its
		// next Resume here. Without it, runs only the reader knows (those
		// a restored copy lacks) would make the agent rewind again.
		next.Runs = append(slices.Clip(next.Runs), res.Run)
		if n := len(next.Runs); n > maxCursorRuns {
			next.Runs = next.Runs[n-maxCursorRuns:]
		}
	}
	if err := c.storeCursor(next); err != nil {
		return err
	}
	st.cur = next
	c.log.Info("following the deploy agent's event log", "log", res.Log, "from", res.From, "head", res.Head, "how", res.How, "prev", res.Prev)
	var say string
	switch res.How {
	case ResumeChanged:
		say = fmt.Sprintf("The deploy agent's event log is not the one I followed (its database was replaced): I follow the new one from its event %d and show none of its history.", res.From)
	case ResumeRewound:
		say = fmt.Sprintf("The deploy agent's database is an older copy than what I have shown (restored from a backup?): I follow it from its event %d, after the last one we share, and show nothing twice.", res.From)
	}
	if res.Prune > 0 {
		say = strings.TrimSpace(say + fmt.Sprintf(" %d events of the deploy agent were pruned (agent.keep_events) before I could show them.", res.Prune))
	}
	if say == "" {
		return nil
	}
	if status, err := c.Status(ctx); err == nil {
		say += " Now: " + status.Text().String()
	}
	c.o.Notify.Notify(ctx, deploy.Event{Kind: deploy.EventProgress, Time: c.o.Now().UTC(), Text: bot.T(say)})
	return nil
}

// Keys of the chat side's cursor in the agent.cursor bucket.
var keyCursor = []byte("cursor")

func putCursor(tx *bolt.Tx, cur Cursor) error {
	v, err := json.Marshal(cur)
	if err != nil {
		return err
	}
	return tx.Bucket(store.AgentCursor).Put(keyCursor, v)
}

func (c *Client) storeCursor(cur Cursor) error {
	if err := c.o.DB.Update(func(tx *bolt.Tx) error { return putCursor(tx, cur) }); err != nil {
		return fmt.Errorf("agent %s: store cursor: %w", c.o.Name, err)
	}
	return nil
}

// cursor is where the chat side is in the agent's event log. It is kept
// with the log's id, not under the agent's configured name, so renaming
// the agent replays nothing; a cursor from before logs had ids (kept by
// name) is taken as a sequence number in the agent's current log. No
// cursor at all (a fresh chat database) starts at the agent's head.
func (c *Client) cursor() (Cursor, error) {
	cur := Cursor{None: true}
	err := c.o.DB.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.AgentCursor)
		if v := b.Get(keyCursor); v != nil {
			cur.None = false
			return json.Unmarshal(v, &cur)
		}
		if v := b.Get([]byte(c.o.Name)); len(v) == 8 {
			cur.None, cur.Seq = false, binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return cur, err
}
