package commands

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/prepare"
)

// Schedule is the calendar as the window commands need it.
type Schedule interface {
	Calendar() *calendar.Calendar
	Rebuild() *calendar.Calendar
	Book() *calendar.Book
	ActiveFreeze(t time.Time) (calendar.Freeze, bool)
	Freezes() []calendar.Freeze
}

// ChangeChecker validates a change before it is queued (e.g. in Gerrit).
// It returns the Gerrit owner's username, or a UserError.
type ChangeChecker interface {
	CheckChange(ctx context.Context, change int) (owner string, err error)
}

// WindowOptions configure the window commands.
type WindowOptions struct {
	Schedule Schedule
	Now      func() time.Time
	// Checker validates changes; nil means no validation.
	Checker ChangeChecker
	// Person maps a person's name to whom to mention.
	Person func(name string) bot.Person
	// Owner maps a Gerrit username to a person's name ("" when unknown).
	Owner func(gerritUser string) string
	// ChangeURL is the configured Gerrit's page of a change; links to
	// another Gerrit host are refused. nil accepts any host.
	ChangeURL func(n int) string
}

// ClaimTriggers are the customary phrases that claim or release a window.
var ClaimTriggers = []Trigger{
	{Pattern: regexp.MustCompile(`(?i)^\s*i\s+can\s+(do\s+the\s+)?deploy(s|ing)?(\s+today)?\s*[!.]*\s*$`), Command: "claim"},
	{Pattern: regexp.MustCompile(`(?i)^!log\b.*\bdeploys?\s+(are\s+)?done\b`), Command: "release"},
}

// Notes returns per-window remarks for now/next: claims and queue sizes,
// and the patches beyond a window's limit.
func Notes(s Schedule) calendar.Notes {
	return func(w calendar.Window) []string {
		var out []string
		claims, _ := s.Book().Claims()
		if c, ok := claims[w.ID]; ok {
			out = append(out, "claimed by "+c.Person)
		}
		q, _ := s.Book().Queue(w.ID)
		if n := len(calendar.Pending(q)); n > 0 || w.Kind == "backport" {
			out = append(out, queueNote(s, w))
		}
		return out
	}
}

// queueNote says how full a window's queue is: "no patches queued", "3
// queued", "4/6 queued", or "7/6 queued: 445120 (dave) waits for X (id)".
func queueNote(s Schedule, w calendar.Window) string {
	q, _ := s.Book().Queue(w.ID)
	n := len(calendar.Pending(q))
	switch {
	case n == 0 && w.MaxPatches == 0:
		return "no patches queued"
	case w.MaxPatches == 0:
		return fmt.Sprintf("%d queued", n)
	}
	note := fmt.Sprintf("%d/%d queued", n, w.MaxPatches)
	o, over := s.Book().Overflow(s.Calendar(), w)
	if !over {
		return note
	}
	note += ", over the limit: " + calendar.PatchList(o.Over)
	wait := "wait"
	if len(o.Over) == 1 {
		wait = "waits"
	}
	if o.HasNext {
		return note + " " + wait + " for " + o.Next.Name + " (id " + o.Next.Short + ")"
	}
	return note + " with no later " + w.Kind + " window with room"
}

// FreezeBanner returns the active freeze notice for now/next answers.
func FreezeBanner(s Schedule) func(time.Time) bot.Text {
	return func(now time.Time) bot.Text {
		if f, ok := s.ActiveFreeze(now); ok {
			return calendar.FreezeNotice(f)
		}
		return nil
	}
}

