package irc

import (
	"fmt"
	"time"

	"github.com/lrstanley/girc"
)

// The bot must be logged in to its services account: without it, it loses
// its nick protection and any channel access that needs the account. When
// the server is back before its services (they restart separately, or link
// late), SASL is not offered, registration completes without the account,
// and nothing would ever log the bot in; services that hang never answer
// a SASL login at all (saslWatch). So a session that is welcomed
// without its account says so (log and Status) and tries again: a NickServ
// IDENTIFY for SASL PLAIN (a 401 while services are away), or SASL after
// registration (CAP REQ sasl, which girc completes) for EXTERNAL, with
// growing pauses; after accountTries it reconnects, to log in with SASL at
// registration.

// Account retry schedule: the first try after accountRetry, doubling up to
// 30 s, accountTries tries (about four minutes), then a reconnect.
const (
	accountTries    = 10
	accountRetryMax = 30 * time.Second
)

// WithAccountRetry sets the pause before the first try to log in to
// services after a registration without the account.
func WithAccountRetry(d time.Duration) Option { return func(o *options) { o.accountRetry = d } }

func (s *session) onLoggedIn(e girc.Event) {
	account := ""
	if len(e.Params) >= 3 {
		account = StripControl(e.Params[2])
	}
	s.mu.Lock()
	s.loggedIn = true
	recovering := s.welcomed
	nick := s.curNick
	s.mu.Unlock()
	if recovering {
		s.t.log.Info("logged in to services after registration", "account", account)
		s.t.setStatus("connected to %s as %s", s.t.net.Server, nick)
		return
	}
	s.t.log.Info("logged in to services", "account", account)
}

func (s *session) onLoggedOut(girc.Event) {
	s.mu.Lock()
	s.loggedIn = false
	s.mu.Unlock()
	s.t.log.Warn("logged out of services")
}

func (s *session) isLoggedIn() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loggedIn
}

// checkAccount runs at the welcome: it warns and starts the recovery when
// SASL is configured and the login did not happen.
func (s *session) checkAccount(nick string) {
	sasl := s.t.net.SASL
	if sasl == nil || s.isLoggedIn() {
		return
	}
	s.t.log.Warn("registered without the services account (SASL was not offered or not answered; services may be away); will keep trying to log in",
		"account", s.t.saslUser(), "mechanism", sasl.Mechanism)
	s.t.setStatus("connected to %s as %s, but not logged in to services (account %s); trying to log in", s.t.net.Server, nick, s.t.saslUser())
	go s.recoverAccount()
}

// recoverAccount tries to log in until it works, the connection ends, or
// it gives up and reconnects.
func (s *session) recoverAccount() {
	delay := s.t.opts.accountRetry
	for try := 1; try <= accountTries; try++ {
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(delay):
		}
		if s.isLoggedIn() {
			return
		}
		s.tryLogin(try)
		delay = min(delay*2, accountRetryMax)
	}
	select {
	case <-s.ctx.Done():
		return
	case <-time.After(delay):
	}
	if !s.isLoggedIn() {
		s.t.log.Warn("still not logged in to services; reconnecting to log in with SASL", "tries", accountTries)
		s.setReason(fmt.Sprintf("not logged in to services after %d tries; reconnecting to log in with SASL", accountTries))
		s.dialer.close()
	}
}

func (s *session) tryLogin(try int) {
	sasl := s.t.net.SASL
	if sasl.Mechanism != "EXTERNAL" && sasl.Password.Value() != "" {
		s.t.log.Info("trying to log in to services with NickServ IDENTIFY", "try", try)
		s.t.control(s, 1, girc.PRIVMSG, "NickServ", "IDENTIFY "+sasl.Username+" "+sasl.Password.Value())
		return
	}
	s.t.log.Info("trying to log in to services with SASL", "try", try)
	s.t.control(s, 1, girc.CAP, girc.CAP_REQ, "sasl")
}

// WithSASLTimeout sets how long a SASL login during registration may go
// unanswered (default 15 s). Services that go away in the middle of one
// (they restart, or hang) never answer, and the server would hold the
// registration until its own timeout.
func WithSASLTimeout(d time.Duration) Option { return func(o *options) { o.saslTimeout = d } }

// saslWatch gives up a SASL login that gets no answer: it closes the
// connection, and the next one registers without SASL and logs in
// afterwards (girc cannot abort a SASL exchange without disconnecting).
func (s *session) saslWatch() {
	if s.t.net.SASL == nil || s.noSASL {
		return
	}
	timer := time.NewTimer(s.t.opts.saslTimeout)
	defer timer.Stop()
	select {
	case <-s.ctx.Done():
		return
	case <-s.registered:
		return
	case <-timer.C:
	}
	s.t.log.Warn("no answer to the SASL login; reconnecting to register without it", "waited", s.t.opts.saslTimeout)
	s.mu.Lock()
	s.saslSilent = true
	s.mu.Unlock()
	s.setReason(fmt.Sprintf("services did not answer the SASL login within %s", s.t.opts.saslTimeout))
	s.dialer.close()
}
