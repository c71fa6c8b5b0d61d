package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jouncebot/jouncebot/agent"

	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/commands"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
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
		Calendar: a.calendar.Calendar,
		Freeze:   a.calendar.ActiveFreeze,
		Claims:   claimsOf(a.calendar.Book()),
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

// currentPatchSets reads the changes' current patchsets from Gerrit.
func (a *App) currentPatchSets(ctx context.Context, nums []int) (map[int]int, error) {
	out := make(map[int]int, len(nums))
	for _, n := range nums {
		ch, err := a.gerrit.Change(ctx, n)
		if gerrit.IsNotFound(err) {
			continue // the engine says so when the deploy starts
		}
		if err != nil {
			a.log.Warn("read a change's patchset", "change", n, "err", err)
			return nil, fmt.Errorf("gerrit: change %d: %w", n, err)
		}
		out[n] = ch.PatchSet
	}
	return out, nil
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
