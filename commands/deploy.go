package commands

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/prepare"
	"github.com/jouncebot/jouncebot/policy"
)

// Windows is what the deploy commands need of the calendar: whether a
// window is open and whether a freeze is in force.
type Windows interface {
	Calendar() *calendar.Calendar
	ActiveFreeze(t time.Time) (calendar.Freeze, bool)
}

// DeployOptions configure the deploy commands.
type DeployOptions struct {
	Engine   deploy.Service
	Calendar Windows
	Now      func() time.Time
	// Policy applies the deploy policy to deploy and revert; nil keeps
	// the engine's own rule (any open window counts).
	Policy *Policy
	// Blocked, when set, says why the last readiness check found a change
	// blocked; deploy says so before voting, and stops unless forced.
	Blocked BlockedFunc
	// Networks, when set, says how each chat network is doing (e.g.
	// "libera: connected to … but not logged in to services"); status
	// ends with it.
	Networks func() []string
}

// DeployCommands returns deploy, continue, abort, approve, status, plan and
// summary. The engine announces progress itself; its errors are sentences
// for the person who asked.
func DeployCommands(o DeployOptions) []Command {
	if o.Now == nil {
		o.Now = time.Now
	}
	fail := func(err error) (bot.Text, error) { return nil, Errorf("%s", err.Error()) }
	id := func(c *Call) deploy.ID {
		if len(c.Args) > 0 {
			return deploy.ID(c.Args[0])
		}
		return ""
	}
	act := func(f func(context.Context, deploy.ID, deploy.Person) error) func(context.Context, *Call) (bot.Text, error) {
		return func(ctx context.Context, c *Call) (bot.Text, error) {
			if err := f(ctx, id(c), deploy.PersonFrom(c.Person)); err != nil {
				return fail(err)
			}
			return nil, nil
		}
	}
	cmds := []Command{
		{
			Name: "deploy", Aliases: []string{"backport"}, Usage: "deploy [--force] [--prepare-only] <change>… [reason]",
			Help: "Deploys Gerrit changes (numbers or links): +2, waits for the merge, prepares the staging checkout; outside a window or in a freeze add --force and a reason.",
			Perm: Deployer, MinArgs: 1, MaxArgs: -1, List: &List{Max: MaxChanges, Flags: deployFlags, Item: isChange},
			Run: func(ctx context.Context, c *Call) (bot.Text, error) {
				req := DeployRequest(c, o.Calendar, o.Now())
				if err := changesValid("deploy", req.Changes); err != nil {
					return nil, err
				}
				if why := knownBlocked(o.Blocked, req, o.Now()); why != "" {
					return nil, Errorf("%s", why)
				}
				start := func() error { _, err := o.Engine.Start(ctx, req); return err }
				if o.Policy != nil {
					req.InWindow, req.Window = o.policyWindow(c, policy.Deploy)
					t, err := o.gated(ctx, c, policy.Deploy, req, req, start)
					if err != nil {
						return fail(err)
					}
					return t, nil
				}
				if err := start(); err != nil {
					return fail(err)
				}
				return nil, nil
			},
		},
		{
			Name: "continue", Usage: "continue [id] | continue <reason>", Help: "Approves a new patchset that appeared while waiting for the merge, or goes on despite failed checks (give the reason).",
			Perm: Deployer, MaxArgs: -1,
			Run: func(ctx context.Context, c *Call) (bot.Text, error) {
				who := deploy.PersonFrom(c.Person)
				err := o.Engine.Decide(ctx, "", who, "continue", c.Rest)
				if errors.Is(err, deploy.ErrNoDecision) {
					if len(c.Args) > 1 {
						return nil, Errorf("Usage: continue [id] (after a new patchset) or continue <reason> (after failed checks).")
					}
					err = o.Engine.Continue(ctx, id(c), who)
				}
				if err != nil {
					return fail(err)
				}
				return nil, nil
			},
		},
		{
			Name: "tested", Usage: "tested ok|fail", Help: "Confirms that the deploy works on the test servers (ok) or not (fail: roll back); for the patch owners and the deployer.",
			Perm: Identified, MinArgs: 1, MaxArgs: -1,
			Run: func(ctx context.Context, c *Call) (bot.Text, error) {
				var ok bool
				switch strings.ToLower(c.Args[0]) {
				case "ok", "okay", "good", "works":
					ok = true
				case "fail", "failed", "bad", "broken":
				default:
					return nil, Errorf("Say `tested ok` if it works or `tested fail` to roll back.")
				}
				if err := o.Engine.Tested(ctx, "", deploy.PersonFrom(c.Person), ok); err != nil {
					return fail(err)
				}
				return nil, nil
			},
		},
		{
			Name: "revert", Usage: "revert [--via-gerrit] [--force] <change>… [reason]",
			Help: "Reverts deployed changes: in staging first (newest first), synced to every stage, then pushed to Gerrit for review; with --via-gerrit, pushed first and deployed like any change.",
			Perm: Deployer, MinArgs: 1, MaxArgs: -1, List: &List{Max: MaxChanges, Flags: append([]string{"--via-gerrit"}, deployFlags[:2]...), Item: isChange},
			Run: func(ctx context.Context, c *Call) (bot.Text, error) {
				dr := DeployRequest(c, o.Calendar, o.Now())
				r, _ := deploy.ParseRevertArgs(c.Args)
				if err := changesValid("revert", r.Changes); err != nil {
					return nil, err
				}
				r.By, r.InWindow, r.Window, r.Frozen, r.Origin = dr.By, dr.InWindow, dr.Window, dr.Frozen, dr.Origin
				start := func() error { _, err := o.Engine.Revert(ctx, r); return err }
				if o.Policy != nil {
					r.InWindow, r.Window = o.policyWindow(c, policy.Revert)
					dr.Changes, dr.Force, dr.Reason = r.Changes, r.Force, r.Reason
					t, err := o.gated(ctx, c, policy.Revert, dr, r, start)
					if err != nil {
						return fail(err)
					}
					return t, nil
				}
				if err := start(); err != nil {
					return fail(err)
				}
				return nil, nil
			},
		},
		testedPhrase(o, "tested-ok", true),
		testedPhrase(o, "tested-fail", false),
		{Name: "retry", Usage: "retry", Help: "Runs the failed checks of the current deploy again, or checks again the hosts that did not answer after a restart.", Perm: Deployer, MaxArgs: 0, Run: decide(o, "retry")},
		{Name: "rollback", Usage: "rollback", Help: "Puts the previous tree back on every host the current deploy synced (after failed checks or instead of testing); never for a revert, which would bring the change back.", Perm: Deployer, MaxArgs: 0, Run: decide(o, "rollback")},
		{
			Name: "abort", Usage: "abort [id]", Help: "Stops the current deploy before its next step and says what was already done, or withdraws a request waiting for approvals (abort r1).", Perm: Deployer, MaxArgs: 1,
			Run: func(ctx context.Context, c *Call) (bot.Text, error) {
				if o.Policy != nil && o.Policy.Gate != nil && len(c.Args) == 1 && strings.HasPrefix(strings.ToLower(c.Args[0]), "r") {
					r, err := o.Policy.Gate.Abort(strings.ToLower(c.Args[0]), PolicyPerson(c.Person))
					if policy.IsGateError(err) {
						return nil, Errorf("%s", err.Error())
					}
					if err != nil {
						return nil, err
					}
					return bot.T(fmt.Sprintf("Request %s withdrawn; nothing was done.", r.ID)), nil
				}
				return act(o.Engine.Abort)(ctx, c)
			},
		},
		{
			Name: "approve", Usage: "approve [id]", Help: "Approves a deploy request waiting for you under the deploy policy (your claimed window, a Friday rule for your role), or another deployer's forced deploy.",
			Perm: Identified, MaxArgs: 1,
			Run: func(ctx context.Context, c *Call) (bot.Text, error) {
				if o.Policy != nil && o.Policy.Gate != nil {
					rid := ""
					if len(c.Args) > 0 {
						rid = strings.ToLower(c.Args[0])
					}
					waiting, _ := o.Policy.Gate.Waiting()
					if strings.HasPrefix(rid, "r") || (rid == "" && len(waiting) > 0) {
						return o.approveRequest(ctx, c, rid)
					}
				}
				if c.Person == nil || !c.Person.Has(config.RoleDeployer) {
					return nil, Errorf("Only people with the deployer role can approve a deploy.")
				}
				return act(o.Engine.Approve)(ctx, c)
			},
		},
		{
			Name: "status", Usage: "status", Help: "Says what the current deploy is doing and who holds the deploy lock.", MaxArgs: 0,
			Run: func(ctx context.Context, c *Call) (bot.Text, error) {
				st, err := o.Engine.Status(ctx)
				if err != nil {
					return fail(err)
				}
				out := st.Text()
				if w := o.waitingText(); w != "" {
					out = out.Append(bot.T("\n" + w))
				}
				if o.Networks != nil {
					if ns := o.Networks(); len(ns) > 0 {
						out = out.Append(bot.T("\nNetworks: " + strings.Join(ns, "; ") + "."))
					}
				}
				return out, nil
			},
		},
		{
			Name: "plan", Aliases: []string{"deploy-commands"}, Usage: "plan <change>…", Help: "Shows, without doing anything, the steps and git commands a deploy and a revert of the changes would run.", MinArgs: 1, MaxArgs: -1, List: &List{Max: MaxChanges},
			Run: func(ctx context.Context, c *Call) (bot.Text, error) {
				t, err := o.Engine.Plan(ctx, c.Args)
				if err != nil {
					return fail(err)
				}
				if o.Policy != nil {
					t = bot.T(verdict(o.Policy.decide(c, o.Calendar, policy.Deploy, o.Now())) + "\n").Append(t)
					if w := o.waitingText(); w != "" {
						// What waiting requests were asked for, at
						// which patchsets, and by whom approved.
						t = t.Append(bot.T("\n" + w))
					}
				}
				return t, nil
			},
		},
		{
			Name: "summary", Aliases: []string{"backport-summary"}, Usage: "summary <change>…", Help: "Gives the Server Admin Log summary of changes: Backport for [[gerrit:N|subject (T123)]].", MinArgs: 1, MaxArgs: -1, List: &List{Max: MaxChanges},
			Run: func(ctx context.Context, c *Call) (bot.Text, error) {
				s, err := o.Engine.Summary(ctx, c.Args)
				if err != nil {
					return fail(err)
				}
				return bot.T(s), nil
			},
		},
	}
	if o.Policy != nil {
		cmds = append(cmds, o.policyCommand())
	}
	return cmds
}

