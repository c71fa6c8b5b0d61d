package irc

import (
	"context"
	"sync"

	"github.com/lrstanley/girc"
)

// replyQueue holds the replies waiting for the bucket: one queue per
// target, served round robin a line at a time, so a long reply to one
// person (a private help) does not hold up a short one to someone else.
// Lines to one target keep their order, and the lines of one push stay
// together among that target's lines.
type replyQueue struct {
	max   int           // lines it holds at most
	ready chan struct{} // holds a token while lines wait

	mu       sync.Mutex
	n        int
	byTarget map[string][]outLine
	order    []string      // targets with lines waiting, the next to serve first
	space    chan struct{} // closed and replaced when lines leave
}

func newReplyQueue(max int) *replyQueue {
	return &replyQueue{max: max, ready: make(chan struct{}, 1), byTarget: map[string][]outLine{}, space: make(chan struct{})}
}

// push queues lines for target, all of them or, when ctx ends before there
// is room, none.
func (q *replyQueue) push(ctx context.Context, target string, lines []outLine) error {
	key := girc.ToRFC1459(target)
	for {
		q.mu.Lock()
		if q.n == 0 || q.n+len(lines) <= q.max {
			if len(q.byTarget[key]) == 0 {
				q.order = append(q.order, key)
			}
			q.byTarget[key] = append(q.byTarget[key], lines...)
			q.n += len(lines)
			q.mu.Unlock()
			q.signal()
			return nil
		}
		space := q.space
		q.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// pop takes the next line: the oldest of the target whose turn it is.
func (q *replyQueue) pop() (outLine, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.order) == 0 {
		return outLine{}, false
	}
	key := q.order[0]
	lines := q.byTarget[key]
	l := lines[0]
	q.order = q.order[1:]
	if len(lines) == 1 {
		delete(q.byTarget, key)
	} else {
		q.byTarget[key] = lines[1:]
		q.order = append(q.order, key)
	}
	q.n--
	close(q.space)
	q.space = make(chan struct{})
	if q.n > 0 {
		q.signal()
	}
	return l, true
}

func (q *replyQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// len is how many lines wait.
func (q *replyQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}
