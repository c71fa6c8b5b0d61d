package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/calendar"
)

// Facts are where the policy reads what it decides on: the calendar, the
// freezes, the claims, the people and the deploy history. The chat side
// and the deploy engine each build their own from their own configuration
// and database.
type Facts struct {
	// Calendar is the current calendar (config windows, the wiki import,
	// windows added in chat, minus cancellations).
	Calendar func() *calendar.Calendar
	// Freeze returns the freeze in force at t, if any.
	Freeze func(t time.Time) (calendar.Freeze, bool)
	// LastFreeze returns the freeze in force at t declared or begun last
	// (nil: Freeze's), the one a --force given earlier does not cover.
	LastFreeze func(t time.Time) (calendar.Freeze, bool)
	// Claims returns the claimer of each claimed window, by window id.
	Claims func() (map[string]string, error)
	// Unchecked says why the calendar cannot be trusted to show the next
	// window ("" when it can); nil trusts it.
	Unchecked func() string
	// Estimate is how long a deploy takes from the deploy history, and
	// where that came from; 0 when there is no history.
	Estimate func() (time.Duration, string)
}

// Decide evaluates the rules for by doing action at now, with the facts.
func (r Rules) Decide(f Facts, action Action, by Person, now time.Time) Decision {
	claims := map[string]string{}
	if f.Claims != nil {
		if got, err := f.Claims(); err == nil {
			claims = got
		}
	}
	conv := func(ws []calendar.Window) []Window {
		out := make([]Window, 0, len(ws))
		for _, x := range ws {
			out = append(out, Window{ID: x.ID, Name: x.Name, Kind: x.Kind, Start: x.Start, End: x.End,
				Deployers: x.Deployers, ClaimedBy: claims[x.ID]})
		}
		return out
	}
	in := Input{Action: action, By: by, Now: now}
	var soon []calendar.Window
	if f.Calendar != nil {
		cal := f.Calendar()
		in.Active = conv(cal.Active(now))
		soon = cal.Between(now, now.Add(24*time.Hour))
	}
	var upcoming []calendar.Window
	for _, x := range soon {
		if x.Start.After(now) {
			upcoming = append(upcoming, x)
		}
	}
	in.Upcoming = conv(upcoming)
	if f.Unchecked != nil {
		in.Unchecked = f.Unchecked()
	}
	if in.Unchecked == "" && len(soon) == 0 {
		// An empty calendar says nothing about the next window: it is
		// not taken to mean that there is none.
		in.Unchecked = "the calendar has no windows in the next 24 hours"
	}
	if f.Freeze != nil {
		if fr, ok := f.Freeze(now); ok {
			in.Frozen = freezeText(fr)
			last := fr
			if f.LastFreeze != nil {
				if l, ok := f.LastFreeze(now); ok {
					last = l
				}
			}
			in.LastFreeze, in.FrozenDeclared, in.FrozenSince = freezeText(last), last.Declared, last.From
			if last.Declared.After(last.From) {
				in.FrozenSince = last.Declared
			}
		}
	}
	if f.Estimate != nil {
		in.Estimate, in.EstimateFrom = f.Estimate()
	}
	return r.Evaluate(in)
}

