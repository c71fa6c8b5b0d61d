package commands

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/calendar"
)

// Calendars is what the calendar commands need: the current calendar and a
// way to re-read its sources.
type Calendars interface {
	Calendar() *calendar.Calendar
	Refresh(ctx context.Context) (bot.Text, error)
}

// CalendarOptions configure the calendar commands.
type CalendarOptions struct {
	Source Calendars
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Notes adds per-window remarks such as claims and queue sizes.
	Notes calendar.Notes
	// Banner, when set, is said before every now/next answer (e.g. an
	// active freeze).
	Banner func(now time.Time) bot.Text
}

// CalendarCommands returns now, next, nowandnext and refresh.
func CalendarCommands(o CalendarOptions) []Command {
	if o.Now == nil {
		o.Now = time.Now
	}
	answer := func(f func(*calendar.Calendar, time.Time, calendar.Notes) bot.Text) func(context.Context, *Call) (bot.Text, error) {
		return func(ctx context.Context, c *Call) (bot.Text, error) {
			now := o.Now()
			out := f(o.Source.Calendar(), now, o.Notes)
			if o.Banner != nil {
				if b := o.Banner(now); len(b) > 0 {
					out = b.Append(bot.T("\n"), out)
				}
			}
			return out, nil
		}
	}
	return []Command{
		{Name: "now", Usage: "now", Help: "Says which deployment windows are open now.", MaxArgs: 0, Run: answer(calendar.FormatNow)},
		{Name: "next", Usage: "next", Help: "Says which deployment window starts next.", MaxArgs: 0, Run: answer(calendar.FormatNext)},
		{Name: "nowandnext", Aliases: []string{"nownext"}, Usage: "nowandnext", Help: "Says what is open now and what starts next.", MaxArgs: 0, Run: answer(calendar.FormatNowAndNext)},
		{
			Name: "refresh", Usage: "refresh", Help: "Re-reads the deployment calendar and says what changed in the windows and their queues (one read at a time: asking again while one runs joins it).", MaxArgs: 0,
			Run: func(ctx context.Context, c *Call) (bot.Text, error) {
				msg, err := o.Source.Refresh(ctx)
				var rerr *calendar.RefreshError
				if errors.As(err, &rerr) {
					return nil, Errorf("%s", rerr.Sentence(o.Now()))
				}
				return msg, err
			},
		},
	}
}

// HelpCommands returns help and version for dispatcher d.
func HelpCommands(d *Dispatcher) []Command {
	return []Command{
		{
			Name: "help", Aliases: []string{"commands"}, Usage: "help [command]", Help: "Lists the commands, or explains one.", MaxArgs: 1,
			Run: func(ctx context.Context, c *Call) (bot.Text, error) {
				if len(c.Args) == 1 {
					cmd, ok := d.Lookup(c.Args[0])
					if !ok {
						return nil, Errorf("There is no command %s. Say \"%s: help\" for the list.", Quote(c.Args[0]), d.Nick())
					}
					return helpFor(d.Nick(), cmd), nil
				}
				if !c.Private {
					return channelHelp(d), nil
				}
				return fullHelp(d), nil
			},
		},
		{
			Name: "version", Usage: "version", Help: "Says which build of jouncebot this is.", MaxArgs: 0,
			Run: func(ctx context.Context, c *Call) (bot.Text, error) { return bot.T(Version()), nil },
		},
	}
}

// channelHelp is help in a room: two lines, the command names and where
// to read more. Every line said in a room holds it for everyone.
func channelHelp(d *Dispatcher) bot.Text {
	var names []string
	for _, cmd := range d.Commands() {
		if !cmd.Hidden {
			names = append(names, cmd.Name)
		}
	}
	return bot.T(fmt.Sprintf("Commands: %s.\nSay \"%s: help <command>\" for one of them, or \"help\" to me privately for all of them with what they do.",
		strings.Join(names, ", "), d.Nick()))
}

// fullHelp is help in private: every command on its own line, as many
// lines as it takes.
func fullHelp(d *Dispatcher) bot.Text {
	out := bot.T(fmt.Sprintf("Address me as \"%s: <command>\" in a channel, or privately without the prefix. Commands:", d.Nick()))
	for _, cmd := range d.Commands() {
		if cmd.Hidden {
			continue
		}
		out = out.Append(bot.T("\n"), bot.B(cmd.Usage), bot.T(" — "+cmd.Help))
	}
	return out
}

func helpFor(nick string, c *Command) bot.Text {
	out := bot.Join(bot.B(nick+": "+c.Usage), bot.T(" — "+c.Help))
	var extra []string
	if len(c.Aliases) > 0 {
		extra = append(extra, "also: "+strings.Join(c.Aliases, ", "))
	}
	if c.Perm != Anyone {
		extra = append(extra, "for "+c.Perm.String())
	}
	if len(extra) > 0 {
		out = out.Append(bot.T(" (" + strings.Join(extra, "; ") + ")"))
	}
	return out
}

// Version describes this build: module version, VCS revision and Go version.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "jouncebot (unknown build)"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "development build"
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	out := "jouncebot " + v
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		out += ", commit " + rev
		if dirty {
			out += " with local changes"
		}
	}
	return out + ", built with " + bi.GoVersion
}
