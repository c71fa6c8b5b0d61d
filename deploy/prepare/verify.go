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

// Verify checks the result: every change in HEAD, the security
// patches on top of upstream, submodules at their pointers, a clean tree.
type Verify struct{}

// Name implements step.Step.
func (Verify) Name() string { return "verify" }

// Exec implements step.Step.
func (Verify) Exec(ctx context.Context, j step.Job) error {
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	g := j.Git()
	for _, r := range d.Repos {
		dir := filepath.Join(j.StagingDir(), r.Dir)
		name := step.RepoName(r.Dir)
		if _, err := g.Run(ctx, dir, "merge-base", "--is-ancestor", r.Upstream, "HEAD"); err != nil {
			return step.Failf("The checkout %s does not contain upstream %s after the update.", name, step.Short(r.Upstream))
		}
		local, err := logCommits(ctx, g, dir, r.Upstream+"..HEAD")
		if err != nil {
			return err
		}
		var subjects []string
		for k := len(local) - 1; k >= 0; k-- {
			subjects = append(subjects, local[k].Subject)
		}
		if !slices.Equal(subjects, r.Local) {
			return j.SecurityFailure(fmt.Sprintf("The checkout %s does not carry the local security patches it should on top of upstream after the update", name),
				fmt.Sprintf("The checkout %s should carry the security patches %q on top of upstream, but has %q.", name, r.Local, subjects))
		}
		ids, err := g.Run(ctx, dir, "log", "-n", "500", "--format=%(trailers:key=Change-Id,valueonly)", "HEAD")
		if err != nil {
			return err
		}
		for _, c := range d.Changes {
			if c.Repo == r.Dir && !strings.Contains(ids, c.ChangeID) {
				return step.Failf("The checkout %s does not contain %d (Change-Id %s) after the update.", name, c.Number, c.ChangeID)
			}
		}
		for _, c := range d.Changes {
			if c.Kind != record.KindSubmodule || c.Repo != r.Dir {
				continue
			}
			want, err := g.Run(ctx, dir, "rev-parse", "HEAD:"+c.Submodule)
			if err != nil {
				return err
			}
			have, err := g.Run(ctx, filepath.Join(dir, c.Submodule), "rev-parse", "HEAD")
			if err != nil || have != want {
				return step.Failf("Submodule %s in staging %s is at %s, not at %s as core says.", c.Submodule, name, step.Short(have), step.Short(want))
			}
		}
		st, err := g.Run(ctx, dir, "status", "--porcelain")
		if err != nil {
			return err
		}
		if st != "" {
			// Uncommitted changes may be a security fix in the making:
			// counted in public, listed only to the security destination.
			return j.SecurityFailure(fmt.Sprintf("The checkout %s is not clean after the update (%s)", name, bot.Count(len(strings.Split(st, "\n")), "file")),
				fmt.Sprintf("The checkout %s is not clean after the update: %s.", name, statusSummary(st)))
		}
	}
	patches := 0
	for _, r := range d.Repos {
		patches += len(r.Local)
	}
	msg := fmt.Sprintf("Staging checkout ready: %s on top of upstream", step.ChangeList(d.Changes))
	if patches > 0 {
		msg += ", " + bot.Count(patches, "security patch") + " kept"
	}
	j.Say(ctx, step.EventProgress, bot.T(msg+", tree clean."))
	return nil
}
