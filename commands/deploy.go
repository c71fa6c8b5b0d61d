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
	"github.com/jouncebot/jouncebot/deploy"
)

// Windows is what the deploy commands need of the calendar: whether a
// window is open and whether a freeze is in force.
type Windows interface {
	Calendar() *calendar.Calendar
	ActiveFreeze(t time.Time) (calendar.Freeze, bool)
}

// DeployOptions configure the deploy commands.
type DeployOptions struct {
	Engine   deploy.Engine
	Calendar Windows
	Now      func() time.Time
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
	return []Command{
		{
			Name: "deploy", Aliases: []string{"backport"}, Usage: "deploy [--force] [--prepare-only] <change>… [reason]",
			Help: "Deploys Gerrit changes (numbers or links): +2, waits for the merge, prepares the staging checkout; outside a window or in a freeze add --force and a reason.",
			Perm: Deployer, MinArgs: 1, MaxArgs: -1,
			Run: func(ctx context.Context, c *Call) (bot.Text, error) {
				req := DeployRequest(c, o.Calendar, o.Now())
				if _, err := o.Engine.Start(ctx, req); err != nil {
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
			Perm: Deployer, MinArgs: 1, MaxArgs: -1,
			Run: func(ctx context.Context, c *Call) (bot.Text, error) {
				dr := DeployRequest(c, o.Calendar, o.Now())
				r, _ := deploy.ParseRevertArgs(c.Args)
				r.By, r.InWindow, r.Window, r.Frozen, r.Origin = dr.By, dr.InWindow, dr.Window, dr.Frozen, dr.Origin
				if _, err := o.Engine.Revert(ctx, r); err != nil {
					return fail(err)
				}
				return nil, nil
			},
		},
		testedPhrase(o, "tested-ok", true),
		testedPhrase(o, "tested-fail", false),
		{Name: "retry", Usage: "retry", Help: "Runs the failed checks of the current deploy again.", Perm: Deployer, MaxArgs: 0, Run: decide(o, "retry")},
		{Name: "rollback", Usage: "rollback", Help: "Puts the previous tree back on every host the current deploy synced (after failed checks or instead of testing).", Perm: Deployer, MaxArgs: 0, Run: decide(o, "rollback")},
		{Name: "abort", Usage: "abort [id]", Help: "Stops the current deploy before its next step and says what was already done.", Perm: Deployer, MaxArgs: 1, Run: act(o.Engine.Abort)},
		{Name: "approve", Usage: "approve <id>", Help: "Approves another deployer's forced deploy (outside a window or in a freeze).", Perm: Deployer, MinArgs: 1, MaxArgs: 1, Run: act(o.Engine.Approve)},
		{
			Name: "status", Usage: "status", Help: "Says what the current deploy is doing and who holds the deploy lock.", MaxArgs: 0,
			Run: func(ctx context.Context, c *Call) (bot.Text, error) {
				st, err := o.Engine.Status(ctx)
				if err != nil {
					return fail(err)
				}
				out := st.Text()
				if o.Networks != nil {
					if ns := o.Networks(); len(ns) > 0 {
						out = out.Append(bot.T("\nNetworks: " + strings.Join(ns, "; ") + "."))
					}
				}
				return out, nil
			},
		},
		{
			Name: "plan", Aliases: []string{"deploy-commands"}, Usage: "plan <change>…", Help: "Shows, without doing anything, the steps and git commands a deploy and a revert of the changes would run.", MinArgs: 1, MaxArgs: -1,
			Run: func(ctx context.Context, c *Call) (bot.Text, error) {
				t, err := o.Engine.Plan(ctx, c.Args)
				if err != nil {
					return fail(err)
				}
				return t, nil
			},
		},
		{
			Name: "summary", Aliases: []string{"backport-summary"}, Usage: "summary <change>…", Help: "Gives the Server Admin Log summary of changes: Backport for [[gerrit:N|subject (T123)]].", MinArgs: 1, MaxArgs: -1,
			Run: func(ctx context.Context, c *Call) (bot.Text, error) {
				s, err := o.Engine.Summary(ctx, c.Args)
				if err != nil {
					return fail(err)
				}
				return bot.T(s), nil
			},
		},
	}
}

// DeployTriggers are the phrases people answer the testing gate with,
// addressed to the bot or not: "tested ok", "tested fail".
var DeployTriggers = []Trigger{
	{Pattern: regexp.MustCompile(`(?i)^\s*tested\s+(ok|okay|good|works)\b`), Command: "tested-ok"},
	{Pattern: regexp.MustCompile(`(?i)^\s*tested\s+(fail|failed|bad|broken)\b`), Command: "tested-fail"},
}

// testedPhrase is the hidden command behind a DeployTriggers phrase. It
// stays quiet when no deploy waits for a test, since the phrase may be
// chatter about something else.
func testedPhrase(o DeployOptions, name string, ok bool) Command {
	return Command{
		Name: name, Usage: name, Help: "The phrase \"tested ok\" or \"tested fail\" said in the channel.", Hidden: true,
		Perm: Identified, MaxArgs: -1,
		Run: func(ctx context.Context, c *Call) (bot.Text, error) {
			err := o.Engine.Tested(ctx, "", deploy.PersonFrom(c.Person), ok)
			switch {
			case errors.Is(err, deploy.ErrNoTest):
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
			return nil, Errorf("The deploy is not waiting for %s; it can be used after failed checks (and rollback also while waiting for a test).", Quote(action))
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
