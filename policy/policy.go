// Package policy applies the deploy policy of the wiki's deployers page:
// deploy in a window that allows the deploy, respect a window another
// deployer claimed, do not run into the next window, and get approvals on
// Fridays and weekends. Evaluate is a pure function over values with the
// current time passed in; the Gate keeps requests waiting for approvals in
// bbolt; the Judge is the policy where the deploy acts (the deploy engine
// asks it when a deploy starts and before each sync stage, on its own
// Facts), and what the chat side says is advice.
//
//	rules := policy.FromConfig(cfg)
//	d := rules.Evaluate(policy.Input{Action: policy.Deploy, By: who, Now: now, Active: …, Upcoming: …})
//	if d.Refusal(force, reason) != "" { … }
//	fmt.Println(d.Summary()) // "Deploying now: outside any window; Friday; needs --force …"
package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
)

// Action is what is asked for: a deploy or a revert.
type Action string

// Actions.
const (
	Deploy Action = "deploy"
	Revert Action = "revert"
)

// Window is the part of a calendar window the policy looks at.
type Window struct {
	ID, Name, Kind string
	Start, End     time.Time
	// Deployers are names or nicks of the window's own deployers.
	Deployers []string
	// ClaimedBy is the deployer who claimed the window ("" when none).
	ClaimedBy string
}

// Person is who asks or approves.
type Person struct {
	Name  string
	Nick  string
	Roles []string
	Admin bool
}

// Approver is p as the matching of approvals sees them.
func (p Person) Approver() Approver { return Approver{Name: p.Name, Roles: p.Roles, Admin: p.Admin} }

func (p Person) is(name string) bool {
	return name != "" && (strings.EqualFold(p.Name, name) || strings.EqualFold(p.Nick, name))
}

// KindRule says what one window kind allows.
type KindRule struct {
	Allow         []Action
	DeployersOnly bool
}

// TimeRule adds required approvals at certain times (see config.TimeRule).
type TimeRule struct {
	Name     string
	Days     []time.Weekday // empty: every day
	From, To int            // minutes after midnight; To 1440 is the end of the day
	Location *time.Location
	Holidays []string // YYYY-MM-DD in Location
	Roles    []string
	Timeout  time.Duration
}

// Rules is the whole policy.
type Rules struct {
	// Kinds by window kind; a kind not present allows everything.
	Kinds map[string]KindRule
	// AskClaimer makes a claimed window its claimer's.
	AskClaimer bool
	// MinDeployTime is the estimate without history; 0 turns the check of
	// the next window off.
	MinDeployTime time.Duration
	// Timeout is how long a request waits for approvals.
	Timeout time.Duration
	// RoleNames are the names people read for roles ("RelEng").
	RoleNames map[string]string
	Times     []TimeRule
	// AdminHasEveryRole lets admins fill approvals of any role.
	AdminHasEveryRole bool
}

// FromConfig turns the configuration's policy section into Rules.
func FromConfig(cfg *config.Config) Rules {
	p := cfg.Policy
	r := Rules{Kinds: map[string]KindRule{}, AskClaimer: p.ClaimedWindows != "ignore", Timeout: p.ApprovalTimeout,
		RoleNames: map[string]string{"deployer": "deployer", "admin": "admin"}, AdminHasEveryRole: p.AdminHasEveryRole}
	if p.MinDeployTime != nil {
		r.MinDeployTime = *p.MinDeployTime
	}
	for k, v := range p.Roles {
		r.RoleNames[k] = v
	}
	for _, w := range p.Windows {
		k := KindRule{DeployersOnly: w.DeployersOnly, Allow: []Action{}}
		for _, a := range w.Allow {
			k.Allow = append(k.Allow, Action(a))
		}
		r.Kinds[w.Kind] = k
	}
	for _, t := range p.Rules {
		tr := TimeRule{Name: t.Name, From: 0, To: 24 * 60, Location: t.Location, Holidays: t.Holidays, Roles: t.Approvals, Timeout: t.Timeout}
		if tr.Location == nil {
			tr.Location = time.UTC
		}
		for _, d := range t.Days {
			if wd, ok := config.Weekday(d); ok {
				tr.Days = append(tr.Days, wd)
			}
		}
		if m, ok := config.ClockMinutes(t.From); ok {
			tr.From = m
		}
		if m, ok := config.ClockMinutes(t.To); ok {
			tr.To = m
		}
		r.Times = append(r.Times, tr)
	}
	return r
}

