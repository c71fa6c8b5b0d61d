package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// Transport connects the bot to one chat network.
type Transport interface {
	// Network is the configured name of the network; it is the Network of
	// every Message the transport delivers.
	Network() string
	// Run connects and delivers incoming messages to h until ctx is done.
	// It reconnects on its own; it returns only when ctx is done or the
	// transport can never work (e.g. the console reached end of input).
	Run(ctx context.Context, h Handler) error
	// Send delivers t to the target. It may queue and return before delivery.
	Send(ctx context.Context, to Target, t Text) error
	// Rooms lists the rooms announcements go to on this network.
	Rooms() []string
}

// Handler receives messages from transports.
type Handler interface {
	Handle(ctx context.Context, r *Request)
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, r *Request)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, r *Request) { f(ctx, r) }

// Status is an optional Transport capability: a short, human-readable
// health state ("connected", "reconnecting in 4s: ping timeout").
type Status interface {
	Status() string
}

// Health is an optional Transport capability: the connection's state, for
// the metrics and the readiness check.
type Health interface {
	Health() ConnState
}

// ConnState is a transport's connection state.
type ConnState struct {
	Connected bool
	// Since is when the connection came up or went down (zero before the
	// first attempt ended).
	Since time.Time
	// Reconnects counts connections lost and tried again since start.
	Reconnects uint64
	// Queue is how many messages wait to be sent.
	Queue int
}

// Request is one incoming message together with the means to answer it.
type Request struct {
	Message
	bot *Bot
	tr  Transport
	// answered, set by the bot, tells the next message in the room that
	// this one's first reply is on its way (see Bot.dispatch).
	answered func()
}

func (r *Request) markAnswered() {
	if r.answered != nil {
		r.answered()
	}
}

// NewRequest returns a request whose replies go through t. Transports
// running under a Bot need not call it (the Bot fills it in); it is for
// transports used on their own and for tests.
func NewRequest(m Message, t Transport) *Request { return &Request{Message: m, tr: t} }

// CurrentNick is the name the bot goes by on the request's network right
// now, when the transport can tell (an IRC bot whose nick was taken goes by
// "jouncebot_" until it gets its nick back); "" otherwise.
func (r *Request) CurrentNick() string {
	if n, ok := r.tr.(interface{ Nick() string }); ok {
		return n.Nick()
	}
	return ""
}

// Reply sends t to where the message came from. Replies to a message in a
// room mention nobody; the caller adds mentions as it needs.
//
// Replies are fair and bounded: each sender (by account, else host, else
// nick) has a budget of reply lines. A person the bot knows (see SetKnown)
// who is over it is not dropped: the reply waits in that person's queue,
// behind their earlier replies, until their budget has room (or ctx ends),
// unless it would come more than ten minutes late (a script asking in a
// loop), when it is dropped like a stranger's.
// Anyone else over it is told once to slow down and then not answered until
// the budget refills. Once its turn has come, a reply waits at most
// SendTimeout to be queued. On a transport that limits replies in rooms
// (ChannelLines), a longer reply is cut there with a note and the rest goes
// privately to the sender.
func (r *Request) Reply(ctx context.Context, t Text) error {
	r.bot.sent(r.Network)
	if r.tr == nil {
		return errors.New("bot: reply to a request that has no transport")
	}
	defer r.markAnswered()
	lines := t.Lines()
	limited := r.bot != nil && !isSequential(r.tr)
	known := limited && r.bot.known(r.Message)
	over, wait := false, time.Duration(0)
	if known {
		release, w, err := r.bot.limits.wait(ctx, senderKey(r.Message), len(lines), r.markAnswered)
		if errors.Is(err, ErrSlowDown) {
			over, wait = true, w
		} else if err != nil {
			return fmt.Errorf("bot: reply to %s waited for its turn until it was cancelled: %w", r.Nick, err)
		}
		defer release() // after the send: the sender's next reply waits for it
	}
	ctx, cancel := withSendTimeout(ctx)
	defer cancel()
	if limited && !known {
		var ok bool
		ok, wait = r.bot.limits.allow(senderKey(r.Message), len(lines), time.Now())
		over = !ok
	}
	if over {
		if wait == 0 {
			return ErrSlowDown
		}
		r.bot.log.Info("sender over the reply budget; asked to slow down", "network", r.Network, "nick", r.Nick, "account", r.Account, "known", known)
		if err := r.tr.Send(ctx, r.ReplyTarget(), slowDown(wait)); err != nil {
			return err
		}
		return ErrSlowDown
	}
	if cl, ok := r.tr.(ChannelLines); ok && !r.Private && cl.ChannelLines() > 0 && len(lines) > cl.ChannelLines() {
		return r.replyInParts(ctx, lines, cl.ChannelLines())
	}
	return r.tr.Send(ctx, r.ReplyTarget(), t)
}

