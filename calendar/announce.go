package calendar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
)

// Chat is what the announcer needs of the chat side: the announcement
// rooms, ways to send, whether the bot is in a room, and (optionally
// answered) presence questions. *bot.Bot is one.
type Chat interface {
	Rooms() []bot.Target
	Send(ctx context.Context, to bot.Target, t bot.Text) error
	// Deliver returns nil once the network accepted t; key names the
	// notice, so a transport can make a repeat after a restart a no-op
	// (see bot.Deliverer).
	Deliver(ctx context.Context, to bot.Target, t bot.Text, key string) error
	// Joined reports whether the bot is in the room; changed is closed
	// when that may have changed.
	Joined(to bot.Target) (joined bool, changed <-chan struct{})
	InRoom(ctx context.Context, to bot.Target, p bot.Person) (present, known bool)
	DirectTarget(ctx context.Context, network string, p bot.Person) (bot.Target, bool)
}

// Announcer tells people when it is time: a reminder before each window,
// pings to deployers and patch owners at its start, a second ping when
// nobody claimed it, and a closing notice that moves leftover patches on.
//
// Each notice is delivered per room, only once the bot is in the room, and
// counts as sent only once the network accepted it (Chat.Deliver). Its
// state is in the book: "sending" before it goes out, "sent" once
// accepted. A notice refused or not accepted in time, or still "sending"
// when the bot stopped, is sent again, with the same key, so a transport
// that makes repeats of a key a no-op (Matrix) delivers it exactly once.
// Notices that fell due while the bot could not send go out late, marked
// "(late)", only while they still help (the window is open).
type Announcer struct {
	svc      *Service
	chat     Chat
	cfg      *config.Config
	log      *slog.Logger
	reminder time.Duration
	refresh  time.Duration

	wake chan struct{} // a room was joined or a delivery failed: tick again

	readiness func(windowID string) string // the start ping's readiness line

	mu       sync.Mutex
	inflight map[bot.Target]bool       // rooms with a notice being delivered
	then     map[bot.Target][]bot.Text // said to a room while a notice was in flight there, to follow it
	watching map[<-chan struct{}]bool  // Joined change channels waited on
	wg       sync.WaitGroup            // deliveries and watchers
	onSent   func(late bool)
}

// OnSent sets a function called for each notice the network accepted, and
// whether it went out late (for the metrics). Call it before Run.
func (a *Announcer) OnSent(f func(late bool)) { a.onSent = f }

// NewAnnouncer returns an announcer for the service's calendar.
func NewAnnouncer(svc *Service, chat Chat, cfg *config.Config, log *slog.Logger) *Announcer {
	return &Announcer{svc: svc, chat: chat, cfg: cfg, log: log.With("component", "announcer"),
		reminder: *cfg.Calendar.Reminder, refresh: cfg.Calendar.Refresh,
		wake: make(chan struct{}, 1), inflight: map[bot.Target]bool{}, then: map[bot.Target][]bot.Text{}, watching: map[<-chan struct{}]bool{}}
}

// SetReadiness makes the start ping say, per patch, what the window's last
// readiness check found: f returns that line ("" when there is none). Call
// it before Run.
func (a *Announcer) SetReadiness(f func(windowID string) string) { a.readiness = f }

// Notice kinds, in the order they fall due for one window.
const (
	kindReminder = "reminder"
	kindStart    = "start"
	kindUnclaim  = "unclaimed"
	kindEnd      = "end"
)

// unclaimedAfter is how long after a window's start an unclaimed window's
// deployers are pinged again.
const unclaimedAfter = 5 * time.Minute

// notice is one message due at a time for a window.
type notice struct {
	kind string
	due  time.Time
	w    Window
}

// due lists the notices of w in time order.
func (a *Announcer) due(w Window) []notice {
	var out []notice
	if a.reminder > 0 {
		out = append(out, notice{kindReminder, w.Start.Add(-a.reminder), w})
	}
	out = append(out, notice{kindStart, w.Start, w})
	if len(w.Deployers) > 0 && w.Duration() > unclaimedAfter {
		out = append(out, notice{kindUnclaim, w.Start.Add(unclaimedAfter), w})
	}
	return append(out, notice{kindEnd, w.End, w})
}