// WindowCommands returns claim, release, add, remove, queue, window,
// windows, freeze, unfreeze and freezes.
func WindowCommands(o WindowOptions) []Command {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Person == nil {
		o.Person = func(name string) bot.Person { return bot.Person{Name: name, IRCNick: name} }
	}
	w := &windowCmds{WindowOptions: o}
	return []Command{
		{Name: "claim", Usage: "claim [window]", Help: "Claims the open (or next) window: you are deploying it. Also: \"I can deploy today\".", Perm: Deployer, MaxArgs: -1, Run: w.claim},
		{Name: "release", Aliases: []string{"unclaim"}, Usage: "release", Help: "Releases your claim; the rest of the window is free.", Perm: Deployer, MaxArgs: -1, Run: w.release},
		{Name: "add", Usage: "add <change> [to <window>]", Help: "Queues a Gerrit change for a backport window (the open or next one by default).", Perm: Owner, MinArgs: 1, MaxArgs: -1, Run: w.add},
		{Name: "remove", Usage: "remove <change>", Help: "Takes a change out of its window's queue.", Perm: Owner, MinArgs: 1, MaxArgs: 1, Run: w.remove},
		{Name: "queue", Usage: "queue [window]", Help: "Shows a window's patch queue (the open or next backport window by default).", MaxArgs: -1, Run: w.queue},
		{Name: "windows", Usage: "windows [today|tomorrow|week|next week|<weekday>|<YYYY-MM-DD>]", Help: "Lists the windows of a day or a week with their short ids, times, kinds, deployers and queues.", MaxArgs: 2, Run: w.list},
		{Name: "window", Usage: `window add "<name>" <start> <duration> [kind] | window cancel <id> [reason]`, Help: "Adds a one-off window (start like 2026-12-01T14:00Z, duration like 1h) or cancels one.", Perm: Deployer, MinArgs: 2, MaxArgs: -1, Run: w.window},
		{Name: "freeze", Usage: "freeze <from> <to> <reason>", Help: "Adds a deployment freeze (times like 2026-12-21 or 2026-12-21T18:00Z).", Perm: Deployer, MinArgs: 3, MaxArgs: -1, Run: w.freeze},
		{Name: "unfreeze", Usage: "unfreeze <id>", Help: "Lifts a freeze added in chat.", Perm: Deployer, MinArgs: 1, MaxArgs: 1, Run: w.unfreeze},
		{Name: "freezes", Usage: "freezes", Help: "Lists current and coming freezes.", MaxArgs: 0, Run: w.freezes},
	}
}

type windowCmds struct{ WindowOptions }

// claimable finds the window a claim or release is about: the one named,
// else an open window (backport first), else the next one within 3 hours.
func (w *windowCmds) claimable(c *Call, now time.Time) (calendar.Window, error) {
	cal := w.Schedule.Calendar()
	if len(c.Args) > 0 {
		return findWindow(cal, strings.Join(c.Args, " "), now)
	}
	active := cal.Active(now)
	for _, win := range active {
		if win.Kind == "backport" {
			return win, nil
		}
	}
	if len(active) > 0 {
		return active[0], nil
	}
	if next := cal.Next(now); len(next) > 0 && next[0].Start.Sub(now) <= 3*time.Hour {
		return next[0], nil
	}
	return calendar.Window{}, Errorf("No window is open or starting in the next 3 hours; name one: \"claim <window id>\" (see \"windows\").")
}

func (w *windowCmds) claim(ctx context.Context, c *Call) (bot.Text, error) {
	now := w.Now()
	win, err := w.claimable(c, now)
	if err != nil {
		return nil, err
	}
	got, err := w.Schedule.Book().SetClaim(calendar.Claim{WindowID: win.ID, Person: c.Person.Name, At: now})
	var taken *calendar.ErrClaimed
	if errors.As(err, &taken) {
		return nil, Errorf("%s already claimed %s at %s UTC; ask them, or wait for \"release\".", taken.Claim.Person, win.Name, taken.Claim.At.UTC().Format("15:04"))
	}
	if err != nil {
		return nil, err
	}
	if !got.At.Equal(now) {
		return bot.Join(bot.T("You already claimed "), bot.B(win.Name), bot.T(".")), nil
	}
	return bot.Join(bot.T("Noted: "+c.Person.Name+" is deploying "), bot.B(win.Name), bot.T(" ("+calendar.Span(win, now)+"). Say \"release\" when you are done.")), nil
}

