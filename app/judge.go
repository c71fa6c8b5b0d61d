package app

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jouncebot/jouncebot/agent"

	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/commands"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/policy"
)

// engineJudge is the deploy policy for the engine in this process: the
// same rules as the chat side's, on this process's calendar, freezes,
// claims, people and deploy history, read when the deploy acts.
func (a *App) engineJudge() deploy.Judge {
	return commands.Judge(a.cfg, a.policyFacts(), a.now)
}

// policyFacts are where the policy reads its facts in the chat bot.
func (a *App) policyFacts() policy.Facts {
	return policy.Facts{
		Calendar:   a.calendar.Calendar,
		Freeze:     a.calendar.ActiveFreeze,
		LastFreeze: a.calendar.LastFreeze,
		Claims:     claimsOf(a.calendar.Book()),
		Unchecked: func() string {
			return calendarUnchecked(a.cfg, a.calendar)
		},
		Estimate: func() (time.Duration, string) {
			if a.deploy == nil {
				return 0, ""
			}
			d, from, err := a.deploy.Estimate(5)
			if err != nil {
				a.log.Warn("estimate deploy time", "err", err)
			}
			return d, from
		},
	}
}

// claimsOf returns the claimer of each claimed window in book, by window id.
func claimsOf(book *calendar.Book) func() (map[string]string, error) {
	return func() (map[string]string, error) {
		cs, err := book.Claims()
		out := make(map[string]string, len(cs))
		for id, c := range cs {
			out[id] = c.Person
		}
		return out, err
	}
}

// calendarUnchecked says why s cannot be trusted to show the next window:
// its wiki page is configured but was never read (a failed read later
// keeps the last good import, which is used).
func calendarUnchecked(cfg *config.Config, s *calendar.Service) string {
	if cfg.Calendar.Wiki == nil {
		return ""
	}
	if ok, _ := s.Imported(); !ok {
		return "the wiki's Deployments page has not been read yet"
	}
	return ""
}

// patchSetReader is an engine that reads the changes' current patchsets
// from its Gerrit: the deploy engine in this process, or the deploy
// agent's.
type patchSetReader interface {
	PatchSets(ctx context.Context, changes []int) (map[int]int, error)
}

// patchSets is where a request waiting for approvals is pinned to its
// changes' patchsets and checked at each approval: the engine that will
// deploy it (and refuses approvals without them), never a Gerrit of the
// chat side's own. Nil when no engine is configured.
func (a *App) patchSets() func(ctx context.Context, changes []int) (map[int]int, error) {
	if e, ok := a.deploy.(patchSetReader); ok {
		return e.PatchSets
	}
	return nil
}

// askerOf is the identity the chat transport vouched for in ctx (see
// App.handle), kept with a request that waits for approvals.
func askerOf(ctx context.Context) json.RawMessage {
	c, ok := agent.CallerFrom(ctx)
	if !ok {
		return nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil
	}
	return b
}

// startApproved starts an approved request as its asker: the context
// carries the asker's identity, not the last approver's, so a deploy
// agent maps the request to the person who asked for it.
func (a *App) startApproved(start func(context.Context, policy.Request) (string, error)) func(context.Context, policy.Request) (string, error) {
	return func(ctx context.Context, r policy.Request) (string, error) {
		var c agent.Caller
		if len(r.Asker) == 0 || json.Unmarshal(r.Asker, &c) != nil {
			c = agent.Caller{} // no identity: a deploy agent refuses it
		}
		return start(agent.WithCaller(ctx, c), r)
	}
}
