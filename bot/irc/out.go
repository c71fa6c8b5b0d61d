package irc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lrstanley/girc"

	"github.com/jouncebot/jouncebot/bot"
)

// The output path. Every line the bot sends goes through one token bucket
// per connection, taken from three queues in order of precedence:
//
//   - ctrl: joins, nick changes, NickServ and CTCP answers, each for one
//     connection (dropped if it is gone);
//   - prio: SendPriority (deploy events, gate questions, window notices),
//     which user replies can never hold up;
//   - replies: replies (Send), one queue per target served round robin
//     (replies.go).
//
// A priority send counts as accepted when the server has echoed every line
// of it back (IRCv3 echo-message), which costs no line of the flood
// allowance; on servers without echo-message, when the PONG to a PING sent
// after its last line comes back (the server handles a client's lines in
// order). A refusal (no such nick, cannot send to channel) for its target
// fails it at once. The echo of every line is read and not answered, which
// is why the connection acknowledges what it reads at once (quickAck).

var (
	_ bot.PrioritySender = (*Transport)(nil)
	_ bot.ChannelLines   = (*Transport)(nil)
)

// channelLines is how many lines a reply in a channel takes before the
// bot core sends the rest privately: each line holds the channel (and
// every other answer) for a second once the bucket is spent.
const channelLines = 3

// ChannelLines implements bot.ChannelLines.
func (t *Transport) ChannelLines() int { return channelLines }

// Send renders t for IRC and queues it as a reply for to.Room (a channel,
// or a nick when to.Private). It returns once every line is queued.
func (t *Transport) Send(ctx context.Context, to bot.Target, text bot.Text) error {
	target, lines, err := t.render(to, text)
	if err != nil {
		return err
	}
	t.sendMu.Lock()
	defer t.sendMu.Unlock()
	lines = t.sendNow(target, lines)
	if len(lines) == 0 {
		return nil
	}
	now := time.Now()
	out := make([]outLine, len(lines))
	for i, l := range lines {
		out[i] = outLine{ev: privmsg(target, l), queued: now}
	}
	t.queued.Add(int64(len(out)))
	if err := t.replies.push(ctx, target, out); err != nil {
		t.queued.Add(-int64(len(out)))
		return fmt.Errorf("irc: the message to %s could not be queued: %w", target, err)
	}
	return nil
}

// sendNow writes the first lines of a reply at once, from the caller,
// when nothing is queued or being sent and the bucket allows them; it
// returns the lines left for the queue. It saves the hand-over to the
// sending goroutine on an idle bot and keeps the order: anything queued
// later waits for writeMu.
func (t *Transport) sendNow(target string, lines []string) []string {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	t.mu.Lock()
	s := t.conn
	t.mu.Unlock()
	if s == nil || t.queued.Load() != 0 {
		return lines
	}
	for len(lines) > 0 && s.bucket.Ready(time.Now()) == 0 && s.c.IsConnected() {
		s.bucket.Reserve(time.Now())
		s.c.Send(privmsg(target, lines[0]))
		lines = lines[1:]
	}
	return lines
}

// SendPriority sends text to to.Room ahead of every queued reply and
// returns once the server has accepted it (see the output path above), or
// with an error when ctx ends first, the connection is lost before the
// server confirmed it, or the server refused it. Lines not yet sent when
// ctx ends are dropped, so a caller that retries after an error repeats at
// most what the server may have taken just before the error.
// It implements bot.PrioritySender.
func (t *Transport) SendPriority(ctx context.Context, to bot.Target, text bot.Text) error {
	target, lines, err := t.render(to, text)
	if err != nil {
		return err
	}
	d := newDelivery(ctx, target, lines)
	t.prioMu.Lock()
	for i, l := range lines {
		t.queued.Add(1)
		select {
		case t.prio <- outLine{ev: privmsg(target, l), queued: time.Now(), d: d, last: i == len(lines)-1}:
		case <-ctx.Done():
			t.queued.Add(-1)
			t.prioMu.Unlock()
			d.finish(ctx.Err())
			return fmt.Errorf("irc: the message to %s could not be queued: %w", target, ctx.Err())
		}
	}
	t.prioMu.Unlock()
	select {
	case <-d.done:
		return d.err
	case <-ctx.Done():
		d.finish(ctx.Err())
		return fmt.Errorf("irc: the server did not confirm the message to %s in time: %w", target, ctx.Err())
	}
}

func (t *Transport) render(to bot.Target, text bot.Text) (target string, lines []string, err error) {
	if to.Network != "" && to.Network != t.net.Name {
		return "", nil, fmt.Errorf("irc: network %s cannot send to network %s", t.net.Name, to.Network)
	}
	target = StripControl(to.Room)
	if target == "" || strings.ContainsAny(target, " ,") {
		return "", nil, fmt.Errorf("irc: cannot send to %q: not a channel or nick", to.Room)
	}
	return target, Fit(Render(text, t.net.FormattingEnabled()), t.maxText(target), t.opts.maxLines), nil
}

