package app

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/bot/console"
	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/commands"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy"
)

// What stays private: anything that names a local security patch (a
// commit in staging that is not upstream), an uncommitted change in
// staging, a change marked private in Gerrit (is_private), or their
// files. The deploy engine and the readiness check decide it from those
// facts and keep such details apart (a Failure's Private, a Finding's
// Private, an EventSecurity; a private change's subject is
// gerrit.PrivateSubject everywhere); every public text says only the
// neutral sentence. sendSecurity is the one exit for the details.

// sendSecurity sends details naming a local security patch only to the
// security destination: its private rooms and, when asked for
// (private_message) or when no room is configured, a private message to
// the deployer of ev, else (a readiness check) to every deployer.
func (a *App) sendSecurity(ctx context.Context, ev deploy.Event) {
	a.sendPrivately(ctx, ev, nil)
}

// sendPrivately is sendSecurity that also answers member, a member of the
// security destination who asked (check), privately (see tellSender).
func (a *App) sendPrivately(ctx context.Context, ev deploy.Event, member *commands.Call) {
	sec := a.cfg.Security
	for _, r := range sec.Rooms {
		network, room, _ := strings.Cut(r, "/")
		if err := a.bot.Send(ctx, bot.Target{Network: network, Room: room}, ev.Text); err != nil {
			a.log.Warn("security details not sent", "room", r, "err", err)
		}
	}
	var to []string
	if member != nil {
		a.tellSender(ctx, member, ev.Text)
	}
	if len(sec.Rooms) == 0 || sec.PrivateMessage {
		switch {
		case ev.By.Name != "" && (ev.By.Deployer || ev.By.Admin):
			to = append(to, ev.By.Name)
		case len(sec.Rooms) == 0:
			for _, p := range a.cfg.People {
				if p.Has(config.RoleDeployer) {
					to = append(to, p.Name)
				}
			}
		}
	}
	network, _, _ := strings.Cut(ev.Origin, "\t")
	seen := map[string]bool{}
	if member != nil {
		seen[member.Person.Name] = true // answered where they asked
	}
	for _, name := range to {
		if !seen[name] {
			seen[name] = true
			a.tellPrivately(ctx, network, calendar.PersonFor(a.cfg, name), ev.Text)
		}
	}
}

// tellPrivately sends t in a private message to p: on network first, else
// on the first network that can reach them. On IRC it goes to the nick
// logged in to their account, never to the nick the people list gives
// them, which a stranger may hold; not seen logged in, not sent there.
func (a *App) tellPrivately(ctx context.Context, network string, p bot.Person, t bot.Text) {
	networks := []string{network}
	accounts := map[string]interface{ NickOf(string) (string, bool) }{}
	for _, n := range a.bot.Transports() {
		networks = append(networks, n.Network())
		if r, ok := n.(interface{ NickOf(string) (string, bool) }); ok {
			accounts[n.Network()] = r
		}
	}
	for _, n := range networks {
		if n == "" {
			continue
		}
		who := p
		if r, ok := accounts[n]; ok {
			cp := a.cfg.PersonByName(p.Name)
			nick, seen := "", false
			if cp != nil {
				nick, seen = r.NickOf(cp.IRCAccount)
			}
			if !seen {
				continue
			}
			who.IRCNick = nick
		}
		to, ok := a.bot.DirectTarget(ctx, n, who)
		if !ok {
			continue
		}
		if err := a.bot.Send(ctx, to, t); err != nil {
			a.log.Warn("security details not sent", "to", p.Name, "network", n, "err", err)
			continue
		}
		return
	}
	a.log.Warn("security details not sent: no private message reaches them", "to", p.Name)
}

// sender is the person who sent c as they are reachable on c's network
// now: the nick they asked from (logged in to their account) and their
// Matrix id, never the nick the people list gives them, which a stranger
// may hold.
func sender(c *commands.Call) bot.Person {
	return bot.Person{Name: c.Person.Name, IRCNick: c.Nick, MatrixID: c.Account}
}

// tellSender sends t in a private message to the sender of c, on the
// network they asked from.
func (a *App) tellSender(ctx context.Context, c *commands.Call, t bot.Text) {
	to, ok := a.bot.DirectTarget(ctx, c.Network, sender(c))
	if !ok {
		a.log.Warn("security details not sent: no private message reaches the asker", "to", c.Person.Name, "network", c.Network)
		return
	}
	if err := a.bot.Send(ctx, to, t); err != nil {
		a.log.Warn("security details not sent", "to", c.Person.Name, "network", c.Network, "err", err)
	}
}

// securityMember reports whether the authenticated sender of c is a
// member of the security destination: in one of its rooms, or, with none
// configured, a deployer. Presence counts by the nick they asked from on
// their own network, and by Matrix id elsewhere (an IRC nick on another
// network proves nothing).
func (a *App) securityMember(ctx context.Context, c *commands.Call) bool {
	p := c.Person
	if p == nil || !c.Identified() {
		return false
	}
	if len(a.cfg.Security.Rooms) == 0 {
		return p.Has(config.RoleDeployer) || p.Has(config.RoleAdmin)
	}
	for _, r := range a.cfg.Security.Rooms {
		network, room, _ := strings.Cut(r, "/")
		who := sender(c)
		if network != c.Network {
			who = bot.Person{Name: p.Name, MatrixID: p.MatrixID}
		}
		if in, known := a.bot.InRoom(ctx, bot.Target{Network: network, Room: room}, who); in && known {
			return true
		}
	}
	return false
}

// NoSecurityRoom is the startup warning in the channels when security
// details can only go to deployers privately.
const NoSecurityRoom = "No private security room is configured (security.rooms), so security details will go to deployers privately."

// warnNoSecurityRoom says NoSecurityRoom in every announcement room once
// the bot is in it, when deploys are on and no security room is
// configured. The console is already private.
func (a *App) warnNoSecurityRoom(ctx context.Context, wg *sync.WaitGroup) {
	if a.cfg.SecurityWarning() == "" {
		return
	}
	for _, room := range a.bot.Rooms() {
		if room.Network == console.Network {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				joined, changed := a.bot.Joined(room)
				if joined {
					break
				}
				select {
				case <-ctx.Done():
					return
				case <-changed:
				}
			}
			if err := a.bot.Send(ctx, room, bot.T(NoSecurityRoom)); err != nil {
				a.log.Warn("warning about the missing security room not sent", "room", room.Room, "err", err)
			}
		}()
	}
}

// resendAfter is how long the same details are not sent to the security
// destination again.
const resendAfter = time.Hour

// sentDetails remembers which details went to the security destination
// lately, so that anyone repeating check does not repeat them there (a
// member who asks still gets them privately).
type sentDetails struct {
	mu   sync.Mutex
	sent map[string]time.Time
}

// fresh reports whether text was not sent within resendAfter of now, and
// records it as sent now if so.
func (s *sentDetails) fresh(text string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at, ok := s.sent[text]; ok && now.Sub(at) < resendAfter && !now.Before(at) {
		return false
	}
	if s.sent == nil {
		s.sent = map[string]time.Time{}
	}
	for t, at := range s.sent { // forget the old ones
		if now.Sub(at) >= resendAfter {
			delete(s.sent, t)
		}
	}
	s.sent[text] = now
	return true
}
