package deploy

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/prepare"
	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// DeployedChange reads change n and says whether it is live through this
// engine: merged, in a project and branch the engine deploys, and
// deployed (its newest deploy finished and was neither rolled back nor
// reverted; with no deploy of it on record, the staging checkout holds
// it; and staging holds no revert of it, such as a revert through
// Gerrit). why is "" when it is, else a sentence for people saying which of
// these does not hold. A change that is not merged is returned with no
// why: the caller says so in its own words.
func (e *Engine) DeployedChange(ctx context.Context, n int) (ch *gerrit.Change, why string, err error) {
	ch, err = e.gerrit.Change(ctx, n)
	if err != nil || !ch.Merged() {
		return ch, "", err
	}
	c, problem := e.changes.resolver().Classify(ch, prepare.Ref{})
	if problem != "" {
		return ch, fmt.Sprintf("Change %d is merged in %s on %s, which the bot does not deploy: its maintenance scripts run only for changes the bot deployed.", n, ch.Project, ch.Branch), nil
	}
	last, err := e.records.lastDeployOf(n)
	if err != nil {
		return nil, "", err
	}
	switch {
	case last == nil:
		// No deploy of it on record: staging says whether it was
		// deployed (by hand, or before the bot).
	case last.RolledBack:
		return ch, fmt.Sprintf("Change %d was rolled back (deploy %s): it is merged but not live, so its maintenance scripts do not run.", n, last.ID), nil
	case !terminal(last.State):
		return ch, fmt.Sprintf("Change %d is being deployed (deploy %s): run maint %d once the deploy is done.", n, last.ID, n), nil
	case last.State != stateDone:
		// Its last deploy failed or was aborted: staging says whether an
		// earlier one (or a deploy by hand) brought it.
	case last.Reverted:
		return ch, fmt.Sprintf("Change %d was reverted (deploy %s): its maintenance scripts do not run.", n, last.ID), nil
	}
	// Deployed or not, staging says whether a revert came after it (a
	// revert through Gerrit is another change, deployed by its own
	// deploy).
	dir := filepath.Join(e.o.StagingDir, c.Repo, c.Submodule)
	h, err := prepare.StagedHistory(ctx, e.git, dir)
	if err != nil {
		return nil, "", err
	}
	switch _, rev, ok := prepare.DeployedIn(h, ch.ChangeID); {
	case !ok && last != nil && last.State == stateDone:
		// Deployed, further back than the history read.
	case !ok:
		return ch, fmt.Sprintf("Change %d is merged but not deployed: the staging checkout does not hold it. Deploy it first (deploy %d), then run maint %d.", n, n, n), nil
	case rev != nil:
		return ch, fmt.Sprintf("Change %d was reverted by %s, which staging holds: its maintenance scripts do not run.", n, e.changes.resolver().RevertName(ctx, rev, ch.Private)), nil
	}
	return ch, "", nil
}

// lastDeployOf returns the newest deploy (not prepare-only) of change n
// on record, or nil.
func (a *records) lastDeployOf(n int) (*Summary, error) {
	var last *Summary
	err := a.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(store.Deploys).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			d, err := DecodeSummary(v)
			if err != nil {
				return fmt.Errorf("deploy %s: %w", k, err)
			}
			if !d.PrepareOnly && slices.ContainsFunc(d.Changes, func(c Change) bool { return c.Number == n }) {
				last = d
				return nil
			}
		}
		return nil
	})
	return last, err
}
