package commands

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/prepare"
	"github.com/jouncebot/jouncebot/maint"
)

// MaintOptions configure the maint command.
type MaintOptions struct {
	// Service runs the scripts; nil when no maintenance host is
	// configured (the command says so).
	Service *maint.Service
	// Change returns the scripts a merged change's Maintenance-Script
	// footers ask for, and the footers that could not be read; a
	// *maint.RefusedError when the change is not merged.
	Change func(ctx context.Context, n int) (reqs []maint.Request, bad []string, err error)
}

// MaintCommands returns the maint command: list runs, start a script (or
// what a change asks for), go on after a dry run, stop a run.
func MaintCommands(o MaintOptions) []Command {
	return []Command{{
		Name: "maint", Usage: "maint [<script> <wiki|list:NAME|all> [--args] [reason] | <change> | go <id> [reason] | stop <id>]",
		Help: "Runs a maintenance script on the maintenance host (a dry run first where the script has one), or what a change's Maintenance-Script footers ask for; without arguments lists live and recent runs.",
		Perm: Deployer, MinArgs: 0, MaxArgs: -1,
		Run: func(ctx context.Context, c *Call) (bot.Text, error) {
			if o.Service == nil {
				return nil, Errorf("Maintenance scripts are not set up here: the configuration has no maint.host.")
			}
			return o.run(ctx, c)
		},
	}}
}

func (o MaintOptions) run(ctx context.Context, c *Call) (bot.Text, error) {
	by := maintPerson(c)
	origin := c.Network + "\t" + c.Room
	switch {
	case len(c.Args) == 0:
		runs, err := o.Service.List()
		if err != nil {
			return nil, err
		}
		return o.Service.ListText(runs), nil
	case len(c.Args) >= 2 && (c.Args[0] == "go" || c.Args[0] == "stop"):
		id, err := strconv.Atoi(c.Args[1])
		if err != nil {
			return nil, Errorf("%q is not a run number; maint lists the runs.", c.Args[1])
		}
		if c.Args[0] == "stop" {
			return maintAnswer(o.Service.Stop(ctx, id, by))
		}
		r, err := o.Service.Go(ctx, id, by, strings.Join(c.Args[2:], " "))
		if err != nil {
			return maintAnswer(nil, err)
		}
		return o.Service.GoText(r), nil
	case len(c.Args) == 1:
		ref, err := prepare.ParseChange(c.Args[0])
		if err != nil {
			return nil, Errorf("Name a script and a wiki (maint <script> <wiki|list:NAME|all> [--args] [reason]), or a change whose Maintenance-Script footers say what to run.")
		}
		return o.fromChange(ctx, ref.Number, by, origin)
	}
	req, err := maint.ParseWords(c.Args)
	if err != nil {
		return maintAnswer(nil, err)
	}
	r, err := o.Service.Start(ctx, req, by, origin)
	if err != nil {
		return maintAnswer(nil, err)
	}
	return o.Service.StartedText(r), nil
}

// fromChange starts every script a change's footers ask for.
func (o MaintOptions) fromChange(ctx context.Context, n int, by maint.Person, origin string) (bot.Text, error) {
	if o.Change == nil {
		return nil, Errorf("Reading changes from Gerrit is not set up here.")
	}
	reqs, bad, err := o.Change(ctx, n)
	var re *maint.RefusedError
	var ue *UserError
	switch {
	case errors.As(err, &re):
		return maintAnswer(nil, err)
	case errors.As(err, &ue):
		return nil, err
	case err != nil:
		return nil, Errorf("Could not read change %d from Gerrit; try again in a moment.", n)
	}
	var lines []string
	for _, b := range bad {
		lines = append(lines, fmt.Sprintf("Not run: the footer %q of %d is not script, wiki, then options.", b, n))
	}
	if len(reqs) == 0 && len(bad) == 0 {
		return nil, Errorf("Change %d has no Maintenance-Script (or Maintenance) footer.", n)
	}
	for _, req := range reqs {
		r, err := o.Service.Start(ctx, req, by, origin)
		switch {
		case errors.As(err, &re):
			lines = append(lines, re.Msg)
		case err != nil:
			return nil, err
		default:
			lines = append(lines, o.Service.StartedText(r).String())
		}
	}
	return bot.T(strings.Join(lines, "\n")), nil
}

func maintAnswer(t bot.Text, err error) (bot.Text, error) {
	var re *maint.RefusedError
	if errors.As(err, &re) {
		return nil, Errorf("%s", re.Msg)
	}
	return t, err
}

func maintPerson(c *Call) maint.Person {
	if c.Person == nil {
		return maint.Person{Name: c.Nick}
	}
	return maint.Person{Name: c.Person.Name, IRCNick: c.Person.Nick(), MatrixID: c.Person.MatrixID}
}

// MaintOffer is what the bot tells the deployer after the production sync
// of changes whose footers ask for maintenance scripts ("" when none do).
func MaintOffer(changes []deploy.Change) string {
	var lines []string
	for _, c := range changes {
		for _, m := range c.Maintenance {
			lines = append(lines, fmt.Sprintf("%d asks for the maintenance script %s.", c.Number, m))
		}
		if len(c.Maintenance) > 0 {
			lines = append(lines, fmt.Sprintf("Start it with: maint %d (a dry run comes first where the script has one).", c.Number))
		}
	}
	return strings.Join(lines, "\n")
}
