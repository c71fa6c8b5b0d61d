package irc_test

import (
	"strings"
	"testing"
)

// The bot counts a channel as joined only while it is in it on a live
// connection, so window notices wait for the join (and for the rejoin
// after a server restart) instead of being sent into nowhere.
func TestJoinedFollowsTheConnection(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	// The others may see the bot's JOIN before the bot has read the
	// server's echo of it: wait for the bot's own view.
	waitUntil(t, "the bot counts "+channel+" as joined", func() bool { in, _ := w.bot.tr.Joined(channel); return in })
	if in, _ := w.bot.tr.Joined("#elsewhere"); in {
		t.Errorf("Joined(#elsewhere) = true for a channel the bot is not in")
	}
	if in, _ := w.bot.tr.Joined("alice"); !in {
		t.Errorf("Joined(alice) = false; a private target needs no join")
	}

	_, changed := w.bot.tr.Joined(channel)
	w.srv.Stop()
	<-changed // the lost connection is a change
	waitUntil(t, "the bot notices", func() bool { return strings.HasPrefix(w.bot.tr.Status(), "reconnecting") })
	if in, _ := w.bot.tr.Joined(channel); in {
		t.Errorf("Joined(%s) = true with the server down", channel)
	}
	w.srv.Restart(t)
	waitUntil(t, "the bot rejoins", func() bool { in, _ := w.bot.tr.Joined(channel); return in })
}