// Input is everything a decision depends on.
type Input struct {
	Action Action
	By     Person
	Now    time.Time
	// Active are the windows open at Now; Upcoming the windows starting
	// after Now, in start order (a day's worth is plenty).
	Active, Upcoming []Window
	// Frozen describes a freeze in force ("" when none). LastFreeze is
	// the one in force that was declared or began last, FrozenSince when
	// it was both declared and in force (the later of the two) and
	// FrozenDeclared when it was declared (zero when unknown).
	Frozen, LastFreeze          string
	FrozenSince, FrozenDeclared time.Time
	// Estimate is how long a deploy takes, from the deploy history; 0
	// means no history (the configured minimum is used).
	Estimate time.Duration
	// EstimateFrom says where Estimate came from ("the last 5 deploys").
	EstimateFrom string
	// Unchecked says why the calendar cannot be trusted to show the next
	// window ("the wiki's Deployments page has not been read yet"); ""
	// when it can.
	Unchecked string
}

// Need is one approval a deploy waits for: from a named person (the
// claimer of the window) or from anyone with a role.
type Need struct {
	Rule   string `json:"rule"`
	Role   string `json:"role,omitempty"`
	Person string `json:"person,omitempty"`
}

// Decision is what the policy says about a deploy now.
type Decision struct {
	Action Action
	Now    time.Time
	// Window is the open window that allows the deploy (nil: outside).
	Window *Window
	// Disallowed are open windows that do not allow it, with the reason.
	Disallowed []string
	// Frozen is the freeze in force, if any; LastFreeze, FrozenSince and
	// FrozenDeclared are as in Input.
	Frozen, LastFreeze          string
	FrozenSince, FrozenDeclared time.Time
	// Rules are the time rules in force ("Friday").
	Rules []string
	// Claimer is the other deployer who claimed Window ("" when none).
	Claimer string
	// Needs are the approvals required (besides the claimer's, which
	// --force with a reason replaces).
	Needs []Need
	// Timeout is how long the request waits for them.
	Timeout time.Duration
	// Next is the next window the deploy would step on, if any; Estimate
	// is how long a deploy takes and EstimateFrom where that came from.
	Next         *Window
	Estimate     time.Duration
	EstimateFrom string
	// Unchecked says why the next window could not be checked ("" when
	// it was, or when the check is off).
	Unchecked string
	roleNames map[string]string
}

// NeedsForce reports whether the deploy needs --force with a reason:
// outside any window, in a freeze, or when the next window cannot be
// checked.
func (d Decision) NeedsForce() bool { return d.Window == nil || d.Frozen != "" || d.Unchecked != "" }

// Forbidden reports whether an open window forbids the deploy and none
// allows it: another deployer's window (the train for its deployers) or a
// kind that allows no deploys (a puppet window). --force never overrides
// it.
func (d Decision) Forbidden() bool { return d.Window == nil && len(d.Disallowed) > 0 }

// TooLate reports whether a deploy started now cannot finish before the
// next window another deployer owns, inside a window or outside.
func (d Decision) TooLate() bool {
	return d.Next != nil && d.Estimate > 0 && d.Next.Start.Sub(d.Now) < d.Estimate
}

// Evaluate decides on in. It is pure.
func (r Rules) Evaluate(in Input) Decision {
	d := Decision{Action: in.Action, Now: in.Now, Frozen: in.Frozen, LastFreeze: in.LastFreeze, FrozenSince: in.FrozenSince, FrozenDeclared: in.FrozenDeclared, Timeout: r.Timeout, roleNames: r.RoleNames}
	for _, w := range in.Active {
		if why := r.refuses(w, in); why != "" {
			d.Disallowed = append(d.Disallowed, why)
			continue
		}
		if d.Window == nil {
			w := w
			d.Window = &w
		}
	}
	if w := d.Window; w != nil && r.AskClaimer && w.ClaimedBy != "" && !in.By.is(w.ClaimedBy) {
		d.Claimer = w.ClaimedBy
	}
	// The next window is checked inside a window too: a deploy begun at
	// the end of one window must not run into the next.
	if r.MinDeployTime > 0 {
		d.Estimate, d.EstimateFrom = in.Estimate, in.EstimateFrom
		if d.Estimate <= 0 {
			d.Estimate, d.EstimateFrom = r.MinDeployTime, "the configured minimum"
		}
		d.Unchecked = in.Unchecked
		for _, w := range in.Upcoming {
			if !w.Start.After(in.Now) || r.owns(w, in.By) {
				continue
			}
			w := w
			d.Next = &w
			break
		}
	}
	for _, t := range r.Times {
		name, ok := t.applies(in.Now)
		if !ok {
			continue
		}
		d.Rules = append(d.Rules, name)
		for _, role := range t.Roles {
			d.Needs = append(d.Needs, Need{Rule: t.Name, Role: role})
		}
		if t.Timeout > 0 {
			d.Timeout = t.Timeout
		}
	}
	return d
}