func (w *windowCmds) release(ctx context.Context, c *Call) (bot.Text, error) {
	now := w.Now()
	claims, err := w.Schedule.Book().Claims()
	if err != nil {
		return nil, err
	}
	cal := w.Schedule.Calendar()
	for id, cl := range claims {
		if cl.Person != c.Person.Name {
			continue
		}
		win, ok := cal.ByID(id)
		if !ok || win.End.Before(now) {
			continue
		}
		if _, err := w.Schedule.Book().ReleaseClaim(id, c.Person.Name, now); err != nil {
			return nil, err
		}
		rest := "the rest of the window is free."
		if now.Before(win.Start) {
			rest = "the window is free again."
		}
		return bot.Join(bot.T(c.Person.Name+" released "), bot.B(win.Name), bot.T("; "+rest)), nil
	}
	if strings.HasPrefix(strings.ToLower(c.Text), "!log") {
		return nil, nil // a "deploys done" log line with nothing to release
	}
	return nil, Errorf("You have not claimed an open or coming window, so there is nothing to release.")
}

// ParseChange reads a Gerrit change number, bare or as a URL, with the
// deploy engine's parser, so the queue accepts exactly what deploy does.
func ParseChange(s string) (int, error) {
	ref, err := prepare.ParseChange(s)
	if err != nil {
		return 0, Errorf("%s is not a change number or a Gerrit change URL.", Quote(s))
	}
	return ref.Number, nil
}

// change reads a change number or a link to the configured Gerrit; a
// link to another host names 445113 there, not ours, and is refused.
func (w *windowCmds) change(s string) (int, error) {
	n, err := ParseChange(s)
	if err != nil || w.ChangeURL == nil {
		return n, err
	}
	ref, _ := prepare.ParseChange(s)
	if msg := ref.OtherGerrit(s, w.ChangeURL(n)); msg != "" {
		return 0, Errorf("%s", msg)
	}
	return n, nil
}

func (w *windowCmds) add(ctx context.Context, c *Call) (bot.Text, error) {
	now := w.Now()
	change, err := w.change(c.Args[0])
	if err != nil {
		return nil, err
	}
	cal := w.Schedule.Calendar()
	var win calendar.Window
	explicit := len(c.Args) > 1
	if explicit {
		ref := c.Args[1:]
		if strings.EqualFold(ref[0], "to") {
			ref = ref[1:]
		}
		if len(ref) == 0 {
			return nil, Errorf("Usage: add <change> [to <window>]")
		}
		if win, err = findWindow(cal, strings.Join(ref, " "), now); err != nil {
			return nil, err
		}
	} else if win, err = defaultBackport(cal, now); err != nil {
		return nil, err
	}
	owner := c.Person.Name
	if w.Checker != nil {
		gerritOwner, err := w.Checker.CheckChange(ctx, change)
		if err != nil {
			return nil, err
		}
		// The change's owner is who gets pinged, when we know them.
		if w.Owner != nil {
			if name := w.Owner(gerritOwner); name != "" {
				owner = name
			}
		}
	}
	err = w.Schedule.Book().Enqueue(win.ID, win.MaxPatches, calendar.Patch{Change: change, Owner: owner, By: c.Person.Name, At: now})
	var queued *calendar.ErrQueued
	switch {
	case errors.As(err, &queued):
		other, _ := cal.ByID(queued.WindowID)
		return nil, Errorf("Change %d is already queued for %s; \"remove %d\" first to move it.", change, nameOr(other, queued.WindowID), change)
	case errors.Is(err, calendar.ErrFull):
		msg := fmt.Sprintf("%s is full (%d of %s).", win.Name, win.MaxPatches, bot.Count(win.MaxPatches, "patch"))
		if next, ok := w.Schedule.Book().NextWithRoom(cal, win, win.Start); ok {
			msg += fmt.Sprintf(" The next %s window with room is %s (%s); say \"add %d to %s\".", win.Kind, next.Name, calendar.Span(next, now), change, next.Short)
		} else {
			msg += " There is no later window of this kind with room in the calendar."
		}
		return nil, Errorf("%s", msg)
	case err != nil:
		return nil, err
	}
	q, _ := w.Schedule.Book().Queue(win.ID)
	n := len(calendar.Pending(q))
	count := bot.Count(n, "patch") + " queued"
	if win.MaxPatches > 0 {
		count = fmt.Sprintf("%d of %s queued", n, bot.Count(win.MaxPatches, "patch"))
	}
	return bot.Join(bot.T(fmt.Sprintf("Queued change %d for ", change)), bot.B(win.Name), bot.T(fmt.Sprintf(" (%s); %s.", calendar.Span(win, now), count))), nil
}

