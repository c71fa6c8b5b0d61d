package prepare

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/record"
	"github.com/jouncebot/jouncebot/deploy/step"
)

// Fetch fetches upstream into every staging checkout the deploy
// touches.
type Fetch struct{}

// Name implements step.Step.
func (Fetch) Name() string { return "fetch" }

// Exec implements step.Step.
func (Fetch) Exec(ctx context.Context, j step.Job) error {
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	var said []string
	for i, r := range d.Repos {
		dir := filepath.Join(j.StagingDir(), r.Dir)
		if !r.Fetch.Done.IsZero() {
			if _, err := j.Git().Run(ctx, dir, "rev-parse", "-q", "--verify", r.Upstream+"^{commit}"); err == nil {
				continue
			}
			// The fetched commit is gone (staging was replaced): fetch again.
		}
		before := r.Before
		if before == "" {
			if before, err = j.Git().Run(ctx, dir, "rev-parse", "HEAD"); err != nil {
				return err
			}
		}
		if err := j.Checkpoint(func(d *record.Deploy) { d.Repos[i].Before, d.Repos[i].Fetch.Started = before, time.Now().UTC() }); err != nil {
			return err
		}
		if _, err := j.Git().Run(ctx, dir, "fetch", "origin", r.Branch); err != nil {
			return err
		}
		up, err := j.Git().Run(ctx, dir, "rev-parse", "refs/remotes/origin/"+r.Branch)
		if err != nil {
			return err
		}
		if err := j.Save(func(d *record.Deploy) { d.Repos[i].Upstream, d.Repos[i].Fetch.Done = up, time.Now().UTC() }); err != nil {
			return err
		}
		said = append(said, fmt.Sprintf("%s at %s", step.RepoName(r.Dir), step.Short(up)))
	}
	if len(said) > 0 {
		j.Say(ctx, step.EventProgress, bot.T("Fetched "+bot.JoinNames(said)+"."))
	}
	step.CrashPoint("fetched")
	return nil
}