// Run sends notices as they fall due until ctx is done. It also re-reads
// the wiki calendar on its refresh schedule (robfig/cron) and at each
// window start.
func (a *Announcer) Run(ctx context.Context) error {
	c := cron.New(cron.WithLocation(time.UTC))
	if a.svc.fetcher != nil {
		c.Schedule(cron.Every(a.refresh), cron.FuncJob(func() { a.refreshAndTell(ctx) }))
	}
	c.Start()
	defer func() { <-c.Stop().Done() }()
	defer a.wg.Wait()
	if a.svc.fetcher != nil {
		a.refreshAndTell(ctx)
	}
	for {
		now := a.svc.now()
		next := a.Tick(ctx, now)
		wait := next.Sub(now)
		if wait > time.Minute || next.IsZero() {
			wait = time.Minute
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		case <-a.wake:
			t.Stop()
		}
	}
}

// poke makes Run tick again at once.
func (a *Announcer) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// waitJoin pokes Run when changed is closed: a room the bot was not in
// may now be joined.
func (a *Announcer) waitJoin(ctx context.Context, changed <-chan struct{}) {
	if changed == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.watching[changed] {
		return
	}
	a.watching[changed] = true
	a.wg.Go(func() {
		select {
		case <-changed:
			a.poke()
		case <-ctx.Done():
		}
		a.mu.Lock()
		delete(a.watching, changed)
		a.mu.Unlock()
	})
}

// Tick sends every notice due by now and returns when the next one falls due.
func (a *Announcer) Tick(ctx context.Context, now time.Time) time.Time {
	cal := a.svc.Calendar()
	var next time.Time
	lookback := 24 * time.Hour
	for _, w := range cal.Between(now.Add(-lookback), now.Add(a.reminder+time.Minute)) {
		for _, n := range a.due(w) {
			if n.due.After(now) {
				if next.IsZero() || n.due.Before(next) {
					next = n.due
				}
				continue
			}
			a.deliver(ctx, n, now)
		}
	}
	if n := cal.Next(now.Add(a.reminder)); len(n) > 0 {
		d := n[0].Start.Add(-a.reminder)
		if next.IsZero() || d.Before(next) {
			next = d
		}
	}
	return next
}

// deliver sends one notice to every room that has not had it.
func (a *Announcer) deliver(ctx context.Context, n notice, now time.Time) {
	book := a.svc.book
	late := now.Sub(n.due) > time.Minute
	if n.kind == kindStart && a.svc.fetcher != nil {
		// Re-read the wiki at each window start for late additions.
		key := "refresh|" + n.w.ID + "|" + n.w.End.UTC().Format(time.RFC3339)
		if st, _ := book.NoticeState(key); st == "" {
			book.SetNotice(key, noticeSent)
			a.refreshAndTell(ctx)
			if w, ok := a.svc.Calendar().ByID(n.w.ID); ok {
				n.w = w
			}
		}
	}
	var endText bot.Text
	if n.kind == kindEnd {
		// Say what was done and what is left before the leftovers move on;
		// the state changes happen once, whatever the rooms.
		endText = a.render(ctx, n, bot.Target{}, now)
		defer a.closeWindow(ctx, n.w, now)
	}
	for _, room := range a.chat.Rooms() {
		key := strings.Join([]string{n.kind, n.w.ID, room.Network, room.Room, n.w.End.UTC().Format(time.RFC3339)}, "|")
		state, err := book.NoticeState(key)
		if err != nil {
			a.log.Error("read notice state", "err", err)
			continue
		}
		if state == noticeSent || state == noticeSkipped || a.busy(room) {
			continue // a busy room gets its next notice when the one before is accepted
		}
		if late && !a.worthLate(n, now) {
			book.SetNotice(key, noticeSkipped)
			continue
		}
		if joined, changed := a.chat.Joined(room); !joined {
			a.waitJoin(ctx, changed) // the notice waits for the join
			continue
		}
		text := endText
		if n.kind != kindEnd {
			text = a.render(ctx, n, room, now)
		}
		if len(text) == 0 {
			book.SetNotice(key, noticeSent)
			continue
		}
		if late {
			text = text.Append(bot.T(" (late)"))
		}
		// Recorded before sending: a notice still "sending" after a crash
		// is sent again with the same key, never forgotten.
		if err := book.SetNotice(key, noticeSending); err != nil {
			a.log.Error("record notice", "err", err)
			continue
		}
		a.send(ctx, n, room, key, text, late)
	}
}