func nameOr(w calendar.Window, id string) string {
	if w.Name != "" {
		return w.Name
	}
	return id
}

// defaultBackport is the open backport window, else the next one.
func defaultBackport(cal *calendar.Calendar, now time.Time) (calendar.Window, error) {
	for _, w := range cal.Active(now) {
		if w.Kind == "backport" {
			return w, nil
		}
	}
	if w, ok := cal.NextOfKind(now, "backport"); ok {
		return w, nil
	}
	return calendar.Window{}, Errorf("There is no backport window in the calendar; name a window: \"add <change> to <window id>\".")
}

// findWindow resolves a window reference: an id (the short one "windows"
// shows, the wiki's 20270308T1400 or deploycal-item-20270308T1400, or the
// full config id), "now", "next", or words of a name (the next window whose
// name contains them).
func findWindow(cal *calendar.Calendar, ref string, now time.Time) (calendar.Window, error) {
	ref = strings.TrimSpace(ref)
	if w, ok := cal.ByID(ref); ok {
		return w, nil
	}
	switch strings.ToLower(ref) {
	case "now":
		if a := cal.Active(now); len(a) > 0 {
			return a[0], nil
		}
		return calendar.Window{}, Errorf("No window is open now.")
	case "next":
		if n := cal.Next(now); len(n) > 0 {
			return n[0], nil
		}
		return calendar.Window{}, Errorf("No window is coming up.")
	}
	words := strings.Fields(strings.ToLower(ref))
	for _, w := range cal.Between(now, cal.End()) {
		name := strings.ToLower(w.Name)
		if !slices.ContainsFunc(words, func(word string) bool { return !strings.Contains(name, word) }) {
			return w, nil
		}
	}
	return calendar.Window{}, Errorf("I know no coming window called %s; \"windows week\" or \"windows 2027-03-08\" lists windows with their ids.", Quote(ref))
}

func (w *windowCmds) remove(ctx context.Context, c *Call) (bot.Text, error) {
	now := w.Now()
	change, err := w.change(c.Args[0])
	if err != nil {
		return nil, err
	}
	book := w.Schedule.Book()
	// Owners remove their own patches; deployers any.
	if !c.Person.Has("deployer") {
		cal := w.Schedule.Calendar()
		for _, win := range cal.Between(now.Add(-24*time.Hour), cal.End()) {
			q, _ := book.Queue(win.ID)
			for _, p := range q {
				if p.Change == change && !p.Deployed && w.Person(p.Owner).Name != c.Person.Name && p.By != c.Person.Name {
					return nil, Errorf("Change %d was queued by %s; only they or a deployer can remove it.", change, p.By)
				}
			}
		}
	}
	id, _, ok, err := book.Dequeue(change, c.Person.Name, now)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, Errorf("Change %d is not queued for any window.", change)
	}
	win, _ := w.Schedule.Calendar().ByID(id)
	return bot.Join(bot.T(fmt.Sprintf("Removed change %d from ", change)), bot.B(nameOr(win, id)), bot.T(".")), nil
}