// replyInParts says the first lines of a long reply in the room, with a
// note, and the rest privately to the sender.
func (r *Request) replyInParts(ctx context.Context, lines []Text, n int) error {
	to := Target{Network: r.Network, Room: r.Nick, Private: true}
	if d, ok := r.tr.(Directer); ok {
		if dt, ok := d.DirectTarget(ctx, Person{Name: r.Nick, IRCNick: r.Nick}); ok {
			to = dt
		}
	}
	head, rest := lines[:n-1], lines[n-1:]
	var room Text
	for _, l := range head {
		room = room.Append(l, T("\n"))
	}
	room = room.Append(T(fmt.Sprintf("%s: … and %d more lines, sent to you privately.", r.Nick, len(rest))))
	if err := r.tr.Send(ctx, r.ReplyTarget(), room); err != nil {
		return err
	}
	var private Text
	for i, l := range rest {
		if i > 0 {
			private = private.Append(T("\n"))
		}
		private = private.Append(l)
	}
	return r.tr.Send(ctx, to, private)
}

// ErrSlowDown is returned by Reply when the sender has asked more than the
// bot answers; the reply was not sent.
var ErrSlowDown = errors.New("bot: sender over the reply budget; reply not sent")

// SendTimeout bounds every send through the bot whose context has no
// earlier deadline, so nothing waits on chat output for good.
const SendTimeout = 30 * time.Second

func withSendTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= SendTimeout {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, SendTimeout)
}

func isSequential(t Transport) bool {
	s, ok := t.(interface{ Sequential() bool })
	return ok && s.Sequential()
}

// Replyf sends a plain formatted reply.
func (r *Request) Replyf(ctx context.Context, format string, args ...any) error {
	return r.Reply(ctx, T(fmt.Sprintf(format, args...)))
}

// Bot is the hub that runs transports and routes their messages to a
// Handler. Each message is handled on its own goroutine, so one slow command
// never blocks the others, and a panic in a handler is recovered.
type Bot struct {
	log *slog.Logger
	h   Handler

	limits  *replyLimiter
	isKnown func(Message) bool // set before Run; nil: nobody is known
	private []Target           // set before Run: rooms that are no announcement rooms

	mu         sync.Mutex
	onSend     func(network string)
	transports []Transport
	last       map[roomKey]*turn // the latest handler per room and per sender
	wg         sync.WaitGroup
}

// New returns a Bot that hands every message to h.
func New(log *slog.Logger, h Handler) *Bot {
	return &Bot{log: log.With("component", "bot"), h: h, limits: newReplyLimiter()}
}

// SetReplyBudget changes the reply budget every sender has: burst lines at
// once, then a line every every. A burst of 0 turns the limit off (for
// benchmarks of the bare round trip). Call it before Run.
func (b *Bot) SetReplyBudget(burst int, every time.Duration) {
	b.limits.mu.Lock()
	defer b.limits.mu.Unlock()
	b.limits.off = burst <= 0
	b.limits.burst, b.limits.every = float64(burst), every
}

// SetKnown tells the bot who it knows: people whose replies wait for their
// turn when they ask faster than the reply budget, instead of being dropped
// (see Request.Reply). known must go by the identity the network vouches
// for (Message.Account), never by nick. Call it before Run.
func (b *Bot) SetKnown(known func(Message) bool) { b.isKnown = known }

func (b *Bot) known(m Message) bool {
	return b.isKnown != nil && m.Identified() && b.isKnown(m)
}

// SetPrivate names rooms the bot is in that are not announcement rooms
// (the security rooms): Announce and Rooms leave them out, so nothing
// public is said there and no public text names them; Send still reaches
// them. Call it before Run.
func (b *Bot) SetPrivate(rooms []Target) { b.private = rooms }

