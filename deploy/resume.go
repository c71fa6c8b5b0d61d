package deploy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"

	"github.com/jouncebot/jouncebot/deploy/deliver"
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
	for _, st := range j.e.o.Stages {
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
			if err := (stageHosts{ss}).sync(ctx, j); err != nil {
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
// verify compares a host with a tree (see deliver.Verifier); nil when the stage's
// hosts carry no marker. results are the hosts' recorded syncs: a host
// the record says was synced but that cannot be checked now (it does not
// answer) is not taken as missing the release; the deployer decides.
func (s stageHosts) checkHosts(ctx context.Context, j *Job, hs *hostsync.Stage, verify hostsync.Method, rel *release.Release, rec *StageRecord, results map[string]HostResult) (checked map[string]bool, all bool, err error) {
	if !j.mustCheck(s.StageName) {
		return nil, false, nil
	}
	j.markChecked(s.StageName)
	finished := rec != nil && !rec.Synced.IsZero()
	if rec == nil || rec.Started.IsZero() || verify == nil {
		return nil, finished, nil // nothing to check it with: the record stands
	}
	done, unknown, err := deliver.Holding(ctx, j.e.o.Releases, hs, verify, rel, hs.Hosts)
	if err != nil {
		return nil, false, err
	}
	trusted, err := s.unreachable(ctx, j, hs, verify, rel, results, done, unknown)
	if err != nil {
		return nil, false, err
	}
	if s.Kube {
		// The clusters were read (readClusters named what differs).
		switch {
		case finished && len(done) == len(hs.Hosts):
			j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("Read the clusters after the restart: every pod of the %s runs release %s.", bot.Count(len(done), "deployment"), rel.ID)))
			return done, true, nil
		case len(done) > 0:
			j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("Resuming the rollout to %s: %d of %d deployments run release %s (read from the clusters after the restart).", s.StageName, len(done), len(hs.Hosts), rel.ID)))
		}
		return done, false, nil
	}
	switch {
	case finished && len(done) == len(hs.Hosts) && trusted > 0:
		j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("Checked the %s after the restart: %d of %d hosts hold release %s; the others go on by the record, as decided.",
			s.StageName, len(done)-trusted, len(hs.Hosts), rel.ID)))
		return done, true, nil
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

// unreachable deals with the hosts that could not be checked after a
// restart although they may hold rel (the record says they were synced,
// or says nothing of them): the deployer is
// asked and decides to check them again, to go on trusting the record,
// or to roll back. Nothing rolls back by itself. A host that is on no
// record may have got the release just before the process stopped (its
// result not saved yet), so it is asked about too; hosts that could not
// be checked and are on record as failed are synced as usual. It adds to
// done the hosts that count as holding rel and returns how many of them
// go on by the record, unchecked.
func (s stageHosts) unreachable(ctx context.Context, j *Job, hs *hostsync.Stage, verify hostsync.Method, rel *release.Release,
	results map[string]HostResult, done map[string]bool, unknown map[string]error) (trusted int, err error) {
	for {
		var lost []hostsync.Host
		var names, unrecorded []string
		for _, h := range hs.Hosts {
			err, ok := unknown[h.Name]
			r, recorded := results[h.Name]
			// A sync only begun is no record of whether the host got
			// the release.
			recorded = recorded && !r.Time.IsZero()
			if ok && (!recorded || r.Err == "") {
				j.e.log.Warn("host not checked after the restart", "deploy", j.id, "stage", s.StageName, "host", h.Name, "err", err)
				lost, names = append(lost, h), append(names, h.Name)
				if !recorded {
					unrecorded = append(unrecorded, h.Name)
				}
			}
		}
		if len(lost) == 0 {
			return 0, nil
		}
		ur, err := s.askUnreachable(ctx, j, rel, names, unrecorded)
		if err != nil {
			return 0, err
		}
		switch ur.Decision {
		case "continue":
			j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("%s decided to go on without checking %s: %s", ur.By, bot.JoinNames(names), ur.Reason)))
			for _, h := range names {
				done[h] = true
			}
			return len(names), nil
		case "rollback":
			return 0, rollback(ctx, j, fmt.Sprintf("%s decided so when %s of %s could not be checked after a restart", ur.By, bot.Count(len(names), "host"), s.StageName))
		}
		j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("Checking %s again.", bot.JoinNames(names))))
		again, still, err := deliver.Holding(ctx, j.e.o.Releases, hs, verify, rel, lost)
		if err != nil {
			return 0, err
		}
		for h := range again {
			done[h] = true
		}
		unknown = still
	}
}

// askUnreachable records the hosts of the stage that could not be
// checked (unrecorded those of them on no record), asks the deployer
// what to do and waits, without a deadline, for the answer
// (Engine.Decide).
func (s stageHosts) askUnreachable(ctx context.Context, j *Job, rel *release.Release, hosts, unrecorded []string) (*CheckRecord, error) {
	now := time.Now().UTC()
	if err := j.Save(func(d *Deploy) { d.Sync.Stage(s.StageName).Unreachable = &CheckRecord{Failed: hosts, Asked: now} }); err != nil {
		return nil, err
	}
	d, err := j.Deploy()
	if err != nil {
		return nil, err
	}
	them := "them"
	if len(hosts) == 1 {
		them = "it"
	}
	var record string
	switch {
	case len(unrecorded) == 0 && len(hosts) == 1:
		record = fmt.Sprintf("The record says it got release %s.", rel.ID)
	case len(unrecorded) == 0:
		record = fmt.Sprintf("The record says they got release %s.", rel.ID)
	case len(unrecorded) == len(hosts):
		record = fmt.Sprintf("The record does not say whether %s got release %s (jouncebot stopped during the sync).", bot.JoinNames(hosts), rel.ID)
	default:
		known := slices.DeleteFunc(slices.Clone(hosts), func(h string) bool { return slices.Contains(unrecorded, h) })
		record = fmt.Sprintf("The record says %s got release %s; it does not say whether %s did (jouncebot stopped during the sync).", bot.JoinNames(known), rel.ID, bot.JoinNames(unrecorded))
	}
	options := fmt.Sprintf("Say `retry` to check again, `continue <reason>` to go on without checking %s, or `rollback` to put the previous tree back on every host. I wait for your answer: nothing rolls back by itself.", them)
	if d.Revert != nil {
		// Rolling a revert back would bring back the change it removes.
		options = fmt.Sprintf("Say `retry` to check again or `continue <reason>` to go on without checking %s (a revert is not rolled back: that would bring the reverted change back). I wait for your answer.", them)
	}
	j.Say(ctx, EventNeeds, bot.Join(d.By.Mention(), bot.T(fmt.Sprintf(
		": %s of %s could not be checked after the restart: %s (no answer; the details are in jouncebot's log). %s %s",
		bot.Count(len(hosts), "host"), s.StageName, strings.Join(hosts, ", "), record, options))))
	pending := func(d *Deploy) *CheckRecord { return d.Sync.Stage(s.StageName).Unreachable }
	if _, err := wait(ctx, j, time.Time{}, func(d *Deploy) bool { return pending(d) == nil || pending(d).Decision != "" }); err != nil {
		return nil, err
	}
	if d, err = j.Deploy(); err != nil {
		return nil, err
	}
	if ur := pending(d); ur != nil {
		return ur, nil
	}
	return &CheckRecord{Decision: "retry"}, nil
}