func (w *windowCmds) queue(ctx context.Context, c *Call) (bot.Text, error) {
	now := w.Now()
	cal := w.Schedule.Calendar()
	var win calendar.Window
	var err error
	if len(c.Args) > 0 {
		win, err = findWindow(cal, strings.Join(c.Args, " "), now)
	} else {
		win, err = defaultBackport(cal, now)
	}
	if err != nil {
		return nil, err
	}
	q, err := w.Schedule.Book().Queue(win.ID)
	if err != nil {
		return nil, err
	}
	out := bot.Join(bot.B(win.Name), bot.T(" ("+calendar.Span(win, now)+"), id "+win.Short))
	if len(q) == 0 {
		return out.Append(bot.T(": no patches queued.")), nil
	}
	limit := ""
	if win.MaxPatches > 0 {
		limit = fmt.Sprintf(" for %s", bot.Count(win.MaxPatches, "place"))
	}
	out = out.Append(bot.T(fmt.Sprintf(": %s queued%s.", bot.Count(len(calendar.Pending(q)), "patch"), limit)))
	o, over := w.Schedule.Book().Overflow(cal, win)
	if over {
		out = out.Append(bot.T(" "), o.Waits(now))
	}
	for _, p := range q {
		out = out.Append(bot.T("\n" + queueLine(p, over && slices.ContainsFunc(o.Over, func(x calendar.Patch) bool { return x.Change == p.Change }))))
	}
	return out, nil
}

// queueLine describes one queued patch for "queue".
func queueLine(p calendar.Patch, beyond bool) string {
	owner := p.Owner
	if owner == "" {
		owner = "owner unknown"
	}
	line := fmt.Sprintf("%d by %s, queued %s UTC", p.Change, owner, p.At.UTC().Format("Mon 2 Jan 15:04"))
	if p.Source == calendar.SourceWiki {
		line = fmt.Sprintf("%d by %s, listed on the wiki", p.Change, owner)
	}
	if p.Title != "" {
		line += ": " + p.Title
	}
	switch {
	case p.Deployed:
		line += " — deployed"
	case p.RolledBack:
		line += " — rolled back: merged but not live; revert it before the next deploy"
	case beyond:
		line += " — beyond the limit, waits"
	}
	return line
}

func (w *windowCmds) list(ctx context.Context, c *Call) (bot.Text, error) {
	now := w.Now()
	from, to, label, err := ParseDays(c.Args, now)
	if err != nil {
		return nil, err
	}
	ws := w.Schedule.Calendar().Between(from, to)
	if len(ws) == 0 {
		return bot.T("No windows " + label + "."), nil
	}
	claims, _ := w.Schedule.Book().Claims()
	out := bot.T(fmt.Sprintf("%s %s (UTC):", bot.Count(len(ws), "window"), label))
	for _, win := range ws {
		parts := []string{"id " + win.Short, win.Kind}
		if len(win.Deployers) > 0 {
			parts = append(parts, "deployers: "+bot.JoinNames(win.Deployers))
		}
		if cl, ok := claims[win.ID]; ok {
			parts = append(parts, "claimed by "+cl.Person)
		}
		parts = append(parts, queueNote(w.Schedule, win))
		out = out.Append(bot.T("\n"+listSpan(win)+" — "), bot.B(win.Name), bot.T(" ("+strings.Join(parts, "; ")+")"))
	}
	return out, nil
}

// listSpan writes a window's day and UTC times for lists: "Mon 8 Mar
// 14:00–15:00", with the end's day when it ends on another day.
func listSpan(w calendar.Window) string {
	s, e := w.Start.UTC(), w.End.UTC()
	end := e.Format("15:04")
	if e.YearDay() != s.YearDay() || e.Sub(s) >= 24*time.Hour {
		end = e.Format("Mon 2 Jan 15:04")
	}
	return s.Format("Mon 2 Jan 15:04") + "–" + end
}

// ParseDays reads which days "windows" lists: nothing or "today",
// "tomorrow", "week" (the next seven days), "next week" (Monday to
// Sunday), a weekday ("monday" or "mon": the next one, today included),
// or a date (2027-03-08). It returns the UTC span and how to say it.
func ParseDays(args []string, now time.Time) (from, to time.Time, label string, err error) {
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	day := func(d time.Time) (time.Time, time.Time, string, error) {
		return d, d.AddDate(0, 0, 1), "on " + d.Format("Mon 2 Jan 2006"), nil
	}
	arg := strings.ToLower(strings.Join(args, " "))
	switch arg {
	case "", "today":
		return today, today.AddDate(0, 0, 1), "today", nil
	case "tomorrow":
		return today.AddDate(0, 0, 1), today.AddDate(0, 0, 2), "tomorrow", nil
	case "week":
		return now, now.AddDate(0, 0, 7), "in the next seven days", nil
	case "next week":
		monday := today.AddDate(0, 0, 7-(int(today.Weekday())+6)%7)
		return monday, monday.AddDate(0, 0, 7), "in the week of " + monday.Format("Mon 2 Jan"), nil
	}
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		name := strings.ToLower(wd.String())
		if arg == name || arg == name[:3] {
			return day(today.AddDate(0, 0, (int(wd)-int(today.Weekday())+7)%7))
		}
	}
	if d, perr := time.Parse("2006-01-02", arg); perr == nil {
		return day(d)
	}
	return time.Time{}, time.Time{}, "", Errorf("Say \"windows\" with today, tomorrow, week, next week, a weekday like monday, or a date like 2027-03-08.")
}