// policyWindow is the open window that allows the action under the
// policy, for the engine's record.
func (o DeployOptions) policyWindow(c *Call, action policy.Action) (bool, string) {
	d := o.Policy.decide(c, o.Calendar, action, o.Now())
	if d.Window == nil {
		return false, ""
	}
	return true, d.Window.Name
}

// deployFlags are the flags deploy.ParseArgs knows.
var deployFlags = []string{"--force", "-f", "--prepare-only", "--stop-before-sync"}

// isChange reports whether a word names a change (a number or a Gerrit link).
func isChange(w string) bool {
	_, err := prepare.ParseChange(w)
	return err == nil
}

// DeployTriggers are the phrases people answer the testing gate with,
// addressed to the bot or not: "tested ok", "tested fail".
var DeployTriggers = []Trigger{
	{Pattern: regexp.MustCompile(`(?i)^\s*tested\s+(ok|okay|good|works)\b`), Command: "tested-ok"},
	{Pattern: regexp.MustCompile(`(?i)^\s*tested\s+(fail|failed|bad|broken)\b`), Command: "tested-fail"},
}

// testedPhrase is the hidden command behind a DeployTriggers phrase. Said
// in passing in a channel it stays quiet when no deploy waits for a test,
// since the phrase may be chatter about something else; addressed to the
// bot (or in a private conversation) it is answered.
func testedPhrase(o DeployOptions, name string, ok bool) Command {
	return Command{
		Name: name, Usage: name, Help: "The phrase \"tested ok\" or \"tested fail\" said in the channel.", Hidden: true,
		Perm: Identified, MaxArgs: -1,
		Run: func(ctx context.Context, c *Call) (bot.Text, error) {
			err := o.Engine.Tested(ctx, "", deploy.PersonFrom(c.Person), ok)
			switch {
			case errors.Is(err, deploy.ErrNoTest) && !c.Addressed:
				return nil, nil
			case err != nil:
				return nil, Errorf("%s", err.Error())
			}
			return nil, nil
		},
	}
}

