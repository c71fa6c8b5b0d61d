package prepare

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/record"
	"github.com/jouncebot/jouncebot/deploy/step"
	"github.com/jouncebot/jouncebot/deploy/workflow"
)

// Vote gives Code-Review +2 to every unmerged change.
type Vote struct{}

// Name implements step.Step.
func (Vote) Name() string { return "vote" }

// Effects implements step.Effector.
func (Vote) Effects() []string { return []string{EffectVote} }

// Exec implements step.Step.
func (Vote) Exec(ctx context.Context, j step.Job) error {
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	g := j.Gerrit()
	for _, c := range d.Changes {
		if c.Merged {
			continue
		}
		msg := fmt.Sprintf("Deploying with jouncebot (deploy %s by %s).", d.ID, d.By.Name)
		if d.Force {
			msg += " Forced: " + d.Reason
		}
		made, err := j.Do(ctx, workflow.Effect{Key: VoteKey(c.Number),
			Do: func(ctx context.Context) error {
				err := g.Review(ctx, c.Number, c.Revision, gerrit.ReviewInput{Message: msg, Labels: map[string]int{"Code-Review": 2}})
				if err == nil {
					// Said as part of the effect, so a restart after its
					// completion was recorded does not leave it unsaid.
					j.Say(ctx, step.EventProgress, bot.T(fmt.Sprintf("Code-Review +2 given on %d (patchset %d).", c.Number, c.PatchSet)))
				}
				return err
			},
			// Interrupted around the vote: look before voting again.
			Check: func(ctx context.Context) (bool, error) {
				ch, err := g.Change(ctx, c.Number)
				if err != nil {
					return false, err
				}
				return ch.Revision == c.Revision && hasVote(ch, g.Username(), "Code-Review", 2), nil
			}})
		var gerr *gerrit.Error
		if errors.As(err, &gerr) && gerr.Status == http.StatusConflict {
			// A new patchset arrived since the deploy started: the
			// deployer must look at it, as during the merge wait.
			_ = j.Forget(VoteKey(c.Number))
			ch, cerr := g.Change(ctx, c.Number)
			if cerr != nil {
				return cerr
			}
			i := slices.IndexFunc(d.Changes, func(x record.Change) bool { return x.Number == c.Number })
			if _, perr := mergeProgress(ctx, j, i, c, ch); perr != nil {
				return perr
			}
			if ch.Revision != c.Revision || ch.Merged() {
				return Vote{}.Exec(ctx, j) // vote on the rebased revision
			}
			return err
		}
		if err != nil {
			return err
		}
		if made {
			step.CrashPoint("voted")
		}
	}
	return nil
}

func hasVote(ch *gerrit.Change, user, label string, value int) bool {
	return slices.ContainsFunc(ch.Labels[label], func(a gerrit.Approval) bool { return a.Username == user && a.Value == value })
}
