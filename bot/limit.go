package bot

import (
	"fmt"
	"sync"
	"time"
)

// replyLimiter keeps one person from taking all of the bot's output: each
// sender has a budget of reply lines that refills slowly. A sender who runs
// out is told once to slow down and then gets no replies until the budget
// has refilled a little. It is pure logic over the time passed in.
type replyLimiter struct {
	burst float64       // lines a sender may get at once
	every time.Duration // one line of budget comes back this often

	mu      sync.Mutex
	off     bool
	senders map[string]*budget
}

type budget struct {
	lines  float64
	last   time.Time
	warned bool // told to slow down since the last reply
}

// Reply limits: a sender gets up to 40 lines at once (a private help and a
// few answers), then a line every 3 seconds. A person asking a question
// every now and then never notices.
const (
	replyBurst = 40
	replyEvery = 3 * time.Second
)

func newReplyLimiter() *replyLimiter {
	return &replyLimiter{burst: replyBurst, every: replyEvery, senders: map[string]*budget{}}
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
	b := l.senders[key]
	if b == nil {
		if len(l.senders) > 10000 {
			l.prune(now)
		}
		b = &budget{lines: l.burst, last: now}
		l.senders[key] = b
	}
	if d := now.Sub(b.last); d > 0 {
		b.lines = min(l.burst, b.lines+float64(d)/float64(l.every))
		b.last = now
	}
	need := min(float64(lines), l.burst)
	if b.lines >= need {
		b.lines -= need
		b.warned = false
		return true, 0
	}
	if b.warned {
		return false, 0
	}
	b.warned = true
	return false, time.Duration((need - b.lines) * float64(l.every))
}

// prune forgets senders whose budget is full again.
func (l *replyLimiter) prune(now time.Time) {
	for k, b := range l.senders {
		if float64(now.Sub(b.last))/float64(l.every)+b.lines >= l.burst {
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