// busy reports whether a notice to room is being delivered.
func (a *Announcer) busy(room bot.Target) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inflight[room]
}

// send delivers one notice to one room on its own goroutine, so a network
// that is slow to accept delays no other, and records it sent once the
// network accepted it. A room has one notice in flight at a time, so its
// notices arrive in order; the next goes out as soon as one is accepted.
func (a *Announcer) send(ctx context.Context, n notice, room bot.Target, key string, text bot.Text, late bool) {
	a.mu.Lock()
	a.inflight[room] = true
	a.mu.Unlock()
	a.wg.Go(func() {
		accepted := false
		defer func() {
			// What was said to the room while this notice was in flight
			// follows it, still before any next notice.
			for {
				a.mu.Lock()
				then := a.then[room]
				delete(a.then, room)
				if len(then) == 0 {
					delete(a.inflight, room)
					a.mu.Unlock()
					break
				}
				a.mu.Unlock()
				for _, t := range then {
					a.sendNow(ctx, room, t)
				}
			}
			if accepted {
				a.poke()
			}
		}()
		book := a.svc.book
		if err := a.chat.Deliver(ctx, room, text, key); err != nil {
			if ctx.Err() != nil {
				return // stopping: still "sending", so the next start sends it
			}
			a.log.Warn("notice not delivered; will retry while it is worth sending", "kind", n.kind, "window", n.w.Name, "network", room.Network, "room", room.Room, "err", err)
			book.SetNotice(key, noticeFailed)
			return
		}
		accepted = true
		if a.onSent != nil {
			a.onSent(late)
		}
		if err := book.SetNotice(key, noticeSent); err != nil {
			a.log.Error("record notice sent", "key", key, "err", err)
			return
		}
		a.log.Info("notice delivered", "kind", n.kind, "window", n.w.Name, "network", room.Network, "room", room.Room)
		if n.kind == kindReminder {
			a.checkPresence(ctx, n.w, room)
		}
	})
}

// worthLate says whether a notice that missed its time still helps.
func (a *Announcer) worthLate(n notice, now time.Time) bool {
	switch n.kind {
	case kindReminder:
		return now.Before(n.w.Start)
	case kindEnd:
		return now.Sub(n.w.End) < 10*time.Minute
	}
	return n.w.Contains(now)
}

func (a *Announcer) render(ctx context.Context, n notice, room bot.Target, now time.Time) bot.Text {
	w := n.w
	book := a.svc.book
	queue, _ := book.Queue(w.ID)
	title := bot.B(w.Name)
	switch n.kind {
	case kindReminder:
		out := bot.Join(bot.T("Reminder: "), title, bot.T(" starts in "+HumanDuration(w.Start.Sub(now))+" ("+Span(w, now)+")."))
		if len(w.Deployers) > 0 {
			out = out.Append(bot.T(" Deployers: "), a.mentions(w.Deployers), bot.T("."))
		}
		in, over := Split(w, queue)
		switch {
		case len(over) > 0:
			o, _ := book.Overflow(a.svc.Calendar(), w)
			out = out.Append(bot.T(fmt.Sprintf(" Queued: %s for %s; in this window: %s. ", bot.Count(len(in)+len(over), "patch"), bot.Count(w.MaxPatches, "place"), PatchList(in))), o.Waits(now))
		case len(in) > 0:
			out = out.Append(bot.T(" Queued: " + PatchList(in) + "."))
		case w.Kind == "backport":
			out = out.Append(bot.T(" No patches queued yet."))
		}
		return a.withFreeze(out, now)
	case kindStart:
		var out bot.Text
		if len(w.Deployers) > 0 {
			out = bot.Join(a.mentions(w.Deployers), bot.T(": Respected humans, it's time for "), title, bot.T("."))
		} else {
			out = bot.Join(bot.T("It's time for "), title, bot.T("."))
		}
		if w.URL != "" {
			out = out.Append(bot.T(" "), bot.L(w.URL, w.URL))
		}
		out = a.withFreeze(out, now)
		in, over := Split(w, queue)
		switch {
		case len(over) > 0:
			o, _ := book.Overflow(a.svc.Calendar(), w)
			out = out.Append(bot.T("\n"), a.to(owners(in), bot.Join(bot.T("A patch you scheduled for "), title,
				bot.T(" is about to be deployed ("+PatchList(in)+"). Please be around during the process."))),
				bot.T("\n"), a.to(owners(over), o.Waits(now)))
		case len(in) > 0:
			out = out.Append(bot.T("\n"), a.to(owners(in), bot.Join(bot.T("A patch you scheduled for "), title, bot.T(" is about to be deployed. Please be around during the process."))))
		case w.Kind == "backport":
			out = out.Append(bot.T("\nNo Gerrit patches in the queue for this window AFAICS."))
		}
		if a.readiness != nil && len(in) > 0 {
			if line := a.readiness(w.ID); line != "" {
				out = out.Append(bot.T("\n" + line))
			}
		}
		return out
	case kindUnclaim:
		claims, _ := book.Claims()
		if _, ok := claims[w.ID]; ok {
			return nil
		}
		return bot.Join(a.mentions(w.Deployers), bot.T(": nobody has claimed "), title, bot.T(" yet. If you are deploying, say \"jouncebot: claim\"."))
	case kindEnd:
		left := len(Pending(queue))
		deployed := len(queue) - left
		if len(queue) == 0 {
			return bot.Join(title, bot.T(" is over."))
		}
		out := bot.Join(title, bot.T(fmt.Sprintf(" is over: %s deployed", bot.Count(deployed, "patch"))))
		if left > 0 {
			out = out.Append(bot.T(fmt.Sprintf(", %s not deployed", bot.Count(left, "patch"))))
		}
		return out.Append(bot.T("."))
	}
	return nil
}

