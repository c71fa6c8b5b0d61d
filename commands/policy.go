package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/prepare"
	"github.com/jouncebot/jouncebot/policy"
)

// Policy is what the deploy commands need to apply the deploy policy.
type Policy struct {
	Rules policy.Rules
	// Gate keeps requests waiting for approvals.
	Gate *policy.Gate
	// Claims returns the claimer of each claimed window, by window id.
	Claims func() (map[string]string, error)
	// Estimate is how long a deploy takes from the deploy history, and
	// where that came from; 0 when there is no history.
	Estimate func() (time.Duration, string)
	// Person is who to mention for a name (the claimer).
	Person func(name string) bot.Person
	// Unchecked says why the calendar cannot be trusted to show the next
	// window ("" when it can); nil trusts it.
	Unchecked func() string
	// Current reads the changes' current patchsets from Gerrit, to pin a
	// request to them; nil pins nothing.
	Current func(ctx context.Context, changes []int) (map[int]int, error)
	// Asker returns the identity of who asks, as the transport vouched
	// for it in ctx, to keep with a waiting request (nil keeps none).
	Asker func(ctx context.Context) json.RawMessage
}

// PolicyPerson is a configured person as the policy sees them.
func PolicyPerson(p *config.Person) policy.Person {
	if p == nil {
		return policy.Person{}
	}
	return policy.Person{Name: p.Name, Nick: p.Nick(), Roles: p.Roles, Admin: p.Has(config.RoleAdmin)}
}

// facts are where the chat side's policy reads the calendar, the freezes,
// the claims and the deploy history.
func (p *Policy) facts(w Windows) policy.Facts {
	return policy.Facts{Calendar: w.Calendar, Freeze: w.ActiveFreeze, Claims: p.Claims, Unchecked: p.Unchecked, Estimate: p.Estimate}
}

// decide evaluates the policy for c's sender doing action now. It tells
// the person who asks what to expect; the engine's Judge decides again
// where the deploy happens.
func (p *Policy) decide(c *Call, w Windows, action policy.Action, now time.Time) policy.Decision {
	return p.Rules.Decide(p.facts(w), action, PolicyPerson(c.Person), now)
}

// Judge is the deploy policy for the engine (deploy.Options.Judge): the
// rules evaluated on the engine's own facts and people.
func Judge(cfg *config.Config, facts policy.Facts, now func() time.Time) deploy.Judge {
	j := &policy.Judge{Rules: policy.FromConfig(cfg), Facts: facts, Now: now,
		Person: func(name string) (policy.Person, bool) {
			p := cfg.PersonByName(name)
			return PolicyPerson(p), p != nil
		}}
	return engineJudge{j}
}

type engineJudge struct{ j *policy.Judge }

func (e engineJudge) Judge(_ context.Context, q deploy.Question) (deploy.Verdict, string) {
	var as []policy.Approval
	for _, a := range q.Approvals {
		as = append(as, policy.Approval{By: a.By, At: a.At, Rule: a.Rule})
	}
	r := e.j.Rule(policy.Ask{Action: policy.Action(q.Action), By: q.By.Name, Force: q.Force, Reason: q.Reason, Approvals: as,
		Stage: q.Stage, Started: q.Started, ForcedFreeze: q.Frozen, ForcedAt: q.ForcedAt, Example: q.Example})
	v := deploy.Verdict{}
	if w := r.Decision.Window; w != nil {
		v.InWindow, v.Window = true, w.Name
	}
	v.Frozen = r.Decision.Frozen
	for _, i := range r.Counted {
		v.Approvals = append(v.Approvals, q.Approvals[i])
	}
	return v, r.Refusal
}