// Judge is the policy at the point of action: the deploy engine asks it
// when a deploy starts and before each stage that widens exposure, with
// its own facts and people, whatever the request says.
type Judge struct {
	Rules Rules
	Facts Facts
	// Person finds someone in the engine's own people by name.
	Person func(name string) (Person, bool)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Ask is what the engine asks the judge about: who wants which action,
// with which flags, and the approvals the chat side collected.
type Ask struct {
	Action Action
	By     string
	Force  bool
	Reason string
	// Approvals are who approved, under which rule; the judge maps each
	// name to its own people and their roles.
	Approvals []Approval
	// Stage is the stage about to begin; "" when the deploy starts.
	// Started is when the deploy started: a window claimed by another
	// deployer stops it only when the window opened after that.
	Stage   string
	Started time.Time
	// ForcedFreeze is the freeze a forced deploy started in ("" when
	// none): before a later stage, --force overrides that freeze only,
	// not one declared after the deploy started.
	ForcedFreeze string
	// ForcedAt is when --force was given, for a request that waited for
	// approvals (zero: now). It overrides only a freeze declared and in
	// force by then: the one the deployer was shown.
	ForcedAt time.Time
	// Example is the command to show with --force.
	Example string
}

// Ruling is the judge's answer: the decision and, when the action may not
// go on, the sentence saying why ("" when it may).
type Ruling struct {
	Decision Decision
	Refusal  string
	// Counted are the approvals (indexes into Ask.Approvals) that fill a
	// need the rules have now, when the deploy may start; the others
	// count for nothing.
	Counted []int
}

// Rule decides on a. When the deploy starts, everything counts: the
// windows, the freeze, the claims, the next window and the approvals,
// matched against the judge's own people. Before a later stage, what can
// change under a running deploy counts: a window that forbids it or that
// another deployer claimed has opened, or a freeze began; a deploy started
// in a window may finish after the window ends.
func (j *Judge) Rule(a Ask) Ruling {
	now := time.Now()
	if j.Now != nil {
		now = j.Now()
	}
	by, ok := Person{}, false
	if j.Person != nil {
		by, ok = j.Person(a.By)
	}
	if !ok {
		return Ruling{Refusal: fmt.Sprintf("The deploy policy does not know %s: the deploy engine's people list has no such person.", orSomeone(a.By))}
	}
	d := j.Rules.Decide(j.Facts, a.Action, by, now)
	if a.Stage != "" {
		return Ruling{Decision: d, Refusal: j.stageRefusal(d, by, a)}
	}
	if r := d.Refusal(a.Force, a.Reason, a.Example); r != "" {
		return Ruling{Decision: d, Refusal: r}
	}
	if r := frozenSinceForce(d, a); r != "" {
		return Ruling{Decision: d, Refusal: r}
	}
	needs := d.Required(a.Force)
	if missing := j.unmet(by, needs, a.Approvals); len(missing) > 0 {
		return Ruling{Decision: d, Refusal: j.approvalRefusal(d, missing, a)}
	}
	return Ruling{Decision: d, Counted: j.counted(by, needs, a.Approvals)}
}

// counted are the indexes of the approvals a matching uses for needs.
func (j *Judge) counted(by Person, needs []Need, approvals []Approval) []int {
	as, index := j.approvers(by, approvals)
	var out []int
	for _, k := range j.Rules.Match(needs, as) {
		if k >= 0 {
			out = append(out, index[k])
		}
	}
	slices.Sort(out)
	return out
}

// approvers maps approvals to the judge's own people, each person once
// and never the asker: a request that names the same approver twice, or
// its own asker, gets no more from it than one approval from someone else
// (the gate refuses both in chat; the judge does not take its word). It
// returns the approvers and the index of each one's approval.
func (j *Judge) approvers(by Person, approvals []Approval) ([]Approver, []int) {
	var as []Approver
	var index []int
	var seen []string
	for i, a := range approvals {
		if j.Person == nil {
			break
		}
		p, ok := j.Person(a.By)
		if !ok || strings.EqualFold(p.Name, by.Name) || slices.ContainsFunc(seen, func(n string) bool { return strings.EqualFold(n, p.Name) }) {
			continue
		}
		seen = append(seen, p.Name)
		as = append(as, p.Approver())
		index = append(index, i)
	}
	return as, index
}

// stageRefusal is why a running deploy must stop before a.Stage ("" when
// it may go on).
func (j *Judge) stageRefusal(d Decision, by Person, a Ask) string {
	switch {
	case d.Forbidden():
		return fmt.Sprintf("The deploy policy stopped the deploy before %s: %s.", a.Stage, strings.Join(d.Disallowed, "; "))
	case d.Frozen != "" && !(a.Force && a.ForcedFreeze == d.Frozen):
		return fmt.Sprintf("The deploy policy stopped the deploy before %s: deploys are frozen (%s).", a.Stage, d.Frozen)
	case d.Claimer != "" && !a.Force && d.Window.Start.After(a.Started) && len(j.unmet(by, []Need{{Rule: "claimed window", Person: d.Claimer}}, a.Approvals)) > 0:
		return fmt.Sprintf("The deploy policy stopped the deploy before %s: the %s, claimed by %s, has opened.", a.Stage, d.Window.Name, d.Claimer)
	}
	return ""
}

// unmet matches the approvals, by the judge's own people and roles,
// against needs.
func (j *Judge) unmet(by Person, needs []Need, approvals []Approval) []Need {
	if len(needs) == 0 {
		return nil
	}
	as, _ := j.approvers(by, approvals)
	return j.Rules.Unmet(needs, as)
}

// approvalRefusal says which approvals are missing, by the judge's own
// people and the rules in force now.
func (j *Judge) approvalRefusal(d Decision, missing []Need, a Ask) string {
	var want []string
	for _, n := range missing {
		want = append(want, NeedText(n, j.Rules.RoleNames))
	}
	s := fmt.Sprintf("Not started: %s; missing: %s", strings.TrimSuffix(d.Summary(), "."), joinList(want))
	if len(a.Approvals) > 0 {
		var by []string
		for _, ap := range a.Approvals {
			by = append(by, ap.By)
		}
		s += " (the approvals from " + joinList(by) + " do not cover it now)"
	}
	return s + ". Nothing was done; ask again to collect the approvals it needs now."
}

func orSomeone(name string) string {
	if name == "" {
		return "the person who asked"
	}
	return name
}

// freezeText is "incident follow-up until 2026-11-29 00:00 UTC".
func freezeText(f calendar.Freeze) string {
	return fmt.Sprintf("%s until %s", f.Reason, f.To.UTC().Format("2006-01-02 15:04 UTC"))
}

// frozenSinceForce refuses a forced request that waited for approvals
// when the freeze in force now was declared, or began, after --force was
// given: the force's reason was written for what the deployer saw then.
func frozenSinceForce(d Decision, a Ask) string {
	if !a.Force || d.Frozen == "" || a.ForcedAt.IsZero() || !d.FrozenSince.After(a.ForcedAt) {
		return ""
	}
	when := "in force since " + clockTime(d.FrozenSince, a.ForcedAt)
	if d.FrozenDeclared.Equal(d.FrozenSince) {
		when = "declared at " + clockTime(d.FrozenDeclared, a.ForcedAt)
	}
	what := d.LastFreeze
	if what == "" {
		what = d.Frozen
	}
	return fmt.Sprintf("Deploys are frozen: %s, %s, after --force was given at %s; --force overrides only a freeze in force when it was given. If this still cannot wait, ask again: `%s`.",
		what, when, a.ForcedAt.UTC().Format("15:04 UTC"), a.Example)
}

// clockTime is "12:20 UTC", with the date when it is not ref's day.
func clockTime(t, ref time.Time) string {
	t, ref = t.UTC(), ref.UTC()
	if t.Format(time.DateOnly) == ref.Format(time.DateOnly) {
		return t.Format("15:04 UTC")
	}
	return t.Format("2006-01-02 15:04 UTC")
}