// refuses says why window w does not allow the deploy ("" when it does).
func (r Rules) refuses(w Window, in Input) string {
	k, ok := r.Kinds[w.Kind]
	if !ok {
		return ""
	}
	if !slices.Contains(k.Allow, in.Action) {
		return fmt.Sprintf("the %s allows no %ss", w.Name, in.Action)
	}
	if k.DeployersOnly && !slices.ContainsFunc(w.Deployers, in.By.is) {
		return fmt.Sprintf("the %s is for its deployers (%s) only", w.Name, joinList(w.Deployers))
	}
	return ""
}

// owns reports whether w is the deployer's own: claimed by them, or theirs
// and unclaimed.
func (r Rules) owns(w Window, p Person) bool {
	if w.ClaimedBy != "" {
		return p.is(w.ClaimedBy)
	}
	return slices.ContainsFunc(w.Deployers, p.is)
}

// applies reports whether the rule is in force at now, and under which
// name: the weekday ("Friday"), "holiday 2026-12-25", or the rule's name.
func (t TimeRule) applies(now time.Time) (string, bool) {
	local := now.In(t.Location)
	date := local.Format(time.DateOnly)
	if slices.Contains(t.Holidays, date) {
		return "holiday " + date, true
	}
	if len(t.Days) > 0 && !slices.Contains(t.Days, local.Weekday()) {
		return "", false
	}
	m := local.Hour()*60 + local.Minute()
	if m < t.From || m >= t.To {
		return "", false
	}
	if len(t.Days) > 0 {
		return local.Weekday().String(), true
	}
	return t.Name, true
}

// RoleName is the name people read for a role ("RelEng").
func (d Decision) RoleName(role string) string {
	if n, ok := d.roleNames[role]; ok && n != "" {
		return n
	}
	return role
}

// Summary is the one-line verdict: "Deploying now: outside any window;
// Friday; needs --force with a reason and approvals from one RelEng and
// one SRE person."
func (d Decision) Summary() string {
	verb := map[Action]string{Deploy: "Deploying", Revert: "Reverting"}[d.Action]
	var facts []string
	switch {
	case d.Window != nil:
		f := "in the " + d.Window.Name
		if d.Window.ClaimedBy != "" {
			f += ", claimed by " + d.Window.ClaimedBy
		}
		facts = append(facts, f)
	case len(d.Disallowed) > 0:
		facts = append(facts, "outside any window that allows it ("+strings.Join(d.Disallowed, "; ")+")")
	default:
		facts = append(facts, "outside any window")
	}
	if d.Frozen != "" {
		facts = append(facts, "frozen ("+d.Frozen+")")
	}
	if d.Unchecked != "" {
		facts = append(facts, "the next window cannot be checked ("+d.Unchecked+")")
	}
	facts = append(facts, d.Rules...)
	var needs []string
	if d.NeedsForce() {
		needs = append(needs, "--force with a reason")
	}
	if d.Claimer != "" {
		needs = append(needs, d.Claimer+"'s approval (or --force with a reason)")
	}
	if roles := d.roleList(); roles != "" {
		needs = append(needs, "approvals from "+roles)
	}
	verdict := "allowed"
	if len(needs) > 0 {
		verdict = "needs " + joinList(needs)
	}
	if d.Forbidden() {
		verdict = "not allowed, not even with --force"
	}
	if d.TooLate() {
		verdict = "not allowed: " + d.nextSentence()
	}
	return fmt.Sprintf("%s now: %s; %s.", verb, strings.Join(facts, "; "), verdict)
}

// roleList is "one RelEng and one SRE person".
func (d Decision) roleList() string {
	var roles []string
	for _, n := range d.Needs {
		if n.Role != "" {
			roles = append(roles, "one "+d.RoleName(n.Role))
		}
	}
	if len(roles) == 0 {
		return ""
	}
	return joinList(roles) + " person"
}

// NextLine says how much time there is until the next window ("" when
// inside a window or with no window ahead).
func (d Decision) NextLine() string {
	if d.Next == nil || (d.Window != nil && !d.TooLate()) {
		return ""
	}
	s := d.nextSentence()
	if d.Estimate > 0 && !d.TooLate() {
		s += fmt.Sprintf("; a deploy takes about %s (%s), so one started now can finish before it", Minutes(d.Estimate), d.EstimateFrom)
	}
	return s + "."
}

func (d Decision) nextSentence() string {
	w := d.Next
	s := fmt.Sprintf("the next window, %s%s, starts in %s at %s", w.Name, owners(*w), Minutes(w.Start.Sub(d.Now)), w.Start.UTC().Format("15:04 UTC"))
	if d.TooLate() {
		s += fmt.Sprintf(", and a deploy takes about %s (%s); deploy in a window, or after %s", Minutes(d.Estimate), d.EstimateFrom, w.End.UTC().Format("15:04 UTC"))
	}
	return s
}