// verdict is the policy's text for plan and policy: the summary and the
// time to the next window.
func verdict(d policy.Decision) string {
	s := d.Summary()
	if l := d.NextLine(); l != "" {
		s += "\n" + upperFirst(l)
	}
	return s
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// gated applies the policy to a deploy or revert: it refuses it, starts it
// (start), or stores it to wait for approvals and says who must approve.
func (o DeployOptions) gated(ctx context.Context, c *Call, action policy.Action, req deploy.Request, payload any, start func() error) (bot.Text, error) {
	p := o.Policy
	d := p.decide(c, o.Calendar, action, o.Now())
	example := string(action) + " --force " + strings.Join(req.Changes, " ") + " <reason>"
	if r := d.Refusal(req.Force, req.Reason, example); r != "" {
		return nil, Errorf("%s", r)
	}
	needs := d.Required(req.Force)
	if len(needs) == 0 || p.Gate == nil {
		return nil, start()
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("policy: encode request: %w", err)
	}
	now := o.Now()
	pinned, err := p.pin(ctx, action, req.Changes)
	if err != nil {
		return nil, err
	}
	var asker json.RawMessage
	if p.Asker != nil {
		asker = p.Asker(ctx)
	}
	r, err := p.Gate.Ask(policy.Request{Action: action, By: req.By.Name, Origin: req.Origin, What: strings.Join(req.Changes, " "),
		Created: now.UTC(), Deadline: now.Add(d.Timeout).UTC(), Needs: needs, Payload: body,
		PatchSets: pinned, Force: req.Force, Reason: req.Reason, Asker: asker})
	if err != nil {
		return nil, err
	}
	t := bot.T(fmt.Sprintf("%s %s waits for approvals until %s (request %s): %s.", upperFirst(string(action)), r.What, r.Deadline.Format("15:04 UTC"), r.ID, strings.TrimSuffix(d.Summary(), ".")))
	for _, n := range needs {
		switch {
		case n.Person != "":
			t = t.Append(bot.T("\n"), bot.M(p.Person(n.Person)),
				bot.T(fmt.Sprintf(": %s asks to %s %s in the %s you claimed; say `approve %s` to let it go ahead (or %s can add --force and a reason).",
					req.By.Name, action, r.What, d.Window.Name, r.ID, req.By.Name)))
		default:
			t = t.Append(bot.T(fmt.Sprintf("\n%s: %s must say `approve %s`.", n.Rule, policy.NeedText(n, d.RoleNamesMap()), r.ID)))
		}
	}
	return t, nil
}

// pin reads the patchsets of a deploy's changes, so that its approvals
// are for those patchsets only (nil when Gerrit is not at hand, or for a
// revert, whose changes are merged).
func (p *Policy) pin(ctx context.Context, action policy.Action, changes []string) (map[int]int, error) {
	if p.Current == nil || action != policy.Deploy {
		return nil, nil
	}
	var nums []int
	for _, c := range changes {
		if r, err := prepare.ParseChange(c); err == nil {
			nums = append(nums, r.Number)
		}
	}
	cur, err := p.Current(ctx, nums)
	if err != nil {
		return nil, Errorf("I cannot read the changes from Gerrit to record which patchsets the approvals are for; nothing was asked. Try again in a minute.")
	}
	return cur, nil
}

// StartApproved starts the deploy or revert of a request whose approvals
// are all in, for policy.GateOptions.Start.
func StartApproved(e deploy.Service) func(ctx context.Context, r policy.Request) (string, error) {
	return func(ctx context.Context, r policy.Request) (string, error) {
		var as []deploy.Approval
		for _, a := range r.Approved {
			as = append(as, deploy.Approval{By: a.By, At: a.At, Rule: a.Rule})
		}
		if r.Action == policy.Revert {
			var rr deploy.RevertRequest
			if err := json.Unmarshal(r.Payload, &rr); err != nil {
				return "", fmt.Errorf("policy: decode revert request %s: %w", r.ID, err)
			}
			rr.Approvals = as
			if rr.Force {
				rr.ForcedAt = r.Created
			}
			id, err := e.Revert(ctx, rr)
			return string(id), err
		}
		var dr deploy.Request
		if err := json.Unmarshal(r.Payload, &dr); err != nil {
			return "", fmt.Errorf("policy: decode deploy request %s: %w", r.ID, err)
		}
		dr.Approvals, dr.PatchSets = as, r.PatchSets
		if dr.Force {
			dr.ForcedAt = r.Created
		}
		id, err := e.Start(ctx, dr)
		return string(id), err
	}
}

// approveRequest records an approval of a waiting request.
func (o DeployOptions) approveRequest(ctx context.Context, c *Call, id string) (bot.Text, error) {
	who := PolicyPerson(c.Person)
	r, err := o.Policy.Gate.Approve(ctx, id, who, o.Now())
	if policy.IsGateError(err) {
		return nil, Errorf("%s", err.Error())
	}
	last := r.Approved
	msg := ""
	if n := len(last); n > 0 && strings.EqualFold(last[n-1].By, who.Name) {
		msg = fmt.Sprintf("%s approved request %s (%s).", who.Name, r.ID, last[n-1].Rule)
	}
	switch {
	case err != nil && r.State == policy.Failed:
		return bot.T(msg + " All approvals are in, but the " + string(r.Action) + " could not start: " + err.Error()), nil
	case err != nil:
		return nil, err
	case r.State == policy.Started:
		return bot.T(fmt.Sprintf("%s All approvals are in; %s %s started.", msg, string(r.Action), r.Deploy)), nil
	}
	var want []string
	for _, n := range r.Missing() {
		want = append(want, policy.NeedText(n, o.Policy.Rules.RoleNames))
	}
	return bot.T(fmt.Sprintf("%s Still waiting for %s.", msg, strings.Join(want, " and "))), nil
}

// waitingText describes the requests waiting for approvals, for status.
func (o DeployOptions) waitingText() string {
	if o.Policy == nil || o.Policy.Gate == nil {
		return ""
	}
	w, err := o.Policy.Gate.Waiting()
	if err != nil || len(w) == 0 {
		return ""
	}
	var lines []string
	for _, r := range w {
		var want []string
		for _, n := range r.Missing() {
			want = append(want, policy.NeedText(n, o.Policy.Rules.RoleNames))
		}
		what := r.What
		if p := r.Pinned(); p != "" {
			what = p // what the approvals are for
		}
		l := fmt.Sprintf("Request %s by %s to %s %s waits for %s until %s", r.ID, r.By, r.Action, what, strings.Join(want, " and "), r.Deadline.Format("15:04 UTC"))
		if r.Reason != "" {
			l += " (reason: " + r.Reason + ")"
		}
		if len(r.Approved) > 0 {
			var as []string
			for _, a := range r.Approved {
				as = append(as, a.String())
			}
			l += "; approved by " + strings.Join(as, ", ")
		}
		lines = append(lines, l+".")
	}
	return strings.Join(lines, "\n")
}

// policyCommand is `policy [revert]`: what the policy says about a deploy
// by the asker now, and the rules.
func (o DeployOptions) policyCommand() Command {
	return Command{
		Name: "policy", Usage: "policy [revert]", Help: "Says whether you may deploy now under the deploy policy (windows, claims, the next window, Friday approvals), and lists the rules.", MaxArgs: 1,
		Run: func(ctx context.Context, c *Call) (bot.Text, error) {
			action := policy.Deploy
			if len(c.Args) == 1 && strings.EqualFold(c.Args[0], "revert") {
				action = policy.Revert
			}
			d := o.Policy.decide(c, o.Calendar, action, o.Now())
			s := verdict(d)
			if lines := o.Policy.Rules.RuleLines(); len(lines) > 0 {
				s += "\nRules: " + strings.Join(lines, " ")
			}
			if w := o.waitingText(); w != "" {
				s += "\n" + w
			}
			return bot.T(s), nil
		},
	}
}
