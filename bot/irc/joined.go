package irc

import (
	"sync"

	"github.com/lrstanley/girc"

	"github.com/jouncebot/jouncebot/bot"
)

var _ bot.Joiner = (*Transport)(nil)

// channels tracks the channels the bot is in on the current connection,
// so that window notices wait for the join instead of being sent into a
// channel the bot has not joined (or was kicked from).
type channels struct {
	mu      sync.Mutex
	in      map[string]bool // RFC 1459 casefolded name -> joined
	changed chan struct{}   // closed and replaced at every change
}

func (c *channels) set(name string, in bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.in == nil {
		c.in = map[string]bool{}
	}
	key := girc.ToRFC1459(name)
	if c.in[key] == in {
		return
	}
	c.in[key] = in
	c.notify()
}

// clear forgets every channel: the connection is gone.
func (c *channels) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.in) == 0 {
		return
	}
	c.in = nil
	c.notify()
}

func (c *channels) notify() {
	if c.changed != nil {
		close(c.changed)
	}
	c.changed = make(chan struct{})
}

// Joined reports whether the bot is in channel on the current connection,
// and a channel closed when that may have changed. It implements
// bot.Joiner. Private targets (nicks) count as joined.
func (t *Transport) Joined(channel string) (bool, <-chan struct{}) {
	c := &t.chans
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	if channel == "" || (channel[0] != '#' && channel[0] != '&') {
		return true, c.changed
	}
	return c.in[girc.ToRFC1459(channel)], c.changed
}
