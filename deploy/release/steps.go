package release

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/record"
	"github.com/jouncebot/jouncebot/deploy/step"
)

// Freezer freezes releases for a deploy's steps: from the staging tree
// Source into Releases.
type Freezer struct {
	// Releases keeps the releases; nil when none is configured, and
	// then a step that needs one stops the deploy saying so.
	Releases *Store
	// Source is the staging tree releases are frozen from.
	Source string
	Log    *slog.Logger
}

// Snapshot is the step that freezes the release the hosts hold before the
// deploy (the staging checkouts at their commits before the update), to
// roll back to. It runs before the update when there are sync stages.
type Snapshot struct{ *Freezer }

// Name implements step.Step.
func (Snapshot) Name() string { return "snapshot" }

// Exec implements step.Step.
func (s Snapshot) Exec(ctx context.Context, j step.Job) error {
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	if d.Sync != nil && d.Sync.Previous != "" {
		return nil
	}
	revs := map[string]string{}
	for _, r := range d.Repos {
		if r.Before != "" {
			revs[r.Dir] = r.Before
		}
	}
	rel, _, err := s.freeze(ctx, revs, nil)
	if err != nil {
		return err
	}
	return j.Save(func(d *record.Deploy) {
		if d.Sync == nil {
			d.Sync = &record.SyncRecord{}
		}
		d.Sync.Previous = rel.ID
	})
}

// Freeze is the step that freezes the prepared staging tree into the
// deploy's release, the one every stage syncs, and lists the paths that
// differ from the previous release.
type Freeze struct {
	*Freezer
	// Refuse says why deploy d may not be frozen ("" when it may): the
	// changes differ from what its approvals were for.
	Refuse func(d *record.Deploy) string
}

// Name implements step.Step.
func (Freeze) Name() string { return "freeze" }

// Exec implements step.Step.
func (s Freeze) Exec(ctx context.Context, j step.Job) error {
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	if d.Sync != nil && d.Sync.Release != "" {
		return nil
	}
	if no := s.Refuse(d); no != "" {
		return step.Failf("%s", no)
	}
	var prev *Release
	if d.Sync != nil && d.Sync.Previous != "" {
		if s.Releases == nil {
			return errNoReleases
		}
		if prev, err = s.Releases.Open(d.Sync.Previous); err != nil {
			s.Log.Error("opening the previous release", "err", err)
			return step.Sentence("jouncebot hit an internal error while opening the previous release; the details are in its log.")
		}
	}
	revs := map[string]string{}
	for _, r := range d.Repos {
		if r.After != "" {
			revs[r.Dir] = r.After
		}
	}
	rel, commits, err := s.freeze(ctx, revs, prev)
	if err != nil {
		return err
	}
	var files []string
	if prev != nil {
		files = Diff(prev.Manifest, rel.Manifest)
	}
	if err := j.Save(func(d *record.Deploy) {
		if d.Sync == nil {
			d.Sync = &record.SyncRecord{}
		}
		d.Sync.Release, d.Sync.Commits, d.Sync.Files = rel.ID, commits, files
		if d.Approved != nil {
			d.Approved.Release = rel.ID
		}
	}); err != nil {
		return err
	}
	if err := s.Releases.Prune(rel.ID, d.Sync.Previous); err != nil {
		s.Log.Warn("prune releases", "err", err)
	}
	what := "the whole tree"
	if files != nil {
		what = bot.Count(len(files), "changed file")
	}
	j.Say(ctx, step.EventProgress, bot.T(fmt.Sprintf("Froze release %s (%s): every stage syncs exactly this tree.", rel.ID, what)))
	return nil
}

var errNoReleases = step.Failf("jouncebot has no releases directory configured (deploy.sync.releases_dir), so it cannot freeze what it syncs; nothing was synced.")

// freeze builds a release of the staging tree at revs (HEAD for the
// checkouts not named), hard linking from base or else the newest kept
// release. It returns the commits it read, which may not be those of
// the release when it was frozen before from other commits.
func (f *Freezer) freeze(ctx context.Context, revs map[string]string, base *Release) (*Release, map[string]string, error) {
	if f.Releases == nil {
		return nil, nil, errNoReleases
	}
	m, err := Read(ctx, f.Source, revs)
	if err == nil && base == nil {
		if ids, _ := f.Releases.List(); len(ids) > 0 {
			base, _ = f.Releases.Open(ids[len(ids)-1])
		}
	}
	var rel *Release
	if err == nil {
		rel, err = f.Releases.Freeze(ctx, f.Source, m, base)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		f.Log.Error("freeze release", "err", err)
		return nil, nil, step.Failf("Could not freeze the staging tree into a release (the details are in jouncebot's log); nothing was synced.")
	}
	return rel, m.Commits, nil
}
