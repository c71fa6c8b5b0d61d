package deploy

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/prepare"
	"github.com/jouncebot/jouncebot/deploy/step"
)

// stagedCommit is a commit of a staging checkout's recent history.
type stagedCommit struct {
	SHA       string
	ChangeIDs []string
	Subject   string
	Body      string
}

// recentCommits is how far back a staging checkout's history is searched
// for a change that is already there, as a revert searches it.
const recentCommits = 1000

// stagedHistory returns the newest commits of the checkout dir, newest
// first.
func stagedHistory(ctx context.Context, g Git, dir string) ([]stagedCommit, error) {
	out, err := g.Run(ctx, dir, "log", "-n", fmt.Sprint(recentCommits),
		"--format=%H%x1f%(trailers:key=Change-Id,valueonly,separator=%x2C)%x1f%s%x1f%b%x1e", "HEAD")
	if err != nil {
		return nil, err
	}
	var cs []stagedCommit
	for _, rec := range strings.Split(out, "\x1e") {
		f := strings.Split(strings.TrimLeft(rec, "\n"), "\x1f")
		if len(f) < 4 {
			continue
		}
		c := stagedCommit{SHA: f[0], Subject: f[2], Body: f[3]}
		for _, id := range strings.Split(f[1], ",") {
			if id = strings.TrimSpace(id); id != "" {
				c.ChangeIDs = append(c.ChangeIDs, id)
			}
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// deployedIn finds the change with changeID in history (newest first):
// its commit, and the commit that reverts it last when the change is
// reverted now (a revert of the revert brings it back). ok is false when
// the change is not there.
func deployedIn(history []stagedCommit, changeID string) (at stagedCommit, revertedBy *stagedCommit, ok bool) {
	i := -1
	for k, c := range history {
		for _, id := range c.ChangeIDs {
			if id == changeID {
				i = k
				break
			}
		}
		if i >= 0 {
			break
		}
	}
	if i < 0 {
		return stagedCommit{}, nil, false
	}
	cur, reverted := history[i].SHA, false
	for k := i - 1; k >= 0; k-- {
		if strings.Contains(history[k].Body, "This reverts commit "+cur) {
			reverted, cur = !reverted, history[k].SHA
			if reverted {
				revertedBy = &history[k]
			}
		}
	}
	if !reverted {
		revertedBy = nil
	}
	return history[i], revertedBy, true
}

// checkAlreadyDeployed adds a problem for each merged change whose commit
// the staging checkout already holds: deploying it would sync nothing new
// and log a backport that did not happen. A reverted one says by what.
func (a *changes) checkAlreadyDeployed(ctx context.Context, cs []Change, probs *problems) {
	histories := map[string][]stagedCommit{}
	for _, c := range cs {
		if !c.MergedBefore {
			continue
		}
		dir := filepath.Join(a.o.StagingDir, c.Repo, c.Submodule)
		h, seen := histories[dir]
		if !seen {
			var err error
			if h, err = stagedHistory(ctx, a.git, dir); err != nil {
				a.log.Warn("read staging history", "dir", dir, "err", err)
			}
			histories[dir] = h
		}
		at, rev, ok := deployedIn(h, c.ChangeID)
		switch {
		case !ok:
		case rev == nil:
			probs.add("Change %d is already in staging (commit %s); there is nothing to deploy.", c.Number, step.Short(at.SHA))
		default:
			probs.add("Change %d was deployed (commit %s) and then reverted by %s, which staging holds; deploying it again would change nothing. To bring it back, revert the revert in Gerrit and deploy that.",
				c.Number, step.Short(at.SHA), a.revertName(ctx, rev, c.Private))
		}
	}
}

// revertName names a revert commit for people: its Gerrit change and
// subject, or its commit when Gerrit does not know it. A revert's
// subject quotes the reverted change's: when that change is private in
// Gerrit (private), or the revert is, the revert is named
// gerrit.PrivateSubject.
func (a *changes) revertName(ctx context.Context, rev *stagedCommit, private bool) string {
	subject := rev.Subject
	if private {
		subject = gerrit.PrivateSubject
	}
	for _, id := range rev.ChangeIDs {
		if !prepare.IsChangeID(id) {
			continue
		}
		if found, err := a.gerrit.Query(ctx, "change:"+id); err == nil && len(found) > 0 {
			if found[0].Private {
				subject = gerrit.PrivateSubject
			}
			return fmt.Sprintf("%d (%q)", found[0].Number, subject)
		}
	}
	return fmt.Sprintf("commit %s (%q)", step.Short(rev.SHA), subject)
}
