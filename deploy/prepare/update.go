package prepare

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/git"
	"github.com/jouncebot/jouncebot/deploy/record"
	"github.com/jouncebot/jouncebot/deploy/step"
)

// Update moves each staging checkout to upstream, re-applying the
// local security patches on top, and updates the touched submodules.
type Update struct{}

// Name implements step.Step.
func (Update) Name() string { return "update" }

var couldNotApply = regexp.MustCompile(`(?m)^Could not apply [0-9a-f]+\.\.\. (.*)$`)
var conflictIn = regexp.MustCompile(`(?m)^CONFLICT \([^)]*\): .* in (\S+)$`)

// Exec implements step.Step.
func (Update) Exec(ctx context.Context, j step.Job) error {
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	for i, r := range d.Repos {
		dir := filepath.Join(j.StagingDir(), r.Dir)
		if r.Update.Done.IsZero() {
			if err := rebase(ctx, j, i, r, dir); err != nil {
				return err
			}
		}
		if len(r.Submodules) == 0 || !r.SubUpdate.Done.IsZero() {
			continue
		}
		if err := j.Checkpoint(func(d *record.Deploy) { d.Repos[i].SubUpdate.Started = time.Now().UTC() }); err != nil {
			return err
		}
		args := append([]string{"submodule", "update", "--init", "--"}, r.Submodules...)
		if _, err := j.Git().Run(ctx, dir, args...); err != nil {
			return err
		}
		if err := j.Save(func(d *record.Deploy) { d.Repos[i].SubUpdate.Done = time.Now().UTC() }); err != nil {
			return err
		}
	}
	d, _ = j.Deploy()
	var said []string
	for _, r := range d.Repos {
		s := fmt.Sprintf("%s to %s", step.RepoName(r.Dir), step.Short(r.After))
		if n := len(r.Local); n > 0 {
			s += fmt.Sprintf(" with %s re-applied", bot.Count(n, "security patch"))
		}
		if len(r.Submodules) > 0 {
			s += " and " + strings.Join(r.Submodules, ", ") + " updated"
		}
		said = append(said, s)
	}
	j.Say(ctx, step.EventProgress, bot.T("Updated "+strings.Join(said, "; ")+"."))
	return nil
}

// rebase moves one checkout onto its fetched upstream. After an
// interruption it finds out how far the last attempt got instead of
// repeating it blindly.
func rebase(ctx context.Context, j step.Job, i int, r record.Repo, dir string) error {
	g := j.Git()
	if r.Update.Pending() {
		if gitDir, err := g.Run(ctx, dir, "rev-parse", "--git-dir"); err == nil {
			if _, err := g.Run(ctx, dir, "rev-parse", "-q", "--verify", "REBASE_HEAD"); err == nil || isDir(filepath.Join(dir, gitDir, "rebase-merge")) {
				if _, err := g.Run(ctx, dir, "rebase", "--abort"); err != nil {
					return err
				}
			}
		}
		head, err := g.Run(ctx, dir, "rev-parse", "HEAD")
		if err != nil {
			return err
		}
		if head != r.Before {
			if _, err := g.Run(ctx, dir, "merge-base", "--is-ancestor", r.Upstream, "HEAD"); err != nil {
				return step.Failf("The checkout %s is at %s, neither where it was (%s) nor on top of upstream %s; someone else changed it. Look at it by hand.",
					step.RepoName(r.Dir), step.Short(head), step.Short(r.Before), step.Short(r.Upstream))
			}
			return j.Save(func(d *record.Deploy) { d.Repos[i].After, d.Repos[i].Update.Done = head, time.Now().UTC() })
		}
	}
	if err := j.Checkpoint(func(d *record.Deploy) { d.Repos[i].Update.Started = time.Now().UTC() }); err != nil {
		return err
	}
	if _, err := g.Run(ctx, dir, "rebase", r.Upstream); err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // interrupted: the next run finds out how far it got
		}
		msg := err.Error()
		var gerr *git.Error
		if errors.As(err, &gerr) {
			msg += "\n" + gerr.Stdout
		}
		if _, aerr := g.Run(context.WithoutCancel(ctx), dir, "rebase", "--abort"); aerr != nil {
			// git's words name paths in the checkout, the security
			// patch's files among them: only for the security destination.
			return j.SecurityFailure(
				fmt.Sprintf("Re-applying the local security patches on %s failed and the rebase could not be undone; staging needs a look by hand", step.RepoName(r.Dir)),
				fmt.Sprintf("Re-applying the local security patches on %s on top of upstream %s failed (%s), and git rebase --abort failed too: %s. Staging needs a look by hand.",
					step.RepoName(r.Dir), step.Short(r.Upstream), gitWords(err), gitWords(aerr)))
		}
		_ = j.Save(func(d *record.Deploy) { d.Repos[i].Update = record.Op{} })
		patch, file := "a local patch", "a file"
		if m := couldNotApply.FindStringSubmatch(msg); m != nil {
			patch = fmt.Sprintf("%q", m[1])
		}
		if m := conflictIn.FindStringSubmatch(msg); m != nil {
			file = m[1]
		}
		return j.SecurityFailure(
			fmt.Sprintf("A local security patch conflicts with this change in %s. The checkout was left as it was (at %s); the patch must be rebased by hand", step.RepoName(r.Dir), step.Short(r.Before)),
			fmt.Sprintf("Re-applying the local security patch %s on top of upstream %s conflicts in %s. The checkout %s was left as it was (at %s); the patch must be rebased by hand.",
				patch, step.Short(r.Upstream), file, step.RepoName(r.Dir), step.Short(r.Before)))
	}
	step.CrashPoint("updating")
	head, err := g.Run(ctx, dir, "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	return j.Save(func(d *record.Deploy) { d.Repos[i].After, d.Repos[i].Update.Done = head, time.Now().UTC() })
}
