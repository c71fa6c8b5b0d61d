package bot

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// replyLimiter keeps one person from taking all of the bot's output: each
// sender has a budget of reply lines that refills slowly. What happens when
// the budget runs out depends on who asks:
//
//   - People the bot knows (identified, in the people list) are not
//     dropped: their replies wait in a queue of their own, first in first
//     out, and each goes as soon as that sender's budget has room for it.
//     Every queue is served from its own budget, so a busy person's backlog
//     never holds up anyone else's answers: with several people waiting,
//     each gets a line in turn as their budgets refill. A queue holds at
//     most staleReply of the budget's refill: a reply that would come later
//     than that (a script asking in a loop) is dropped like a stranger's,
//     with one sentence, so a backlog cannot grow for hours.
//   - Strangers and unidentified senders are told once to slow down and
//     then get only what the budget refills (a reply every few seconds),
//     without being told again until they have let the budget fill up.
//
// allow is pure logic over the time passed in; wait is allow's waiting
// form for known senders.
type replyLimiter struct {
	burst float64       // lines a sender may get at once
	every time.Duration // one line of budget comes back this often

	mu      sync.Mutex
	off     bool
	senders map[string]*budget
}

type budget struct {
	lines   float64
	last    time.Time
	warned  bool    // told to slow down since the last reply
	waiting float64 // lines of the replies in queue
	// queue holds the replies of a known sender waiting for budget, oldest
	// first; the channel of the first is closed when it is its turn.
	queue []chan struct{}
}

// Reply limits: a sender gets up to 40 lines at once (a private help and a
// few answers), then a line every 3 seconds. A person asking a question
// every now and then never notices.
const (
	replyBurst = 40
	replyEvery = 3 * time.Second
)

// staleReply bounds how late a known sender's queued reply may come: an
// answer later than this would confuse more than help (the IRC transport
// drops replies that waited as long for a connection).
const staleReply = 10 * time.Minute

func newReplyLimiter() *replyLimiter {
	return &replyLimiter{burst: replyBurst, every: replyEvery, senders: map[string]*budget{}}
}

// get returns key's budget refilled to now. l.mu must be held.
func (l *replyLimiter) get(key string, now time.Time) *budget {
	b := l.senders[key]
	if b == nil {
		if len(l.senders) > 10000 {
			l.prune(now)
		}
		b = &budget{lines: l.burst, last: now}
		l.senders[key] = b
	}
	b.refill(now, l)
	return b
}

// allow takes lines from key's budget at now. When the budget is short it
// reports false and, the first time only, how long until the reply would
// fit (wait > 0), so the caller can say so once.
func (l *replyLimiter) allow(key string, lines int, now time.Time) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.off {
		return true, 0
	}
	b := l.get(key, now)
	need := min(float64(lines), l.burst)
	if b.lines >= l.burst {
		b.warned = false // quiet long enough to be told again
	}
	if b.lines >= need {
		b.lines -= need
		return true, 0
	}
	if b.warned {
		return false, 0
	}
	b.warned = true
	return false, time.Duration((need - b.lines) * float64(l.every))
}

// wait takes lines from key's budget, after every reply of key's that
// waits already, waiting as long as it takes; queued is called once the
// reply has its place in the queue, and not at all when it goes at once
// (the caller says so once it is sent, so the sender's next message cannot
// overtake it). On success the caller calls release once the reply is sent:
// the next reply of key's waits for that too. It returns an error
// only when ctx ends first (the reply then leaves the queue without taking
// budget) or when the reply would come more than staleReply late
// (ErrSlowDown, with how long until it would fit the first time, so the
// caller can say so once).
func (l *replyLimiter) wait(ctx context.Context, key string, lines int, queued func()) (release func(), tell time.Duration, err error) {
	none := func() {}
	l.mu.Lock()
	if l.off {
		l.mu.Unlock()
		return none, 0, nil
	}
	b := l.get(key, time.Now())
	need := min(float64(lines), l.burst)
	if len(b.queue) == 0 {
		b.warned = false // the backlog is gone: tell again
		if b.lines >= need {
			b.lines -= need
			l.mu.Unlock()
			return none, 0, nil
		}
	}
	if late := time.Duration((b.waiting + need - b.lines) * float64(l.every)); late > staleReply {
		defer l.mu.Unlock()
		if b.warned {
			return none, 0, ErrSlowDown
		}
		b.warned = true
		return none, max(late-staleReply, time.Second), ErrSlowDown
	}
	turn := make(chan struct{})
	if len(b.queue) == 0 {
		close(turn)
	}
	b.queue = append(b.queue, turn)
	b.waiting += need
	l.mu.Unlock()
	queued()
	leave := func() { l.leave(b, turn, need) }

	select {
	case <-turn:
	case <-ctx.Done():
		leave()
		return none, 0, ctx.Err()
	}
	for {
		l.mu.Lock()
		b.refill(time.Now(), l)
		if b.lines >= need-1e-9 { // the refill's float sum may fall short by a rounding error
			b.lines -= need
			l.mu.Unlock()
			return leave, 0, nil
		}
		d := max(time.Duration(math.Ceil((need-b.lines)*float64(l.every))), time.Millisecond)
		l.mu.Unlock()
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			leave()
			return none, 0, ctx.Err()
		}
	}
}

// refill adds the budget that came back since b.last. l.mu must be held.
func (b *budget) refill(now time.Time, l *replyLimiter) {
	if d := now.Sub(b.last); d > 0 {
		b.lines = min(l.burst, b.lines+float64(d)/float64(l.every))
		b.last = now
	}
}

// leave takes turn out of b's queue and, when it was first, gives the turn
// to the next reply.
func (l *replyLimiter) leave(b *budget, turn chan struct{}, need float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := slices.Index(b.queue, turn)
	if i < 0 {
		return
	}
	b.queue = slices.Delete(b.queue, i, i+1)
	b.waiting -= need
	if len(b.queue) == 0 {
		b.waiting = 0 // no float residue
	}
	if i == 0 && len(b.queue) > 0 {
		close(b.queue[0])
	}
}

// prune forgets senders whose budget is full again and who have nothing
// waiting.
func (l *replyLimiter) prune(now time.Time) {
	for k, b := range l.senders {
		if len(b.queue) == 0 && float64(now.Sub(b.last))/float64(l.every)+b.lines >= l.burst {
			delete(l.senders, k)
		}
	}
}

// senderKey is who a message counts against: the account when the network
// vouches for one, else the host, else the nick.
func senderKey(m Message) string {
	switch {
	case m.Account != "":
		return m.Network + "\taccount\t" + m.Account
	case m.Host != "":
		return m.Network + "\thost\t" + m.Host
	default:
		return m.Network + "\tnick\t" + m.Nick
	}
}

// slowDown is the one line a sender over budget gets.
func slowDown(wait time.Duration) Text {
	when := "a second"
	if secs := int(wait.Round(time.Second) / time.Second); secs > 1 {
		when = fmt.Sprintf("%d seconds", secs)
	}
	return T("You are asking faster than I can answer; I will answer you again in about " + when + ".")
}
