package matrix

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/internal/backoff"
)

// outgoing is one queued message. Its transaction id stays the same across
// retries, so the homeserver stores it once however often it is sent.
type outgoing struct {
	room    string // room id or alias
	content *event.MessageEventContent
	txnID   string
	queued  time.Time
	// done, when set (Deliver), is told once whether the homeserver
	// accepted the message: nil, or why it was given up.
	done chan error
}

// finish tells a waiting Deliver the outcome.
func (o *outgoing) finish(err error) {
	if o.done != nil {
		o.done <- err
	}
}

// ErrQueueFull is returned by Send when the homeserver has been unreachable
// long enough for the send queue to fill up.
var ErrQueueFull = errors.New("the Matrix send queue is full; the homeserver may be down")

// isRateLimited reports whether err is a rate limit answer.
func isRateLimited(err error) bool {
	_, ok := rateLimited(err, 0)
	return ok
}

// Send renders t as an m.notice and queues it for the room: a room id, an
// alias, or a user id for a direct chat with that person. It returns once
// the message is queued, waiting at most a few seconds for space (not at
// all while the homeserver is unreachable), so a homeserver that is down
// never blocks the caller.
func (t *Transport) Send(ctx context.Context, to bot.Target, txt bot.Text) error {
	o, err := t.outgoing(to, txt, fmt.Sprintf("%s.%d", t.txnBase, t.txnSeq.Add(1)))
	if err != nil {
		return err
	}
	return t.enqueue(ctx, o)
}

// Deliver is Send that returns only once the homeserver accepted the
// message (it answered with an event id), or gave it up: refused (e.g. the
// bot is not in the room), or not sent within 10 minutes. The transaction
// id is made from key, so delivering the same key again, also after a
// restart on the same login, does not send it twice (bot.Deliverer).
func (t *Transport) Deliver(ctx context.Context, to bot.Target, txt bot.Text, key string) error {
	sum := sha256.Sum256([]byte(key))
	o, err := t.outgoing(to, txt, "jbk."+hex.EncodeToString(sum[:16]))
	if err != nil {
		return err
	}
	o.done = make(chan error, 1)
	if err := t.enqueue(ctx, o); err != nil {
		return err
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *Transport) outgoing(to bot.Target, txt bot.Text, txnID string) (*outgoing, error) {
	if to.Network != "" && to.Network != t.Network() {
		return nil, fmt.Errorf("matrix: target network %q is not %q", to.Network, t.Network())
	}
	if !strings.HasPrefix(to.Room, "!") && !strings.HasPrefix(to.Room, "#") && !validUserID(id.UserID(to.Room)) {
		return nil, fmt.Errorf("matrix: %q is not a room id, room alias or user id", to.Room)
	}
	return &outgoing{room: to.Room, content: render(txt, t.cfg.Links), txnID: txnID, queued: time.Now()}, nil
}

// enqueue puts o on the send queue, waiting at most enqueueTimeout for
// space, and not at all while the homeserver is unreachable.
func (t *Transport) enqueue(ctx context.Context, o *outgoing) error {
	select {
	case t.queue <- o:
		return nil
	default:
	}
	if t.unreachable.Load() {
		return ErrQueueFull // no point waiting: nothing is draining the queue
	}
	timer := time.NewTimer(enqueueTimeout)
	defer timer.Stop()
	select {
	case t.queue <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return ErrQueueFull
	}
}

// sender delivers the queue in order until sctx is done. When the whole
// transport stops (ctx done, not just the session), it first sends what is
// still queued, for at most flushTimeout.
func (t *Transport) sender(sctx, ctx context.Context, cli *mautrix.Client) {
	for {
		o := t.takePending()
		if o == nil {
			select {
			case o = <-t.queue:
			case <-sctx.Done():
			}
		}
		if o == nil {
			break
		}
		if !t.deliver(sctx, cli, o) {
			t.setPending(o) // the session ended mid-send; the next one resumes
			break
		}
	}
	if ctx.Err() == nil {
		return // only the session ended: keep the queue for the next one
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	for fctx.Err() == nil {
		o := t.takePending()
		if o == nil {
			select {
			case o = <-t.queue:
			default:
				return
			}
		}
		if !t.deliver(fctx, cli, o) {
			t.log.Warn("stopping with messages not yet sent", "queued", len(t.queue)+1)
			return
		}
	}
}

func (t *Transport) takePending() *outgoing {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.pending
	t.pending = nil
	return o
}

func (t *Transport) setPending(o *outgoing) {
	t.mu.Lock()
	t.pending = o
	t.mu.Unlock()
}

// deliver sends o, retrying what may succeed later. It returns false only
// when ctx ended before o was delivered or given up.
func (t *Transport) deliver(ctx context.Context, cli *mautrix.Client, o *outgoing) bool {
	bo := backoff.New(backoff.Policy{Min: time.Second, Max: time.Minute})
	for {
		err := t.sendOnce(ctx, cli, o)
		t.unreachable.Store(err != nil && ctx.Err() == nil && transient(err) && !isRateLimited(err))
		if err == nil {
			o.finish(nil)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		d, limited := rateLimited(err, time.Second)
		switch {
		case limited:
			t.log.Debug("rate limited; waiting", "room", o.room, "wait", d)
		case transient(err) || tokenRejected(err):
			d = bo.Next()
			t.log.Warn("cannot send; retrying", "room", o.room, "retry_in", d, "err", err)
		default:
			t.log.Error("message refused by the homeserver; dropped", "room", o.room, "err", err)
			o.finish(fmt.Errorf("matrix: message to %s refused: %w", o.room, err))
			return true
		}
		if time.Since(o.queued)+d > maxSendAge {
			t.log.Error("message could not be sent in time; dropped", "room", o.room, "age", time.Since(o.queued).Round(time.Second), "err", err)
			o.finish(fmt.Errorf("matrix: message to %s not sent within %s: %w", o.room, maxSendAge, err))
			return true
		}
		if backoff.Sleep(ctx, d) != nil {
			return false
		}
	}
}

func (t *Transport) sendOnce(ctx context.Context, cli *mautrix.Client, o *outgoing) error {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	room, err := t.resolve(rctx, cli, o.room)
	if err != nil {
		return err
	}
	resp, err := cli.SendMessageEvent(rctx, room, event.EventMessage, o.content, mautrix.ReqSendEvent{TransactionID: o.txnID})
	if err == nil && resp.EventID == "" {
		err = errNoEventID
	}
	return err
}

// errNoEventID is an answer to a send without the event id that says the
// homeserver stored the message; it is retried like a server error.
var errNoEventID = errors.New("the homeserver answered a send without an event id")

// resolve turns a room alias into its id, remembering the answer, and a
// user id into the direct room with them.
func (t *Transport) resolve(ctx context.Context, cli *mautrix.Client, room string) (id.RoomID, error) {
	if strings.HasPrefix(room, "@") {
		return t.directRoom(ctx, cli, id.UserID(room))
	}
	if !strings.HasPrefix(room, "#") {
		return id.RoomID(room), nil
	}
	t.mu.Lock()
	rid, ok := t.aliases[room]
	t.mu.Unlock()
	if ok {
		return rid, nil
	}
	resp, err := cli.ResolveAlias(ctx, id.RoomAlias(room))
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	t.aliases[room] = resp.RoomID
	t.mu.Unlock()
	return resp.RoomID, nil
}
