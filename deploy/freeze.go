package deploy

import (
	"context"
	"fmt"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/release"
)

// snapshotStage freezes the release the hosts hold before the deploy (the
// staging checkouts at their commits before the update), to roll back to.
// It runs before the update stage when there are sync stages.
type snapshotStage struct{}

func (snapshotStage) Name() string { return "snapshot" }

func (snapshotStage) Exec(ctx context.Context, j *Job) error {
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
	rel, _, err := j.e.freeze(ctx, revs, nil)
	if err != nil {
		return err
	}
	return j.Save(func(d *Deploy) {
		if d.Sync == nil {
			d.Sync = &SyncRecord{}
		}
		d.Sync.Previous = rel.ID
	})
}

// freezeStage freezes the prepared staging tree into the deploy's release,
// the one every stage syncs, and lists the paths that differ from the
// previous release.
type freezeStage struct{}

func (freezeStage) Name() string { return "freeze" }

func (freezeStage) Exec(ctx context.Context, j *Job) error {
	e := j.e
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	if d.Sync != nil && d.Sync.Release != "" {
		return nil
	}
	if no := unapproved(d); no != "" {
		return Failf("%s", no)
	}
	var prev *release.Release
	if d.Sync != nil && d.Sync.Previous != "" {
		if prev, err = e.o.Releases.Open(d.Sync.Previous); err != nil {
			return e.internal("opening the previous release", err)
		}
	}
	revs := map[string]string{}
	for _, r := range d.Repos {
		if r.After != "" {
			revs[r.Dir] = r.After
		}
	}
	rel, commits, err := e.freeze(ctx, revs, prev)
	if err != nil {
		return err
	}
	var files []string
	if prev != nil {
		files = release.Diff(prev.Manifest, rel.Manifest)
	}
	if err := j.Save(func(d *Deploy) {
		if d.Sync == nil {
			d.Sync = &SyncRecord{}
		}
		d.Sync.Release, d.Sync.Commits, d.Sync.Files = rel.ID, commits, files
		if d.Approved != nil {
			d.Approved.Release = rel.ID
		}
	}); err != nil {
		return err
	}
	if err := e.o.Releases.Prune(rel.ID, d.Sync.Previous); err != nil {
		e.log.Warn("prune releases", "err", err)
	}
	what := "the whole tree"
	if files != nil {
		what = bot.Count(len(files), "changed file")
	}
	j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("Froze release %s (%s): every stage syncs exactly this tree.", rel.ID, what)))
	return nil
}

// freeze builds a release of the staging tree at revs (HEAD for the
// checkouts not named), hard linking from base or else the newest kept
// release. It returns the commits it read, which may not be those of
// the release when it was frozen before from other commits.
func (a *releaser) freeze(ctx context.Context, revs map[string]string, base *release.Release) (*release.Release, map[string]string, error) {
	if a.o.Releases == nil {
		return nil, nil, Failf("jouncebot has no releases directory configured (deploy.sync.releases_dir), so it cannot freeze what it syncs; nothing was synced.")
	}
	m, err := release.Read(ctx, a.syncSource(), revs)
	if err == nil && base == nil {
		if ids, _ := a.o.Releases.List(); len(ids) > 0 {
			base, _ = a.o.Releases.Open(ids[len(ids)-1])
		}
	}
	var rel *release.Release
	if err == nil {
		rel, err = a.o.Releases.Freeze(ctx, a.syncSource(), m, base)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		a.log.Error("freeze release", "err", err)
		return nil, nil, Failf("Could not freeze the staging tree into a release (the details are in jouncebot's log); nothing was synced.")
	}
	return rel, m.Commits, nil
}

// syncSource is the tree releases are frozen from: the configured sync
// source, else the staging checkout.
func (a *releaser) syncSource() string {
	if a.o.SyncSource != "" {
		return a.o.SyncSource
	}
	return a.o.StagingDir
}