// isPrivate reports whether room on network is one of SetPrivate's.
func (b *Bot) isPrivate(network, room string) bool {
	for _, p := range b.private {
		// Either may be an alias of the other's room id.
		if p.Network == network && (b.SameRoom(network, p.Room, room) || b.SameRoom(network, room, p.Room)) {
			return true
		}
	}
	return false
}

// Add registers a transport. Call it before Run.
func (b *Bot) Add(t Transport) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.transports = append(b.transports, t)
}

// OnSend sets a function called for each message handed to a transport
// (for the metrics). Call it before Run.
func (b *Bot) OnSend(f func(network string)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onSend = f
}

func (b *Bot) sent(network string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	f := b.onSend
	b.mu.Unlock()
	if f != nil {
		f(network)
	}
}

// Transports returns the registered transports.
func (b *Bot) Transports() []Transport {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Transport(nil), b.transports...)
}

// ErrEndOfInput is returned by a transport whose input ended for good (the
// console at end of file). When every transport has ended, Run returns.
var ErrEndOfInput = errors.New("end of input")

// Run runs every transport until ctx is done or all of them have returned.
// It waits for handlers still running before it returns. A transport that
// ends with ErrEndOfInput ends the run of the whole bot once handlers have
// finished, so piped console input exits at end of file.
func (b *Bot) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ts := b.Transports()
	errs := make(chan error, len(ts))
	for _, t := range ts {
		go func() {
			err := t.Run(ctx, HandlerFunc(func(hctx context.Context, r *Request) {
				r.bot = b
				if r.tr == nil {
					r.tr = t
				}
				b.dispatch(hctx, r)
			}))
			if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, ErrEndOfInput) {
				b.log.Error("transport stopped", "network", t.Network(), "err", err)
			}
			errs <- err
		}()
	}
	var first error
	for range ts {
		err := <-errs
		if errors.Is(err, ErrEndOfInput) {
			b.wg.Wait() // let the last answers out before the others stop
			cancel()
			continue
		}
		if first == nil && err != nil && !errors.Is(err, context.Canceled) {
			first = err
		}
	}
	b.wg.Wait()
	return first
}

// dispatch runs the handler for r on its own goroutine, recovering panics.
// Messages are answered in the order they arrived, in each room and from
// each sender: a handler starts once the previous message in its room, and
// the sender's previous message, have their first reply on the way (sent,
// or waiting in the sender's reply queue) or have finished. A slow command
// delays another person's message by at most orderWait after it arrived,
// and the same sender's next message by at most senderOrderWait after the
// slow one started. A transport that reports Sequential() == true (the
// console, reading a script) gets its messages handled strictly one after
// another.
func (b *Bot) dispatch(ctx context.Context, r *Request) {
	arrived := time.Now()
	room := roomKey{r.Network, r.Room}
	sender := roomKey{r.Network, "\x00" + senderKey(r.Message)}
	cur := &turn{started: make(chan struct{}), answered: make(chan struct{})}
	r.answered = cur.answer
	finished := make(chan struct{})
	b.mu.Lock()
	if b.last == nil {
		b.last = map[roomKey]*turn{}
	}
	prevRoom, prevSender := b.last[room], b.last[sender]
	b.last[room], b.last[sender] = cur, cur
	b.mu.Unlock()

	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer close(finished)
		defer func() {
			b.mu.Lock()
			for _, k := range []roomKey{room, sender} {
				if b.last[k] == cur {
					delete(b.last, k)
				}
			}
			b.mu.Unlock()
			cur.answer()
		}()
		defer func() {
			if v := recover(); v != nil {
				b.log.Error("handler panicked", "network", r.Network, "room", r.Room, "text", r.Text, "panic", v, "stack", string(debug.Stack()))
				_ = r.Reply(ctx, T("Sorry, something went wrong inside me while handling that; it has been logged."))
			}
		}()
		if prevRoom != nil && prevRoom != prevSender {
			prevRoom.waitUntil(ctx, arrived.Add(orderWait))
		}
		if prevSender != nil && prevSender.waitStarted(ctx) {
			prevSender.waitUntil(ctx, prevSender.startedAt.Add(senderOrderWait))
		}
		cur.startedAt = time.Now()
		close(cur.started)
		b.h.Handle(ctx, r)
	}()
	if isSequential(r.tr) {
		<-finished
	}
}

