package prepare

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/record"
	"github.com/jouncebot/jouncebot/deploy/step"
)

// checkStaging makes sure each staging checkout exists, is on its branch
// and is clean; it returns the details for the security destination only
// (the uncommitted changes).
func (a *Resolver) checkStaging(ctx context.Context, cs []record.Change, probs *Problems) (private []string) {
	if st, err := os.Stat(a.StagingDir); err != nil || !st.IsDir() {
		probs.Add("The staging directory %s does not exist; nothing was done.", a.StagingDir)
		return
	}
	for _, r := range ReposOf(cs) {
		dir := filepath.Join(a.StagingDir, r.Dir)
		name := step.RepoName(r.Dir)
		branch, err := a.Git.Run(ctx, dir, "rev-parse", "--abbrev-ref", "HEAD")
		if err != nil {
			// git's words name paths in the checkout, a security
			// patch's among them: only for the security destination.
			private = append(private, fmt.Sprintf("git could not read the checkout %s: %s.", name, gitWords(err)))
			probs.Add("The checkout %s is not a git checkout (%s); nothing was done.", name, sentPrivately("git's words"))
			continue
		}
		if branch != r.Branch {
			probs.Add("The checkout %s is on %s, not %s; nothing was done.", name, branch, r.Branch)
		}
		st, err := a.Git.Run(ctx, dir, "status", "--porcelain")
		if err != nil {
			private = append(private, fmt.Sprintf("git status failed in the checkout %s: %s.", name, gitWords(err)))
			probs.Add("Cannot read the state of staging %s (%s); have a look at it by hand. Nothing was done.", name, sentPrivately("git's words"))
			continue
		}
		if st != "" {
			// Uncommitted changes may be an unfixed vulnerability's fix:
			// the list goes only to the security destination.
			private = append(private, fmt.Sprintf("The checkout %s has uncommitted changes: %s.", name, statusSummary(st)))
			probs.Add("The checkout %s has uncommitted changes (%s); clean it up before deploying. Nothing was done.", name,
				bot.Count(len(strings.Split(st, "\n")), "file")+"; "+sentPrivately("the list"))
		}
	}
	return private
}

// StagedCommit is a commit of a staging checkout's recent history.
type StagedCommit struct {
	SHA       string
	ChangeIDs []string
	Subject   string
	Body      string
}

// recentCommits is how far back a staging checkout's history is searched
// for a change that is already there, as a revert searches it.
const recentCommits = 1000

// StagedHistory returns the newest commits of the checkout dir, newest
// first.
func StagedHistory(ctx context.Context, g step.Git, dir string) ([]StagedCommit, error) {
	out, err := g.Run(ctx, dir, "log", "-n", fmt.Sprint(recentCommits),
		"--format=%H%x1f%(trailers:key=Change-Id,valueonly,separator=%x2C)%x1f%s%x1f%b%x1e", "HEAD")
	if err != nil {
		return nil, err
	}
	var cs []StagedCommit
	for _, rec := range strings.Split(out, "\x1e") {
		f := strings.Split(strings.TrimLeft(rec, "\n"), "\x1f")
		if len(f) < 4 {
			continue
		}
		cs = append(cs, StagedCommit{SHA: f[0], ChangeIDs: changeIDs(f[1]), Subject: f[2], Body: f[3]})
	}
	return cs, nil
}

// DeployedIn finds the change with changeID in history (newest first):
// its commit, and the commit that reverts it last when the change is
// reverted now (a revert of the revert brings it back). ok is false when
// the change is not there.
func DeployedIn(history []StagedCommit, changeID string) (at StagedCommit, revertedBy *StagedCommit, ok bool) {
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
		return StagedCommit{}, nil, false
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
func (a *Resolver) checkAlreadyDeployed(ctx context.Context, cs []record.Change, probs *Problems) {
	histories := map[string][]StagedCommit{}
	for _, c := range cs {
		if !c.MergedBefore {
			continue
		}
		dir := filepath.Join(a.StagingDir, c.Repo, c.Submodule)
		h, seen := histories[dir]
		if !seen {
			var err error
			if h, err = StagedHistory(ctx, a.Git, dir); err != nil {
				a.Log.Warn("read staging history", "dir", dir, "err", err)
			}
			histories[dir] = h
		}
		at, rev, ok := DeployedIn(h, c.ChangeID)
		switch {
		case !ok:
		case rev == nil:
			probs.Add("Change %d is already in staging (commit %s); there is nothing to deploy.", c.Number, step.Short(at.SHA))
		default:
			probs.Add("Change %d was deployed (commit %s) and then reverted by %s, which staging holds; deploying it again would change nothing. To bring it back, revert the revert in Gerrit and deploy that.",
				c.Number, step.Short(at.SHA), a.RevertName(ctx, rev, c.Private))
		}
	}
}

// RevertName names a revert commit for people: its Gerrit change and
// subject, or its commit when Gerrit does not know it. A revert's
// subject quotes the reverted change's: when that change is private in
// Gerrit (private), or the revert is, the revert is named
// gerrit.PrivateSubject.
func (a *Resolver) RevertName(ctx context.Context, rev *StagedCommit, private bool) string {
	subject := rev.Subject
	if private {
		subject = gerrit.PrivateSubject
	}
	for _, id := range rev.ChangeIDs {
		if !isChangeID(id) {
			continue
		}
		if found, err := a.Gerrit.Query(ctx, "change:"+id); err == nil && len(found) > 0 {
			if found[0].Private {
				subject = gerrit.PrivateSubject
			}
			return fmt.Sprintf("%d (%q)", found[0].Number, subject)
		}
	}
	return fmt.Sprintf("commit %s (%q)", step.Short(rev.SHA), subject)
}

// sentPrivately says where details went, for a refusal before a deploy
// exists: "the list went to the security contacts privately".
func sentPrivately(what string) string {
	return what + " went to the security contacts privately"
}
