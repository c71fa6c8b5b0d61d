package app

import (
	"context"
	"net/url"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/commands"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/git"
	"github.com/jouncebot/jouncebot/readiness"
)

// setupReadiness builds the readiness check: the check command, the
// automatic check before each window, the start ping's readiness line and
// the deploy command's warning about patches known blocked (registered
// with the deploy commands, see setupDeploy).
func (a *App) setupReadiness(o Options) {
	cfg := a.cfg
	person := func(name string) bot.Person { return calendar.PersonFor(cfg, name) }
	staging := cfg.Deploy.StagingDir
	if a.sandbox != nil {
		staging = a.sandbox.Staging
	}
	store := readiness.NewStore(a.db)
	sent := &sentDetails{}
	checker := &readiness.Checker{
		Gatherer: &readiness.Gatherer{Gerrit: a.gerrit, Git: &git.Runner{Log: a.log, MaxOutput: maxReadinessOutput}, Staging: staging,
			ConfigProject: cfg.Deploy.ConfigProject, ConfigBranch: cfg.Deploy.ConfigBranch, CoreProject: cfg.Deploy.CoreProject,
			Owner: func(user string) string {
				if p := cfg.PersonByGerrit(user); p != nil {
					return p.Name
				}
				return ""
			},
			Presence: readiness.ChatPresence{Chat: a.bot, Person: person}, Log: a.log},
		Store: store, Queues: a.calendar.Book(), Calendar: a.calendar.Calendar, History: deployHistory{a.deploy},
		Now: o.Now, Log: a.log,
	}
	reportURL := func(short string) string {
		if a.baseURL == "" {
			return ""
		}
		return a.baseURL + "/windows/" + url.PathEscape(short)
	}
	a.ready = &readiness.Runner{Checker: checker, Chat: a.bot, Notices: a.calendar.Book(), Lead: *cfg.Calendar.Readiness,
		Person: person, URL: reportURL, Log: a.log,
		Security: func(ctx context.Context, text string) {
			sent.fresh(text, o.Now())
			a.sendSecurity(ctx, deploy.Event{Kind: deploy.EventSecurity, Text: bot.T(text), Time: o.Now().UTC()})
		}}
	a.announcer.SetReadiness(func(windowID string) string {
		res, ok, err := store.Load(windowID)
		if err != nil || !ok {
			return ""
		}
		return readiness.StartNote(res)
	})
	a.cmds.Register(commands.ReadinessCommands(commands.ReadinessOptions{Checker: checker, Calendar: a.calendar, Now: o.Now,
		Person: person, URL: reportURL,
		// The details as stored with the check, to the security
		// destination and to the asker when a member of it.
		Private: func(ctx context.Context, c *commands.Call, res readiness.Result) {
			details, err := store.Private(res.WindowID)
			if err != nil {
				a.log.Error("readiness: load private details", "window", res.WindowID, "err", err)
			}
			var member *commands.Call
			if a.securityMember(ctx, c) {
				member = c
			}
			for _, d := range details {
				ev := deploy.Event{Kind: deploy.EventSecurity, Text: bot.T(d), Origin: c.Network + "\t" + c.Room, Time: o.Now().UTC()}
				switch {
				case sent.fresh(d, o.Now()):
					a.sendPrivately(ctx, ev, member)
				case member != nil: // the destination has them; the member asked
					a.tellSender(ctx, member, ev.Text)
				}
			}
		}})...)
}

// maxReadinessOutput caps what the readiness check keeps of one git
// command's output.
const maxReadinessOutput = 8 << 20

// readinessReports finds a window's stored check by any of its ids.
type readinessReports struct {
	cal   *calendar.Service
	store *readiness.Store
}

func (r readinessReports) Report(_ context.Context, id string) (readiness.Result, bool, error) {
	if w, ok := r.cal.Calendar().ByID(id); ok {
		id = w.ID
	}
	return r.store.Load(id)
}

// deployHistory turns the deploy engine's history into the readiness
// estimate's samples: the time per patch, and the kind when a deploy
// carried one kind only.
type deployHistory struct {
	agent interface {
		History(n int) ([]deploy.Took, error)
	}
}

func (h deployHistory) Samples(n int) ([]readiness.Sample, error) {
	runs, err := h.agent.History(n)
	if err != nil {
		return nil, err
	}
	out := make([]readiness.Sample, 0, len(runs))
	for _, r := range runs {
		if len(r.Kinds) == 0 {
			continue
		}
		s := readiness.Sample{Kind: string(r.Kinds[0]), PerPatch: r.Took / time.Duration(len(r.Kinds))}
		for _, k := range r.Kinds {
			if string(k) != s.Kind {
				s.Kind = ""
			}
		}
		out = append(out, s)
	}
	return out, nil
}