func (a *Announcer) withFreeze(t bot.Text, now time.Time) bot.Text {
	if f, ok := a.svc.ActiveFreeze(now); ok {
		return t.Append(bot.T(" "), FreezeNotice(f))
	}
	return t
}

// FreezeNotice describes an active freeze.
func FreezeNotice(f Freeze) bot.Text {
	return bot.Join(bot.B("Deployment freeze"), bot.T(" until "+f.To.UTC().Format("Mon 2 Jan 15:04")+" UTC: "+f.Reason+". Deploys need the out-of-window override."))
}

// closeWindow runs once at a window's end: releases its claim and moves
// (or drops) the patches not deployed, telling their owners.
func (a *Announcer) closeWindow(ctx context.Context, w Window, now time.Time) {
	book := a.svc.book
	key := "close|" + w.ID + "|" + w.End.UTC().Format(time.RFC3339)
	if st, _ := book.NoticeState(key); st != "" {
		return
	}
	book.SetNotice(key, noticeSent)
	book.ReleaseClaim(w.ID, "calendar", now)
	cal := a.svc.Calendar()
	to := ""
	var dst Window
	if a.svc.leftovers == "move" {
		after := w.End.Add(-time.Nanosecond)
		if now.After(after) {
			after = now
		}
		if next, ok := book.NextWithRoom(cal, w, after); ok {
			to, dst = next.ID, next
		}
	}
	moved, err := book.MoveLeftovers(w.ID, to, now)
	if err != nil {
		a.log.Error("move leftovers", "window", w.ID, "err", err)
		return
	}
	if len(moved) == 0 {
		return
	}
	var msg bot.Text
	for i, p := range moved {
		if i > 0 {
			msg = msg.Append(bot.T("\n"))
		}
		owner := a.person(p.Owner)
		if to != "" {
			msg = msg.Append(bot.M(owner), bot.T(fmt.Sprintf(": your patch %d was not deployed in ", p.Change)), bot.B(w.Name), bot.T("; it is now queued for "), bot.B(dst.Name), bot.T(" ("+Span(dst, now)+")."))
		} else {
			msg = msg.Append(bot.M(owner), bot.T(fmt.Sprintf(": your patch %d was not deployed in ", p.Change)), bot.B(w.Name), bot.T(" and was dropped from the queue; add it again when you are ready."))
		}
	}
	for _, room := range a.chat.Rooms() {
		a.after(ctx, room, msg)
	}
}