func privmsg(target, text string) *girc.Event {
	return &girc.Event{Command: girc.PRIVMSG, Params: []string{target, text}}
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

// outLine is one queued line.
type outLine struct {
	ev     *girc.Event
	cost   int       // bucket tokens (a JOIN also makes girc send WHO and MODE)
	conn   *session  // for control lines: the connection they belong to
	queued time.Time // for messages
	d      *delivery // for priority lines
	last   bool      // the last line of d
}

// staleAfter is how long a message may wait for a connection. Answers and
// announcements older than this would confuse more than help.
const staleAfter = 10 * time.Minute

// sendLoop sends queued lines through the current connection, paced by
// the connection's bucket: control lines first, then priority lines, then
// replies. It waits for the bucket before it chooses, so a priority line
// queued during the wait still goes before the replies. Messages wait for
// a connection.
func (t *Transport) sendLoop(ctx context.Context) {
	for {
		t.waitBucket(ctx)
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
			case l = <-t.prio:
			default:
				select {
				case <-ctx.Done():
					return
				case l = <-t.ctrl:
				case l = <-t.prio:
				case <-t.replies.ready:
					var ok bool
					if l, ok = t.replies.pop(); !ok {
						continue
					}
				}
			}
		}
		t.sendLine(ctx, l)
		t.queued.Add(-1)
	}
}

// waitBucket waits until the current connection's bucket would let a line
// go, or the connection ends.
func (t *Transport) waitBucket(ctx context.Context) {
	t.mu.Lock()
	s := t.conn
	t.mu.Unlock()
	if s == nil {
		return
	}
	t.writeMu.Lock()
	d := s.bucket.Ready(time.Now())
	t.writeMu.Unlock()
	if d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-ctx.Done():
		case <-s.ctx.Done():
		case <-timer.C:
		}
	}
}

func (t *Transport) sendLine(ctx context.Context, l outLine) {
	var tried *session // the connection l was last tried on
	waited := false    // l waited for a connection
	for {
		t.mu.Lock()
		s, ready := t.conn, t.ready
		t.mu.Unlock()
		if l.conn == nil && s != nil && (waited || tried != nil && s != tried) {
			// A new connection: its joins go first. The welcome queues
			// them holding writeMu from the moment it sets t.conn.
			t.writeMu.Lock()
			t.writeMu.Unlock() // a barrier, nothing to guard
			t.sendControl(ctx)
			waited = false
		}
		if l.conn != nil && l.conn != s {
			return // control line for a connection that is gone
		}
		if l.d != nil && l.d.over() {
			return // its sender gave up, or an earlier line failed
		}
		if !l.queued.IsZero() && time.Since(l.queued) > staleAfter {
			t.log.Warn("dropping a message that waited too long for a connection", "to", l.ev.Params[0], "queued", l.queued)
			if l.d != nil {
				l.d.finish(errors.New("it waited too long for a connection"))
			}
			return
		}
		if s == nil {
			var stop <-chan struct{}
			if l.d != nil {
				stop = l.d.done
			}
			select {
			case <-ctx.Done():
				return
			case <-stop:
				return
			case <-ready:
			}
			waited = true
			continue
		}
		tried = s
		token := ""
		if t.pace(ctx, s, l, func(l outLine) { token = t.write(s, l) }) {
			if token != "" {
				t.pace(s.ctx, s, outLine{cost: 1}, func(outLine) {
					s.c.Send(&girc.Event{Command: girc.PING, Params: []string{token}})
				})
			}
			return
		}
	}
}

// sendControl sends the control lines queued now, for a line that waited
// for a connection and must not go before the new connection's JOINs.
func (t *Transport) sendControl(ctx context.Context) {
	for {
		select {
		case c := <-t.ctrl:
			t.sendLine(ctx, c)
			t.queued.Add(-1)
		default:
			return
		}
	}
}

// write sends l on s. After the last line of a priority send on a server
// without echo-message it returns the token of the PING to send next, which
// tells when the server has taken them all.
func (t *Transport) write(s *session, l outLine) (ping string) {
	if l.d == nil {
		s.c.Send(l.ev)
		return ""
	}
	s.track(l.d)
	s.c.Send(l.ev)
	if !l.last || s.c.HasCapability("echo-message") {
		return "" // the echoes settle it
	}
	return s.barrier(l.d)
}

// pace waits until s's bucket lets l go and sends it. It reports false when
// the connection was lost while waiting, so l waits for the next one.
func (t *Transport) pace(ctx context.Context, s *session, l outLine, send func(outLine)) bool {
	t.writeMu.Lock()
	wait := s.bucket.Reserve(time.Now())
	for range l.cost - 1 {
		s.bucket.Reserve(time.Now())
	}
	t.writeMu.Unlock()
	if wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return true
		case <-timer.C:
		}
	}
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	if s.c != nil && !s.c.IsConnected() {
		return false
	}
	send(l)
	return true
}

