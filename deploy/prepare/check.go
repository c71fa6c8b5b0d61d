package prepare

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/record"
	"github.com/jouncebot/jouncebot/deploy/step"
)

// Check verifies that upstream holds exactly the approved commits
// (by Change-Id) besides the local-only security patches. It has no side
// effects.
type Check struct{}

// Name implements step.Step.
func (Check) Name() string { return "check" }

// Exec implements step.Step.
func (Check) Exec(ctx context.Context, j step.Job) error {
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	for i, r := range d.Repos {
		dir := filepath.Join(j.StagingDir(), r.Dir)
		incoming, err := logCommits(ctx, j.Git(), dir, "HEAD.."+r.Upstream)
		if err != nil {
			return err
		}
		local, err := logCommits(ctx, j.Git(), dir, r.Upstream+"..HEAD")
		if err != nil {
			return err
		}
		want := map[string]int{}
		for _, c := range d.Changes {
			if c.Repo == r.Dir {
				want[c.ChangeID] = c.Number
			}
		}
		var unexpected []string
		seen := map[string]bool{}
		for _, c := range incoming {
			ok := false
			for _, id := range c.ChangeIDs {
				if _, w := want[id]; w {
					ok, seen[id] = true, true
				}
			}
			if !ok {
				unexpected = append(unexpected, c.String())
			}
		}
		if len(unexpected) > 0 {
			then := "Find out what they are, then deploy them deliberately or revert them."
			if d.Approved != nil {
				then = "The approvals were for " + d.Approved.ChangesText() + " only: ask again once they are deployed deliberately or reverted."
			}
			return step.Failf("Upstream of %s (%s) has commits that are not part of this deploy: %s. %s",
				step.RepoName(r.Dir), r.Branch, strings.Join(unexpected, "; "), then)
		}
		for id, n := range want {
			if seen[id] {
				continue
			}
			if in, err := j.Git().Run(ctx, dir, "log", "-n", "500", "--format=%(trailers:key=Change-Id,valueonly)", "HEAD"); err == nil && strings.Contains(in, id) {
				continue // already in staging
			}
			return step.Failf("%d merged, but upstream of %s (%s) does not contain it (Change-Id %s); Gerrit and git disagree, try again in a minute.",
				n, step.RepoName(r.Dir), r.Branch, id)
		}
		subs, err := changedSubmodules(ctx, j.Git(), dir, "HEAD..."+r.Upstream)
		if err != nil {
			return err
		}
		var patches []string
		for k := len(local) - 1; k >= 0; k-- {
			// A local commit of a change being deployed (a revert made
			// in staging and synced first) is dropped by the rebase.
			if slices.ContainsFunc(local[k].ChangeIDs, func(id string) bool { _, w := want[id]; return w }) {
				continue
			}
			patches = append(patches, local[k].Subject)
		}
		if err := j.Save(func(d *record.Deploy) { d.Repos[i].Local, d.Repos[i].Submodules = patches, subs }); err != nil {
			return err
		}
		msg := fmt.Sprintf("Upstream of %s holds exactly the approved changes (%s)", step.RepoName(r.Dir), bot.Count(len(incoming), "new commit"))
		if len(patches) > 0 {
			msg += fmt.Sprintf("; %s will be kept", bot.Count(len(patches), "local security patch"))
		}
		j.Say(ctx, step.EventProgress, bot.T(msg+"."))
	}
	return nil
}
