package deploy

import (
	"context"

	"github.com/jouncebot/jouncebot/deploy/judge"
	"github.com/jouncebot/jouncebot/deploy/prepare"
	"github.com/jouncebot/jouncebot/deploy/release"
	"github.com/jouncebot/jouncebot/deploy/step"
)

// Stage is one step of a deploy. Exec runs it from wherever the deploy's
// record says it got to, writes its intent with Job.Checkpoint before every
// side effect and its outcome with Job.Save after, and returns nil when the
// stage is complete, a *Failure (see Failf) to stop the deploy, or ctx's
// error when interrupted (the deploy resumes at this stage on restart). Part
// 2's sync stages are Stages appended through Options.Stages.
type Stage interface {
	Name() string
	Exec(ctx context.Context, j *Job) error
}

// placed is a step of one of the deploy's places (package prepare), which
// sees the deploy as a step.Job, as a Stage.
type placed struct{ step.Step }

var _ step.Job = (*Job)(nil)

func (p placed) Exec(ctx context.Context, j *Job) error { return p.Step.Exec(ctx, j) }

// Effects implements effector for a step that declares its effects.
func (p placed) Effects(*Options) []string {
	if e, ok := p.Step.(step.Effector); ok {
		return e.Effects()
	}
	return nil
}

// prepared are the steps of package prepare, in order, with the
// engine's options.
func prepared(o *Options) []Stage {
	return []Stage{placed{prepare.Vote{}},
		placed{prepare.Merge{Timeout: o.MergeTimeout, PollInterval: o.PollInterval, ProgressEvery: o.ProgressEvery}},
		placed{prepare.Fetch{}}, placed{prepare.Check{}}, placed{prepare.Update{}}, placed{prepare.Verify{}}}
}

// released are the steps of package release, with the engine's
// options: the snapshot of what the hosts hold before the update, and
// the freeze of the release to deploy after it.
func (a *releaser) released() (snapshot, freeze Stage) {
	f := &release.Freezer{Releases: a.o.Releases, Source: a.syncSource(), Log: a.log}
	return placed{release.Snapshot{Freezer: f}}, placed{release.Freeze{Freezer: f, Refuse: judge.Unapproved}}
}