// control queues a line for connection s ahead of replies.
func (t *Transport) control(s *session, cost int, command string, params ...string) {
	t.queued.Add(1)
	select {
	case t.ctrl <- outLine{ev: &girc.Event{Command: command, Params: params, Sensitive: command == girc.PRIVMSG}, cost: cost, conn: s}:
	default:
		t.queued.Add(-1)
		t.log.Warn("control queue full; dropping line", "command", command)
	}
}

// delivery is one priority send: its lines, and what the server made of
// them. A session tracks it from its first line to the PONG after its last.
type delivery struct {
	ctx    context.Context
	target string
	done   chan struct{} // closed by finish; err is set before

	mu      sync.Mutex
	waiting map[string]int // line texts not echoed yet
	err     error
}

func newDelivery(ctx context.Context, target string, lines []string) *delivery {
	d := &delivery{ctx: ctx, target: target, done: make(chan struct{}), waiting: map[string]int{}}
	for _, l := range lines {
		d.waiting[l]++
	}
	return d
}

// finish records the outcome; only the first call counts.
func (d *delivery) finish(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.done:
		return
	default:
	}
	d.err = err
	close(d.done)
}

// over reports whether the delivery has an outcome or its sender gave up.
func (d *delivery) over() bool {
	select {
	case <-d.done:
		return true
	default:
		return d.ctx.Err() != nil
	}
}

func (d *delivery) echoed(text string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.waiting[text] == 0 {
		return false
	}
	d.waiting[text]--
	return true
}

func (d *delivery) allEchoed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range d.waiting {
		if n > 0 {
			return false
		}
	}
	return true
}

// settle decides the outcome at the PONG after the last line: accepted
// unless, with echo-message, a line did not come back.
func (d *delivery) settle(echo bool) {
	if echo && !d.allEchoed() {
		d.finish(fmt.Errorf("irc: the server did not relay the message to %s", d.target))
		return
	}
	d.finish(nil)
}

// track starts following d's lines on s (echoes and refusals).
func (s *session) track(d *delivery) {
	if s.ctx.Err() != nil {
		d.finish(fmt.Errorf("irc: the connection was lost before the message to %s was sent", d.target))
		return
	}
	s.outMu.Lock()
	defer s.outMu.Unlock()
	for _, p := range s.pending {
		if p == d {
			return
		}
	}
	s.pending = append(s.pending, d)
}

// barrier returns the PING token that settles d when its PONG arrives.
func (s *session) barrier(d *delivery) string {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	token := fmt.Sprintf("jouncebot-%d", s.ids.Add(1))
	if s.barriers == nil {
		s.barriers = map[string]*delivery{}
	}
	s.barriers[token] = d
	return token
}

// onPong settles the delivery whose barrier this is.
func (s *session) onPong(e girc.Event) {
	token := e.Last()
	s.outMu.Lock()
	d := s.barriers[token]
	delete(s.barriers, token)
	if d != nil {
		for i, p := range s.pending {
			if p == d {
				s.pending = append(s.pending[:i:i], s.pending[i+1:]...)
				break
			}
		}
	}
	s.outMu.Unlock()
	if d != nil {
		d.settle(s.c.HasCapability("echo-message"))
	}
}

// onEcho counts an echoed line of ours against the oldest delivery that
// waits for it.
func (s *session) onEcho(e girc.Event) {
	if e.Command != girc.PRIVMSG || len(e.Params) < 2 {
		return
	}
	s.outMu.Lock()
	defer s.outMu.Unlock()
	for i, d := range s.pending {
		if rfcEqual(d.target, e.Params[0]) && d.echoed(e.Last()) {
			if d.allEchoed() {
				s.pending = append(s.pending[:i:i], s.pending[i+1:]...)
				d.finish(nil)
			}
			return
		}
	}
}

// onRefused records a refusal (no such nick or channel, cannot send to
// channel) for the deliveries to that target.
func (s *session) onRefused(e girc.Event) {
	if len(e.Params) < 2 {
		return
	}
	s.outMu.Lock()
	defer s.outMu.Unlock()
	kept := s.pending[:0]
	for _, d := range s.pending {
		if rfcEqual(d.target, e.Params[1]) {
			d.finish(fmt.Errorf("irc: the server refused the message to %s: %s", d.target, StripControl(e.Last())))
			continue
		}
		kept = append(kept, d)
	}
	s.pending = kept
}

// failPending ends every delivery the connection still followed.
func (s *session) failPending(reason string) {
	s.outMu.Lock()
	pending := s.pending
	s.pending, s.barriers = nil, nil
	s.outMu.Unlock()
	for _, d := range pending {
		d.finish(fmt.Errorf("irc: the connection was lost (%s) before the server confirmed the message to %s", reason, d.target))
	}
}
