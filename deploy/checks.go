package deploy

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/canary"
	"github.com/jouncebot/jouncebot/deploy/step"
)

// checks runs the stage's checks; on a failure the deployer decides.
func (s stageChecks) checks(ctx context.Context, j *Job) error {
	if len(s.Checks) == 0 {
		return nil
	}
	for {
		d, err := j.Deploy()
		if err != nil {
			return err
		}
		cr := d.Sync.Stage(s.StageName).Checks
		if cr != nil && !cr.Passed.IsZero() {
			return nil
		}
		if cr == nil || len(cr.Failed) == 0 {
			if err := s.runChecks(ctx, j); err != nil {
				return err
			}
			continue
		}
		if cr.Decision == "" {
			if err := s.awaitDecision(ctx, j, cr); err != nil {
				return err
			}
			continue
		}
		switch cr.Decision {
		case "retry":
			if err := j.Save(func(d *Deploy) {
				st := d.Sync.Stage(s.StageName)
				st.Checks, st.Retried = nil, time.Now().UTC()
			}); err != nil {
				return err
			}
			j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("Running the checks of %s again.", s.StageName)))
		case "continue":
			if err := j.Save(func(d *Deploy) { d.Sync.Stage(s.StageName).Checks.Passed = time.Now().UTC() }); err != nil {
				return err
			}
			j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("%s decided to go on despite the failed checks of %s: %s", cr.By, s.StageName, cr.Reason)))
			return nil
		default:
			who := cr.By
			if who == "" {
				who = "nobody answered in time"
			}
			return rollback(ctx, j, fmt.Sprintf("the checks of %s failed (%s; %s)", s.StageName, strings.Join(cr.Failed, " "), who))
		}
	}
}

func (s stageChecks) runChecks(ctx context.Context, j *Job) error {
	var failed, said []string
	var canaries []CanarySummary
	// marginal: every check that did not pass was a marginal canary
	// analysis, so the question says inconclusive rather than failed.
	marginal, condemned := true, false
	for _, c := range s.Checks {
		r := s.runCheck(ctx, j, c)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		said = append(said, r.Text)
		if a := r.Analysis; a != nil {
			sum := CanarySummary{Check: r.Name, Verdict: string(a.Report.Verdict)}
			if score := a.Report.Score; !math.IsNaN(score) {
				sum.Score = &score
			}
			canaries = append(canaries, sum)
			// A failed analysis rolls back at once: the canaries were
			// judged worse than the fleet, which is what they are for.
			condemned = condemned || a.Report.Verdict == canary.Fail
		}
		if !r.OK {
			failed = append(failed, r.Text)
			marginal = marginal && r.Marginal
		}
	}
	j.Say(ctx, EventProgress, bot.T(s.StageName+" checks: "+strings.Join(said, " ")))
	now := time.Now().UTC()
	if len(failed) == 0 {
		return j.Save(func(d *Deploy) { d.Sync.Stage(s.StageName).Checks = &CheckRecord{Passed: now, Canary: canaries} })
	}
	if d, err := j.Deploy(); err == nil && d.Revert != nil {
		// Rolling a revert back would bring back the change it removes.
		j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("The checks of %s still fail after the revert; going on, as rolling back would bring the reverted change back.", s.StageName)))
		return j.Save(func(d *Deploy) {
			d.Sync.Stage(s.StageName).Checks = &CheckRecord{Passed: now, Failed: failed, Decision: "continue", Canary: canaries}
		})
	}
	if condemned {
		return j.Save(func(d *Deploy) {
			d.Sync.Stage(s.StageName).Checks = &CheckRecord{Failed: failed, Asked: now, Decision: "rollback", By: "the canary analysis", Canary: canaries}
		})
	}
	if err := j.Save(func(d *Deploy) {
		d.Sync.Stage(s.StageName).Checks = &CheckRecord{Failed: failed, Asked: now, Canary: canaries}
	}); err != nil {
		return err
	}
	s.askDecision(ctx, j, now, marginal)
	return nil
}

func (s stageChecks) askDecision(ctx context.Context, j *Job, asked time.Time, marginal bool) {
	d, _ := j.Deploy()
	to := j.e.o.DecisionTimeout
	what := "failed"
	if marginal {
		what = "are not conclusive (the canary analysis is marginal; its table is above" + j.e.canaryRecords.canaryLink(j.id) + ")"
	}
	j.Say(ctx, EventNeeds, bot.Join(d.By.Mention(), bot.T(fmt.Sprintf(
		": the checks of %s "+what+". Say `retry` to run them again, `rollback` to put the previous tree back, or `continue <reason>` to go on; without an answer by %s UTC (%s) I roll back.",
		s.StageName, asked.Add(to).Format("15:04"), step.Dur(to)))))
}

func (s stageChecks) awaitDecision(ctx context.Context, j *Job, cr *CheckRecord) error {
	deadline := cr.Asked.Add(j.e.o.DecisionTimeout)
	decided, err := wait(ctx, j, deadline, func(d *Deploy) bool {
		c := d.Sync.Stage(s.StageName).Checks
		return c == nil || c.Decision != ""
	})
	if err != nil || decided {
		return err
	}
	return j.Save(func(d *Deploy) {
		if c := d.Sync.Stage(s.StageName).Checks; c != nil && c.Decision == "" {
			c.Decision = "rollback"
		}
	})
}

// wait polls the record until cond holds, the deadline passes (false), or
// ctx ends; an abort ends it with ErrAborted. A zero deadline is none.
func wait(ctx context.Context, j *Job, deadline time.Time, cond func(d *Deploy) bool) (bool, error) {
	for {
		d, err := j.Deploy()
		if err != nil {
			return false, err
		}
		if d.AbortBy != "" {
			return false, ErrAborted
		}
		if cond(d) {
			return true, nil
		}
		left := time.Minute
		if !deadline.IsZero() {
			if left = time.Until(deadline); left <= 0 {
				return false, nil
			}
		}
		t := time.NewTimer(min(left, time.Minute))
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-j.Woken():
			t.Stop()
		case <-t.C:
		}
	}
}
