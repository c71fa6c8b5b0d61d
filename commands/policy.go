package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy"
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
}

// PolicyPerson is a configured person as the policy sees them.
func PolicyPerson(p *config.Person) policy.Person {
	if p == nil {
		return policy.Person{}
	}
	return policy.Person{Name: p.Name, Nick: p.Nick(), Roles: p.Roles, Admin: p.Has(config.RoleAdmin)}
}

// decide evaluates the policy for c's sender doing action now.
func (p *Policy) decide(c *Call, w Windows, action policy.Action, now time.Time) policy.Decision {
	claims := map[string]string{}
	if p.Claims != nil {
		if got, err := p.Claims(); err == nil {
			claims = got
		}
	}
	conv := func(ws []calendar.Window) []policy.Window {
		out := make([]policy.Window, 0, len(ws))
		for _, x := range ws {
			out = append(out, policy.Window{ID: x.ID, Name: x.Name, Kind: x.Kind, Start: x.Start, End: x.End,
				Deployers: x.Deployers, ClaimedBy: claims[x.ID]})
		}
		return out
	}
	cal := w.Calendar()
	var upcoming []calendar.Window
	for _, x := range cal.Between(now, now.Add(24*time.Hour)) {
		if x.Start.After(now) {
			upcoming = append(upcoming, x)
		}
	}
	in := policy.Input{Action: action, By: PolicyPerson(c.Person), Now: now, Active: conv(cal.Active(now)), Upcoming: conv(upcoming)}
	if f, ok := w.ActiveFreeze(now); ok {
		in.Frozen = fmt.Sprintf("%s until %s", f.Reason, f.To.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if p.Estimate != nil {
		in.Estimate, in.EstimateFrom = p.Estimate()
	}
	return p.Rules.Evaluate(in)
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
	r, err := p.Gate.Ask(policy.Request{Action: action, By: req.By.Name, Origin: req.Origin, What: strings.Join(req.Changes, " "),
		Created: now.UTC(), Deadline: now.Add(d.Timeout).UTC(), Needs: needs, Payload: body})
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

// StartApproved starts the deploy or revert of a request whose approvals
// are all in, for policy.GateOptions.Start.
func StartApproved(e deploy.Engine) func(ctx context.Context, r policy.Request) (string, error) {
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
			id, err := e.Revert(ctx, rr)
			return string(id), err
		}
		var dr deploy.Request
		if err := json.Unmarshal(r.Payload, &dr); err != nil {
			return "", fmt.Errorf("policy: decode deploy request %s: %w", r.ID, err)
		}
		dr.Approvals = as
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
		l := fmt.Sprintf("Request %s by %s to %s %s waits for %s until %s", r.ID, r.By, r.Action, r.What, strings.Join(want, " and "), r.Deadline.Format("15:04 UTC"))
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
			return bot.T(s), nil
		},
	}
}
