package irc

import (
	"context"
	"strings"

	"github.com/jouncebot/jouncebot/bot"
)

var (
	_ bot.Roster   = (*Transport)(nil)
	_ bot.Directer = (*Transport)(nil)
)

// InRoom reports whether p's IRC nick is in channel room now. known is
// false while the bot is not connected or not in that channel, and for
// people without an IRC nick. Presence goes by nick: it decides whom to
// ping, never what anyone may do.
func (t *Transport) InRoom(_ context.Context, room string, p bot.Person) (present, known bool) {
	if p.IRCNick == "" {
		return false, false
	}
	t.mu.Lock()
	s := t.conn
	t.mu.Unlock()
	if s == nil {
		return false, false
	}
	ch := s.c.LookupChannel(room)
	if ch == nil {
		return false, false
	}
	return ch.UserIn(p.IRCNick), true
}

// DirectTarget is a private message to p's IRC nick.
func (t *Transport) DirectTarget(_ context.Context, p bot.Person) (bot.Target, bool) {
	if p.IRCNick == "" {
		return bot.Target{}, false
	}
	return bot.Target{Network: t.net.Name, Room: p.IRCNick, Private: true}, true
}

// NickOf returns the nick of someone logged in to account, as the
// network told the bot (extended-join, WHO, account-notify) about the
// people it shares a channel with; false when nobody seen is. It is what
// a private message that must reach that person and nobody else goes to:
// a nick alone may be held by anyone.
func (t *Transport) NickOf(account string) (string, bool) {
	if account == "" {
		return "", false
	}
	t.mu.Lock()
	s := t.conn
	t.mu.Unlock()
	if s == nil {
		return "", false
	}
	for _, u := range s.c.Users() {
		if a := u.Extras.Account; a != "" && a != "*" && a != "0" && strings.EqualFold(a, account) {
			return u.Nick, true
		}
	}
	return "", false
}
