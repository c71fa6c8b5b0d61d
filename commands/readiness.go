package commands

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/prepare"
	"github.com/jouncebot/jouncebot/readiness"
)

// Checker runs a readiness check; *readiness.Checker is one.
type Checker interface {
	Check(ctx context.Context, w calendar.Window) (readiness.Result, error)
}

// ReadinessOptions configure the check command.
type ReadinessOptions struct {
	Checker  Checker
	Calendar interface{ Calendar() *calendar.Calendar }
	Now      func() time.Time
	Person   func(name string) bot.Person
	// URL is the web address of a window's full report ("" when none).
	URL func(windowShort string) string
	// Private, when set, sends the check's details that name local
	// security patches to the security destination (and to the asker,
	// when a member of it); the reply carries only the neutral sentence.
	Private func(ctx context.Context, c *Call, res readiness.Result)
}

// ReadinessCommands returns check.
func ReadinessCommands(o ReadinessOptions) []Command {
	if o.Now == nil {
		o.Now = time.Now
	}
	return []Command{{
		Name: "check", Usage: "check [window]", Perm: Anyone, MaxArgs: -1,
		Help: "Checks whether the patches queued for a window (default: the open or next backport window) can be deployed, without changing anything.",
		Run: func(ctx context.Context, c *Call) (bot.Text, error) {
			now := o.Now()
			cal := o.Calendar.Calendar()
			var w calendar.Window
			var err error
			if len(c.Args) > 0 {
				w, err = findWindow(cal, strings.Join(c.Args, " "), now)
			} else {
				w, err = defaultBackport(cal, now)
			}
			if err != nil {
				return nil, err
			}
			res, err := o.Checker.Check(ctx, w)
			if err != nil {
				return nil, fmt.Errorf("check %s: %w", w.ID, err)
			}
			if o.Private != nil {
				o.Private(ctx, c, res)
			}
			url := ""
			if o.URL != nil {
				url = o.URL(w.Short)
			}
			return readiness.Summary(res, o.Person, url), nil
		},
	}}
}

// BlockedFunc says why the last readiness check found a change blocked,
// as a sentence; ok is false when it was not (or not checked).
type BlockedFunc func(change int, now time.Time) (why string, ok bool)

// StoredBlocks answers BlockedFunc from the stored checks.
func StoredBlocks(s *readiness.Store) BlockedFunc {
	return func(change int, now time.Time) (string, bool) {
		p, res, ok := s.Latest(change, now)
		if !ok || p.Status != readiness.Blocked {
			return "", false
		}
		return fmt.Sprintf("The readiness check at %s UTC found change %d blocked: %s.", res.CheckedAt.UTC().Format("15:04"), change, p.Reason()), true
	}
}

// knownBlocked says why changes of a deploy request are known blocked.
func knownBlocked(blocked BlockedFunc, req deploy.Request, now time.Time) string {
	if blocked == nil || req.Force {
		return ""
	}
	var out []string
	for _, s := range req.Changes {
		ref, err := prepare.ParseChange(s)
		if err != nil {
			continue
		}
		if why, ok := blocked(ref.Number, now); ok {
			out = append(out, why)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, " ") + " Fix it and say \"check\" to check again, or deploy with --force and a reason to go ahead anyway."
}