func owners(w Window) string {
	switch {
	case w.ClaimedBy != "":
		return " (claimed by " + w.ClaimedBy + ")"
	case len(w.Deployers) > 0:
		return " (" + joinList(w.Deployers) + ")"
	}
	return ""
}

// Refusal is the sentence refusing the deploy, or "" when it may go on
// (perhaps after approvals). example is the command to show with --force.
// What --force overrides, and what it never does, is the table in the
// README's policy section; each row is a case of TestForceTable.
func (d Decision) Refusal(force bool, reason, example string) string {
	reason = strings.TrimSpace(reason)
	switch {
	case force && reason == "":
		return "--force needs a reason, e.g. `" + example + "`."
	case d.Forbidden():
		return "Not now, not even with --force: " + strings.Join(d.Disallowed, "; ") + ". Wait until that window ends, or ask its deployers."
	case d.TooLate():
		return "Not now: " + d.nextSentence() + "."
	case d.Frozen != "" && !force:
		return "Deploys are frozen: " + d.Frozen + ". If this cannot wait, add --force and a reason: `" + example + "`."
	case d.NeedsForce() && !force:
		return strings.TrimSuffix(d.Summary(), ".") + ". If this cannot wait, add --force and a reason: `" + example + "`."
	}
	return ""
}

// Required is every approval the deploy waits for: the claimer's (unless
// forced with a reason) and the time rules' roles.
func (d Decision) Required(force bool) []Need {
	var out []Need
	if d.Claimer != "" && !force {
		out = append(out, Need{Rule: "claimed window " + d.Window.Name, Person: d.Claimer})
	}
	return append(out, d.Needs...)
}

// Minutes writes a duration for people: "5 minutes", "1 hour 10 minutes".
func Minutes(dur time.Duration) string {
	m := int(dur.Round(time.Minute) / time.Minute)
	if m < 60 {
		return bot.Count(m, "minute")
	}
	if m%60 == 0 {
		return bot.Count(m/60, "hour")
	}
	return bot.Count(m/60, "hour") + " " + bot.Count(m%60, "minute")
}

func joinList(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	case 2:
		return s[0] + " and " + s[1]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// RuleLines describe the rules for the policy command, one per line.
func (r Rules) RuleLines() []string {
	var out []string
	kinds := make([]string, 0, len(r.Kinds))
	for k := range r.Kinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		kr := r.Kinds[k]
		what := "nothing"
		if len(kr.Allow) > 0 {
			var as []string
			for _, a := range kr.Allow {
				as = append(as, string(a)+"s")
			}
			what = joinList(as)
		}
		line := fmt.Sprintf("%s windows allow %s", strings.ToUpper(k[:1])+k[1:], what)
		if kr.DeployersOnly {
			line += ", for their own deployers only"
		}
		out = append(out, line+".")
	}
	if r.AskClaimer {
		out = append(out, "A claimed window is its claimer's: another deployer needs their approve or --force with a reason.")
	}
	if r.MinDeployTime > 0 {
		out = append(out, fmt.Sprintf("Outside windows, a deploy must finish before the next window (at least %s, or as long as recent deploys took).", Minutes(r.MinDeployTime)))
	}
	for _, t := range r.Times {
		var roles []string
		for _, role := range t.Roles {
			n := r.RoleNames[role]
			if n == "" {
				n = role
			}
			roles = append(roles, "one "+n)
		}
		timeout := t.Timeout
		if timeout <= 0 {
			timeout = r.Timeout
		}
		out = append(out, fmt.Sprintf("%s (%s): approvals from %s person; a request lapses after %s.", t.Name, t.when(), joinList(roles), Minutes(timeout)))
	}
	return out
}

func (t TimeRule) when() string {
	var parts []string
	if len(t.Days) > 0 {
		var ds []string
		for _, d := range t.Days {
			ds = append(ds, d.String())
		}
		parts = append(parts, joinList(ds))
	} else {
		parts = append(parts, "every day")
	}
	if t.From != 0 || t.To != 24*60 {
		parts = append(parts, fmt.Sprintf("%02d:%02d–%02d:%02d", t.From/60, t.From%60, t.To/60, t.To%60))
	}
	parts = append(parts, t.Location.String())
	if len(t.Holidays) > 0 {
		parts = append(parts, "and holidays "+joinList(t.Holidays))
	}
	return strings.Join(parts, " ")
}

// RoleNamesMap returns the names people read for roles.
func (d Decision) RoleNamesMap() map[string]string { return d.roleNames }