func (w *windowCmds) window(ctx context.Context, c *Call) (bot.Text, error) {
	now := w.Now()
	switch strings.ToLower(c.Args[0]) {
	case "add":
		if len(c.Args) < 4 {
			return nil, Errorf("Usage: window add \"<name>\" <start> <duration> [kind]; e.g. window add \"Extra backport window\" 2026-12-01T14:00Z 1h backport")
		}
		name := c.Args[1]
		start, err := ParseTime(c.Args[2], now)
		if err != nil {
			return nil, err
		}
		d, err := time.ParseDuration(c.Args[3])
		if err != nil || d <= 0 || d > 7*24*time.Hour {
			return nil, Errorf("%s is not a duration between 1m and 168h; write it like 1h or 90m.", Quote(c.Args[3]))
		}
		if start.Add(d).Before(now) {
			return nil, Errorf("That window would already be over; give a start in the future.")
		}
		kind := "backport"
		if len(c.Args) > 4 {
			kind = strings.ToLower(c.Args[4])
			if !validKind(kind) {
				return nil, Errorf("%s is not a window kind; use backport, train, puppet or other.", Quote(kind))
			}
		}
		clean, max := calendar.CleanName(name)
		win, err := w.Schedule.Book().AddWindow(calendar.Window{Name: clean, Kind: kind, Start: start.UTC(), End: start.Add(d).UTC(), MaxPatches: max, Deployers: []string{c.Person.Name}}, c.Person.Name, now)
		if err != nil {
			return nil, err
		}
		w.Schedule.Rebuild()
		return bot.Join(bot.T("Added "), bot.B(win.Name), bot.T(" ("+calendar.Span(win, now)+"), id "+win.ID+".")), nil
	case "cancel":
		id := c.Args[1]
		cal := w.Schedule.Calendar()
		win, ok := cal.ByID(id)
		if !ok {
			return nil, Errorf("There is no window with id %s; \"windows week\" lists the ids.", Quote(id))
		}
		reason := strings.Join(c.Args[2:], " ")
		if reason == "" {
			reason = "no reason given"
		}
		id = win.ID
		if err := w.Schedule.Book().Cancel(id, calendar.Cancellation{Reason: reason, By: c.Person.Name, At: now}); err != nil {
			return nil, err
		}
		cal = w.Schedule.Rebuild()
		out := bot.Join(bot.T("Cancelled "), bot.B(win.Name), bot.T(" ("+calendar.Span(win, now)+"): "+reason+"."))
		// Its queue moves to the next window of the same kind with room.
		next, ok := w.Schedule.Book().NextWithRoom(cal, win, win.Start)
		to := ""
		if ok {
			to = next.ID
		}
		moved, err := w.Schedule.Book().MoveLeftovers(id, to, now)
		if err != nil {
			return nil, err
		}
		for _, p := range moved {
			out = out.Append(bot.T("\n"), bot.M(w.Person(p.Owner)), bot.T(fmt.Sprintf(": your patch %d ", p.Change)))
			if ok {
				out = out.Append(bot.T("moved to "), bot.B(next.Name), bot.T(" ("+calendar.Span(next, now)+")."))
			} else {
				out = out.Append(bot.T("was dropped; there is no later window of this kind with room. Add it again when there is."))
			}
		}
		return out, nil
	}
	return nil, Errorf("Say \"window add …\" or \"window cancel <id>\".")
}

