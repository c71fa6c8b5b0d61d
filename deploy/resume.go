package deploy

import (
	"context"
	"fmt"

	"github.com/jouncebot/jouncebot/bot"

	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/release"
)

// After a restart the record of which hosts were synced is a hint, not
// the truth: a result may not have reached the store before the process
// died, and a host may have been changed meanwhile. Before a resumed
// deploy counts a host as done, or calls the deploy finished, it checks
// each host's release marker (one small file, written last by the sync);
// hosts that do not hold the release are synced again.

// mustCheck reports whether stage's hosts must still be checked in this
// run: the deploy was resumed and the stage has not been checked since.
func (j *Job) mustCheck(stage string) bool {
	return j.resumed && !j.checked[stage]
}

func (j *Job) markChecked(stage string) {
	if j.checked == nil {
		j.checked = map[string]bool{}
	}
	j.checked[stage] = true
}

// checkStages checks, after a restart, the hosts of the sync stages that
// ran before stage (all of them when stage is ""), in order, before the
// deploy goes on: hosts that do not hold the release are synced again.
func checkStages(ctx context.Context, j *Job, stage string) error {
	if !j.resumed {
		return nil
	}
	for _, st := range j.a.o.Stages {
		ss, ok := st.(*SyncStage)
		if !ok {
			continue
		}
		if ss.StageName == stage {
			return nil
		}
		d, err := j.Deploy()
		if err != nil {
			return err
		}
		if rec := d.Sync.Stages[ss.StageName]; rec != nil && !rec.Synced.IsZero() && j.mustCheck(ss.StageName) {
			if err := ss.sync(ctx, j); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkHosts finds out, the first time a resumed deploy meets a stage
// that had started, which of its hosts hold rel by their markers, not by
// the record. all is true when the stage had finished and every host
// still holds the release (or, for a stage that cannot be checked, when
// the record says it finished). checked is nil when nothing was checked.
// verify compares a host with a tree (see verifier); nil when the stage's
// hosts carry no marker.
func (s *SyncStage) checkHosts(ctx context.Context, j *Job, hs *hostsync.Stage, verify hostsync.Method, rel *release.Release, rec *StageRecord) (checked map[string]bool, all bool, err error) {
	if !j.mustCheck(s.StageName) {
		return nil, false, nil
	}
	j.markChecked(s.StageName)
	finished := rec != nil && !rec.Synced.IsZero()
	if rec == nil || rec.Started.IsZero() || verify == nil {
		return nil, finished, nil // nothing to check it with: the record stands
	}
	done, err := holding(ctx, hs, verify, rel, hs.Hosts)
	if err != nil {
		return nil, false, err
	}
	switch {
	case finished && len(done) == len(hs.Hosts):
		j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("Checked the %s after the restart: %s release %s.", s.StageName, holdText(len(done)), rel.ID)))
		return done, true, nil
	case finished:
		j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("Checked the %s after the restart: %d of %d hosts do not hold release %s; syncing them again.",
			s.StageName, len(hs.Hosts)-len(done), len(hs.Hosts), rel.ID)))
	case len(done) > 0:
		j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("Resuming the sync to %s: %d of %d hosts hold release %s (checked after the restart).", s.StageName, len(done), len(hs.Hosts), rel.ID)))
	}
	return done, false, nil
}

// verifier is the method that compares a host with a tree without
// changing it, for the stage method m as configured (before deliver
// wraps it): rsync's dry run when m is rsync, or a method wrapping rsync
// that says so with Unwrap. nil means the hosts cannot be checked (a sync
// command): deliver writes no marker to them either.
func verifier(m hostsync.Method) hostsync.Method {
	for {
		switch v := m.(type) {
		case *hostsync.Rsync:
			return &hostsync.Verify{Rsync: *v}
		case interface{ Unwrap() hostsync.Method }:
			m = v.Unwrap()
		default:
			return nil
		}
	}
}

// holding checks the markers of hosts, many at once, and returns those
// that hold rel.
func holding(ctx context.Context, hs *hostsync.Stage, verify hostsync.Method, rel *release.Release, hosts []hostsync.Host) (map[string]bool, error) {
	out := map[string]bool{}
	if len(hosts) == 0 {
		return out, nil
	}
	vs := hostsync.Stage{Name: hs.Name, Hosts: hosts, Method: &release.HoldsMethod{Verify: verify, Release: rel},
		Concurrency: hs.Concurrency, Timeout: hs.Timeout, MaxFailed: len(hosts)}
	rep, err := vs.Sync(ctx, hostsync.Job{})
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if rep == nil {
		return nil, err
	}
	for _, h := range rep.Synced() {
		out[h] = true
	}
	return out, nil
}
