package irc

import (
	"strconv"
	"strings"
	"time"

	"github.com/lrstanley/girc"

	"github.com/jouncebot/jouncebot/bot"
)

// salPrefix starts the only lines delivered from ignored nicks: relay bots
// carry Server Admin Log entries.
const salPrefix = "!log "

// ctcpInterval is the least time between two CTCP answers, so a CTCP
// flood cannot make the bot flood.
const ctcpInterval = 3 * time.Second

func (s *session) onPrivmsg(e girc.Event, h bot.Handler) {
	if e.Source == nil || len(e.Params) < 2 || e.Echo || s.isMe(e.Source.Name) {
		return
	}
	if girc.DecodeCTCP(&e) != nil {
		return // girc calls onCTCP
	}
	text := StripControl(e.Last())
	if s.ignored(e.Source.Name) && !strings.HasPrefix(text, salPrefix) {
		return
	}
	m := bot.Message{
		ID:      s.messageID(e),
		Network: s.t.net.Name,
		Room:    e.Params[0],
		Nick:    e.Source.Name,
		Account: s.account(e),
		Text:    text,
		Time:    e.Timestamp,
	}
	if s.isMe(e.Params[0]) {
		m.Private, m.Room = true, e.Source.Name
	}
	// Handlers outlive this connection: a reply to a message that arrived
	// just before a disconnect is sent on the next one.
	h.Handle(s.runCtx, &bot.Request{Message: m})
}

func (s *session) ignored(nick string) bool {
	for _, n := range s.t.net.Ignore {
		if rfcEqual(n, nick) {
			return true
		}
	}
	return false
}

// account is the sender's services account. With the account-tag
// capability the server tags every message from a logged-in user, so no tag
// means not logged in; the state tracked from extended-join and
// account-notify is used only when the server does not tag messages.
func (s *session) account(e girc.Event) string {
	if a, ok := e.Tags.Get("account"); ok {
		if a == "*" {
			return ""
		}
		return a
	}
	if s.c.HasCapability("account-tag") {
		return ""
	}
	if u := s.c.LookupUser(e.Source.Name); u != nil {
		if a := u.Extras.Account; a != "*" && a != "0" {
			return a
		}
	}
	return ""
}

func (s *session) messageID(e girc.Event) string {
	if id, ok := e.Tags.Get("msgid"); ok && id != "" {
		return id
	}
	return strconv.FormatUint(s.ids.Add(1), 10)
}

// onCTCP answers VERSION and PING, at most once every few seconds.
func (s *session) onCTCP(ctcp *girc.CTCPEvent) {
	if ctcp.Reply || ctcp.Source == nil {
		return
	}
	var answer string
	switch ctcp.Command {
	case girc.CTCP_VERSION:
		answer = StripControl(s.t.opts.version)
	case girc.CTCP_PING:
		answer = StripControl(ctcp.Text)
		if len(answer) > 64 {
			return // not a ping anyone needs answered
		}
	default:
		return
	}
	s.mu.Lock()
	now := time.Now()
	if now.Sub(s.lastCTCP) < ctcpInterval {
		s.mu.Unlock()
		return
	}
	s.lastCTCP = now
	s.mu.Unlock()
	s.t.control(s, 1, girc.NOTICE, ctcp.Source.Name, girc.EncodeCTCPRaw(ctcp.Command, answer))
}