func validKind(k string) bool {
	switch k {
	case "backport", "train", "puppet", "other":
		return true
	}
	return false
}

// ParseTime reads a UTC time as people type it: 2026-12-01T14:00Z,
// 2026-12-01T14:00, RFC 3339, or a date (midnight UTC).
func ParseTime(s string, now time.Time) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04Z07:00", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, Errorf("%s is not a time I understand; write it like 2026-12-01T14:00Z (UTC) or 2026-12-01.", Quote(s))
}

func (w *windowCmds) freeze(ctx context.Context, c *Call) (bot.Text, error) {
	now := w.Now()
	from, err := ParseTime(c.Args[0], now)
	if err != nil {
		return nil, err
	}
	to, err := ParseTime(c.Args[1], now)
	if err != nil {
		return nil, err
	}
	if !to.After(from) {
		return nil, Errorf("The freeze must end after it starts.")
	}
	if !to.After(now) {
		return nil, Errorf("That freeze would already be over.")
	}
	f, err := w.Schedule.Book().AddFreeze(calendar.FreezeRecord{From: from, To: to, Reason: strings.Join(c.Args[2:], " "), By: c.Person.Name}, now)
	if err != nil {
		return nil, err
	}
	return bot.T(fmt.Sprintf("Freeze %d recorded: %s to %s UTC, %s. Deploys in that time need the out-of-window override.", f.ID, from.Format("Mon 2 Jan 15:04"), to.Format("Mon 2 Jan 15:04"), f.Reason)), nil
}

func (w *windowCmds) unfreeze(ctx context.Context, c *Call) (bot.Text, error) {
	id, err := strconv.Atoi(strings.TrimPrefix(c.Args[0], "#"))
	if err != nil {
		return nil, Errorf("%s is not a freeze id; \"freezes\" lists them.", Quote(c.Args[0]))
	}
	ok, err := w.Schedule.Book().RemoveFreeze(id, c.Person.Name, w.Now())
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, Errorf("There is no freeze %d added in chat (freezes from the configuration are changed there).", id)
	}
	return bot.T(fmt.Sprintf("Freeze %d lifted.", id)), nil
}

func (w *windowCmds) freezes(ctx context.Context, c *Call) (bot.Text, error) {
	now := w.Now()
	var out bot.Text
	for _, f := range w.Schedule.Freezes() {
		if !f.To.After(now) {
			continue
		}
		id := "config"
		if f.ID > 0 {
			id = strconv.Itoa(f.ID)
		}
		state := ""
		if !now.Before(f.From) {
			state = " (in force)"
		}
		out = out.Append(bot.T(fmt.Sprintf("\n[%s] %s – %s UTC: %s%s", id, f.From.UTC().Format("Mon 2 Jan 15:04"), f.To.UTC().Format("Mon 2 Jan 15:04"), f.Reason, state)))
	}
	if len(out) == 0 {
		return bot.T("No freezes now or to come."), nil
	}
	return bot.T("Freezes:").Append(out), nil
}

// ChangeLookup reads a change from Gerrit; *gerrit.Client implements it.
type ChangeLookup interface {
	Change(ctx context.Context, n int) (*gerrit.Change, error)
}

// GerritChecker validates changes against Gerrit before they are queued:
// the change must exist and be open.
type GerritChecker struct{ Gerrit ChangeLookup }

// CheckChange implements ChangeChecker. The Gerrit client's errors are
// already sentences for users.
func (g GerritChecker) CheckChange(ctx context.Context, n int) (string, error) {
	c, err := g.Gerrit.Change(ctx, n)
	if err != nil {
		return "", Errorf("I could not queue %d: %s", n, err)
	}
	switch c.Status {
	case "MERGED":
		return "", Errorf("Change %d is already merged; there is nothing to queue (to deploy it, ask a deployer).", n)
	case "ABANDONED":
		return "", Errorf("Change %d is abandoned; restore it in Gerrit before queueing it.", n)
	}
	return c.Owner.Username, nil
}