// after sends t to room once the notice in flight there, if any, is
// delivered (the window's closing summary before its leftovers), else at
// once.
func (a *Announcer) after(ctx context.Context, room bot.Target, t bot.Text) {
	a.mu.Lock()
	if a.inflight[room] {
		a.then[room] = append(a.then[room], t)
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()
	a.sendNow(ctx, room, t)
}

func (a *Announcer) sendNow(ctx context.Context, room bot.Target, t bot.Text) {
	if err := a.chat.Send(ctx, room, t); err != nil {
		a.log.Warn("leftover notice not delivered", "err", err)
	}
}

// checkPresence sends a private message to owners of queued patches who
// are not in the room at reminder time.
func (a *Announcer) checkPresence(ctx context.Context, w Window, room bot.Target) {
	queue, _ := a.svc.book.Queue(w.ID)
	for _, p := range Pending(queue) {
		person := a.person(p.Owner)
		present, known := a.chat.InRoom(ctx, room, person)
		if !known || present {
			continue
		}
		to, ok := a.chat.DirectTarget(ctx, room.Network, person)
		if !ok {
			continue
		}
		msg := bot.T(fmt.Sprintf("Your patch %d is queued for %s, which starts in %s in %s; please be around to test it.", p.Change, w.Name, HumanDuration(w.Start.Sub(a.svc.now())), room.Room))
		if err := a.chat.Send(ctx, to, msg); err != nil {
			a.log.Warn("presence message not delivered", "err", err)
		}
	}
}

// owners lists the owners of patches, once each; patches whose owner is
// not known (a placeholder on the wiki and no answer from Gerrit) have none.
func owners(q []Patch) []string {
	var out []string
	for _, p := range q {
		if p.Owner != "" {
			out = appendNew(out, p.Owner)
		}
	}
	return out
}

// to addresses msg to the named people, or to nobody in particular.
func (a *Announcer) to(names []string, msg bot.Text) bot.Text {
	if len(names) == 0 {
		return msg
	}
	return bot.Join(a.mentions(names), bot.T(": "), msg)
}

func (a *Announcer) mentions(names []string) bot.Text {
	parts := make([]bot.Text, len(names))
	for i, n := range names {
		parts[i] = bot.M(a.person(n))
	}
	return bot.JoinList(parts)
}

func (a *Announcer) person(name string) bot.Person { return PersonFor(a.cfg, name) }

// PersonFor maps a name from config or a wiki nick to whom to mention.
func PersonFor(cfg *config.Config, name string) bot.Person {
	p := cfg.PersonByName(name)
	if p == nil {
		p = cfg.PersonByIRCAccount(name)
	}
	if p == nil {
		for i := range cfg.People {
			if strings.EqualFold(cfg.People[i].IRCNick, name) {
				p = &cfg.People[i]
			}
		}
	}
	if p == nil {
		return bot.Person{Name: name, IRCNick: name}
	}
	return bot.Person{Name: p.Name, IRCNick: p.Nick(), MatrixID: p.MatrixID}
}

// PatchList names patches with their owners: "1 (a), 2 (b), and 3 (c)".
func PatchList(q []Patch) string {
	var parts []string
	for _, p := range q {
		parts = append(parts, patchName(p.Change, p.Owner))
	}
	return bot.JoinNames(parts)
}

// refreshAndTell re-reads the wiki and tells the rooms once when reading
// starts failing and once when it recovers, and flags windows newly over
// their limit. When the bot is shutting down nothing is recorded or said.
func (a *Announcer) refreshAndTell(ctx context.Context) {
	rep, err := a.svc.refresh(ctx)
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return
	}
	book := a.svc.book
	state, _ := book.NoticeState("wiki-health")
	var msgs []bot.Text
	var rerr *RefreshError
	switch {
	case errors.As(err, &rerr):
		a.log.Warn("calendar refresh failed", "err", err)
		if state != "failing" {
			book.SetNotice("wiki-health", "failing")
			msgs = append(msgs, bot.T(rerr.Sentence(a.svc.now())+" I will tell you when it works again."))
		}
	case err != nil:
		a.log.Error("calendar refresh failed", "err", err)
	case state == "failing":
		book.SetNotice("wiki-health", "ok")
		msgs = append(msgs, bot.T("I can read the deployment calendar page again; the calendar is up to date."))
	}
	if rep != nil {
		for _, o := range rep.Over {
			msgs = append(msgs, o.Text(a.svc.now()))
		}
	}
	for _, msg := range msgs {
		for _, room := range a.chat.Rooms() {
			if err := a.chat.Send(ctx, room, msg); err != nil {
				a.log.Warn("calendar notice not delivered", "err", err)
			}
		}
	}
}