func decide(o DeployOptions, action string) func(context.Context, *Call) (bot.Text, error) {
	return func(ctx context.Context, c *Call) (bot.Text, error) {
		err := o.Engine.Decide(ctx, "", deploy.PersonFrom(c.Person), action, c.Rest)
		if errors.Is(err, deploy.ErrNoDecision) {
			return nil, Errorf("The deploy is not waiting for %s; it can be used after failed checks or when hosts did not answer after a restart (and rollback also while waiting for a test).", Quote(action))
		}
		if err != nil {
			return nil, Errorf("%s", err.Error())
		}
		return nil, nil
	}
}

// DeployRequest turns a deploy command into the facts the engine decides on:
// who asks, whether a window is open, and whether a freeze is in force.
func DeployRequest(c *Call, w Windows, now time.Time) deploy.Request {
	a := deploy.ParseArgs(c.Args)
	req := deploy.Request{Changes: a.Changes, By: deploy.PersonFrom(c.Person), Force: a.Force, Reason: a.Reason,
		PrepareOnly: a.PrepareOnly, Origin: c.Network + "\t" + c.Room}
	if ws := w.Calendar().Active(now); len(ws) > 0 {
		req.InWindow, req.Window = true, ws[0].Name
	}
	if f, ok := w.ActiveFreeze(now); ok {
		req.Frozen = fmt.Sprintf("%s until %s", f.Reason, f.To.UTC().Format("2006-01-02 15:04 UTC"))
	}
	return req
}

// changesValid says which word of a deploy or revert is not a change,
// before the policy is asked about it: the policy's answer would suggest
// the same word again with --force.
func changesValid(verb string, changes []string) error {
	if len(changes) == 0 {
		return Errorf("Say which changes to %s, e.g. `%s 445113` (numbers or Gerrit links).", verb, verb)
	}
	for _, ch := range changes {
		if _, err := prepare.ParseChange(ch); err != nil {
			return Errorf("%s.", err)
		}
	}
	return nil
}
