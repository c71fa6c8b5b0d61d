package irc

import "github.com/jouncebot/jouncebot/bot"

// Health says whether the bot is connected, since when, how many
// connections it lost, and how many lines wait to be sent. It implements
// bot.Health.
func (t *Transport) Health() bot.ConnState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bot.ConnState{Connected: t.conn != nil, Since: t.since, Reconnects: t.drops, Queue: len(t.ctrl) + len(t.prio) + t.replies.len()}
}