// turn is one message's place in the order of its room and its sender.
type turn struct {
	started   chan struct{} // closed when its handler starts; startedAt is set before
	startedAt time.Time
	answered  chan struct{} // closed by answer
	once      sync.Once
}

// answer says the message's first reply is on its way, or that there will be none.
func (t *turn) answer() { t.once.Do(func() { close(t.answered) }) }

// waitStarted waits until t's handler has started; false when ctx ended
// first.
func (t *turn) waitStarted(ctx context.Context) bool {
	select {
	case <-t.started:
		return true
	case <-ctx.Done():
		return false
	}
}

// waitUntil waits until t has started and answered, or until deadline.
func (t *turn) waitUntil(ctx context.Context, deadline time.Time) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for _, c := range []chan struct{}{t.started, t.answered} {
		select {
		case <-c:
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// orderWait bounds how long a message waits for the one before it in the
// same room from someone else, from its arrival; senderOrderWait, how long
// it waits for the one before it from the same sender once that one has
// started: a person's answers should come in the order asked even on a
// busy machine.
const (
	orderWait       = 2 * time.Second
	senderOrderWait = 10 * time.Second
)

type roomKey struct{ network, room string }

// PrioritySender is an optional Transport capability for what must not
// wait behind replies: deploy events, gate questions, window notices.
// SendPriority sends t ahead of queued replies and returns nil only once the
// network has accepted it (for IRC: the server echoed it, or answered a
// PING sent after it without refusing it); an error means it may not have
// been delivered. Bot.Send and Bot.Announce use it when a transport has it.
type PrioritySender interface {
	SendPriority(ctx context.Context, to Target, t Text) error
}

// ChannelLines is an optional Transport capability: the most lines a reply
// in a room should take (IRC, where every line holds the room for a
// second). Longer replies are cut there and continued privately.
type ChannelLines interface {
	ChannelLines() int
}

// Announce sends t to every announcement room of every transport, the
// transports at the same time, and returns once each has accepted it or
// failed (see Send). A transport that fails does not keep the others from
// receiving it; the errors are joined.
func (b *Bot) Announce(ctx context.Context, t Text) error {
	ctx, cancel := withSendTimeout(ctx)
	defer cancel()
	ts := b.Transports()
	errs := make([]error, len(ts))
	var wg sync.WaitGroup
	for i, tr := range ts {
		wg.Go(func() {
			var out []error
			for _, room := range tr.Rooms() {
				if b.isPrivate(tr.Network(), room) {
					continue
				}
				b.sent(tr.Network())
				if err := sendPriority(ctx, tr, Target{Network: tr.Network(), Room: room}, t); err != nil {
					out = append(out, fmt.Errorf("announce to %s %s: %w", tr.Network(), room, err))
				}
			}
			errs[i] = errors.Join(out...)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Send sends t to one target, through the transport that owns its network,
// ahead of replies. It returns once the network accepted t, when the
// transport can tell (PrioritySender), else once t is queued; in any case
// within SendTimeout, so a caller never waits on chat for good.
func (b *Bot) Send(ctx context.Context, to Target, t Text) error {
	ctx, cancel := withSendTimeout(ctx)
	defer cancel()
	for _, tr := range b.Transports() {
		if tr.Network() == to.Network {
			b.sent(to.Network)
			return sendPriority(ctx, tr, to, t)
		}
	}
	return fmt.Errorf("send: no transport for network %q", to.Network)
}

func sendPriority(ctx context.Context, tr Transport, to Target, t Text) error {
	if p, ok := tr.(PrioritySender); ok {
		return p.SendPriority(ctx, to, t)
	}
	return tr.Send(ctx, to, t)
}

// Rooms lists every announcement room of every transport (not the
// private ones, see SetPrivate).
func (b *Bot) Rooms() []Target {
	var out []Target
	for _, tr := range b.Transports() {
		for _, room := range tr.Rooms() {
			if b.isPrivate(tr.Network(), room) {
				continue
			}
			out = append(out, Target{Network: tr.Network(), Room: room})
		}
	}
	return out
}

// RoomResolver is an optional Transport capability for networks where a
// room has more than one name (Matrix: aliases and the room id messages
// carry).
type RoomResolver interface {
	// RoomID returns the name messages from room (as the configuration
	// names it) carry, and whether the transport knows it yet.
	RoomID(room string) (string, bool)
}

// SameRoom reports whether a room as the configuration names it on network
// (an IRC channel, a Matrix room id or alias) is the room a message came
// from. Every comparison of a configured room with a message's room goes
// through it.
func (b *Bot) SameRoom(network, configured, room string) bool {
	if SameRoomName(configured, room) {
		return true
	}
	for _, tr := range b.Transports() {
		if r, ok := tr.(RoomResolver); ok && tr.Network() == network {
			if id, ok := r.RoomID(configured); ok {
				return SameRoomName(id, room)
			}
		}
	}
	return false
}

// SameRoomName compares two names of rooms without asking any transport:
// channel names and aliases ("#…", "&…") ignore case, as IRC does; room ids
// must be equal.
func SameRoomName(a, b string) bool {
	if a == b {
		return true
	}
	channel := strings.HasPrefix(a, "#") || strings.HasPrefix(a, "&")
	return channel && strings.EqualFold(a, b)
}

// Deliverer is an optional Transport capability for messages that must
// not be lost, like the calendar's notices. Deliver returns nil only once
// the network accepted t (Matrix: the homeserver answered with an event
// id; IRC: the server acknowledged the line), and an error when t was
// refused or could not be sent in time, so the caller can try again. key
// names the message across restarts: a transport that can (Matrix
// transaction ids) makes a second Deliver of the same key, even by a new
// process, succeed without sending it twice.
type Deliverer interface {
	Deliver(ctx context.Context, to Target, t Text, key string) error
}

// Joiner is an optional Transport capability: whether the bot is in a
// room now, so that messages for the room can wait for the join.
type Joiner interface {
	// Joined reports whether the bot is in room (as Rooms names it) now;
	// changed is closed the next time that may have changed.
	Joined(room string) (joined bool, changed <-chan struct{})
}

// Deliver sends t to one target through the transport that owns its
// network and, when the transport is a Deliverer, returns only once the
// network accepted it. Other transports count a message as accepted once
// Send has queued it.
func (b *Bot) Deliver(ctx context.Context, to Target, t Text, key string) error {
	for _, tr := range b.Transports() {
		if tr.Network() != to.Network {
			continue
		}
		b.sent(to.Network)
		if d, ok := tr.(Deliverer); ok {
			return d.Deliver(ctx, to, t, key)
		}
		return sendPriority(ctx, tr, to, t)
	}
	return fmt.Errorf("deliver: no transport for network %q", to.Network)
}

// Joined reports whether the bot is in the room to names, and a channel
// closed when that may have changed. A transport that cannot tell (no
// Joiner) counts as joined, and so does an unknown network, so nothing
// waits forever for it.
func (b *Bot) Joined(to Target) (joined bool, changed <-chan struct{}) {
	for _, tr := range b.Transports() {
		if j, ok := tr.(Joiner); ok && tr.Network() == to.Network {
			return j.Joined(to.Room)
		}
	}
	return true, nil
}

// Roster is an optional Transport capability: who is in a room now.
type Roster interface {
	// InRoom reports whether p is in room; known is false when the
	// transport cannot tell (e.g. not joined yet).
	InRoom(ctx context.Context, room string, p Person) (present, known bool)
}

// Directer is an optional Transport capability: where a private message
// to p goes on this network.
type Directer interface {
	DirectTarget(ctx context.Context, p Person) (Target, bool)
}

// InRoom asks the transport of to whether p is in that room.
func (b *Bot) InRoom(ctx context.Context, to Target, p Person) (present, known bool) {
	for _, tr := range b.Transports() {
		if r, ok := tr.(Roster); ok && tr.Network() == to.Network {
			return r.InRoom(ctx, to.Room, p)
		}
	}
	return false, false
}

// DirectTarget finds where a private message to p goes on a network.
func (b *Bot) DirectTarget(ctx context.Context, network string, p Person) (Target, bool) {
	for _, tr := range b.Transports() {
		if d, ok := tr.(Directer); ok && tr.Network() == network {
			return d.DirectTarget(ctx, p)
		}
	}
	return Target{}, false
}
