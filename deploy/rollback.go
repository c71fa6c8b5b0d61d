package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/sallines"
)

// rollback puts every host that received the new tree back to the saved
// one, verifies it and ends the deploy with a failure saying a revert is
// needed. It resumes where it stopped after a restart.
func rollback(ctx context.Context, j *Job, reason string) error {
	a := j.a
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	if d.Sync.Release == "" {
		return Failf("Stopped because %s, but there is no saved tree to roll back to; the hosts that were synced hold the new tree. Revert %s before the next deploy.", reason, changeList(d.Changes))
	}
	start := time.Now()
	if d.Sync.Rollback == nil {
		now := time.Now().UTC()
		if err := j.Save(func(d *Deploy) {
			d.Sync.Rollback = &RollbackRecord{Reason: reason, Started: now, Hosts: map[string]map[string]HostResult{}, Verified: map[string]map[string]HostResult{}}
		}); err != nil {
			return err
		}
		n := touchedHosts(d)
		a.salLog(ctx, d, sallines.StartedRollback(salSummary(d), n, reason))
		j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("Rolling back %s to the tree from before deploy %s, because %s.", bot.Count(n, "host"), d.ID, reason)))
		d, _ = j.Deploy()
	} else {
		start = d.Sync.Rollback.Started
	}
	var bad []string
	total, verified := 0, true
	for _, st := range a.o.Stages {
		ss, ok := st.(*SyncStage)
		if !ok {
			continue
		}
		rec := d.Sync.Stages[ss.StageName]
		if rec == nil || len(rec.Hosts) == 0 {
			continue
		}
		failed, n, err := rollbackStage(ctx, j, ss, rec)
		if errors.Is(err, errUnverified) {
			verified, err = false, nil
		}
		if err != nil {
			return err
		}
		bad = append(bad, failed...)
		total += n
	}
	if err := j.Save(func(d *Deploy) { d.Sync.Rollback.Done = time.Now().UTC() }); err != nil {
		return err
	}
	d, _ = j.Deploy()
	if len(bad) > 0 {
		return Failf("Rolled back because %s, but %s could not be put back or verified: %s. Look at them by hand; %s is still merged in Gerrit, revert it before the next deploy (`revert %s`).",
			reason, bot.Count(len(bad), "host"), strings.Join(bad, "; "), changeList(d.Changes), changeList(d.Changes))
	}
	how := "verified byte for byte"
	if !verified {
		how = "not verified (a stage syncs with a command)"
	}
	if verified {
		a.salLog(ctx, d, sallines.FinishedRollback(salSummary(d), total, time.Since(start)))
	} else {
		a.salLog(ctx, d, fmt.Sprintf("Finished rollback of %s, not verified (a stage syncs with a command): %s (duration: %s); the change is still merged, revert it before the next deploy",
			bot.Count(total, "host"), salSummary(d), sallines.Duration(time.Since(start))))
	}
	verb := "hold"
	if total == 1 {
		verb = "holds"
	}
	return Failf("Rolled back because %s: %s %s the previous tree again, %s. %s is still merged in Gerrit: revert it before the next deploy (`revert %s`).",
		reason, bot.Count(total, "host"), verb, how, changeList(d.Changes), changeList(d.Changes))
}

// needsRollback reports whether an aborted deploy left hosts with the new
// tree (a revert is not rolled back: that would bring the bad change back).
func needsRollback(d *Deploy) bool {
	return d.Sync != nil && d.Revert == nil && touchedHosts(d) > 0 && !d.Sync.Started.IsZero() &&
		d.Sync.SALEnd.IsZero() && (d.Sync.Rollback == nil || d.Sync.Rollback.Done.IsZero())
}

func touchedHosts(d *Deploy) int {
	n := 0
	for _, r := range d.Sync.Stages {
		n += len(r.Hosts)
	}
	return n
}

// rollbackStage syncs the saved tree to the hosts of one stage that got
// (or may have got) the new tree, then verifies them. It returns the hosts
// that failed, as "host: why".
func rollbackStage(ctx context.Context, j *Job, ss *SyncStage, rec *StageRecord) ([]string, int, error) {
	d, err := j.Deploy()
	if err != nil {
		return nil, 0, err
	}
	hs, err := ss.Hosts()
	if err != nil {
		return nil, 0, Failf("Cannot roll back %s: %s.", ss.StageName, err)
	}
	hs.Log = j.a.log
	var hosts []hostsync.Host
	for name, r := range rec.Hosts {
		hosts = append(hosts, hostsync.Host{Name: name, Dest: r.Dest})
	}
	slices.SortFunc(hosts, func(x, y hostsync.Host) int { return strings.Compare(x.Name, y.Name) })
	hs.Hosts, hs.MaxFailed = hosts, len(hosts)
	done := map[string]bool{}
	for h, r := range d.Sync.Rollback.Hosts[ss.StageName] {
		if r.Err == "" {
			done[h] = true
		}
	}
	name := ss.StageName
	record := func(verify bool) func(hostsync.Result) {
		return func(r hostsync.Result) {
			hr := HostResult{Time: time.Now().UTC(), Duration: r.Duration}
			if r.Err != nil {
				hr.Err = r.Err.Error()
			}
			_ = j.Save(func(d *Deploy) {
				rb := d.Sync.Rollback
				if rb.Hosts == nil {
					rb.Hosts = map[string]map[string]HostResult{}
				}
				if rb.Verified == nil {
					rb.Verified = map[string]map[string]HostResult{}
				}
				m := rb.Hosts
				if verify {
					m = rb.Verified
				}
				if m[name] == nil {
					m[name] = map[string]HostResult{}
				}
				m[name][r.Host] = hr
			})
		}
	}
	src := d.Sync.Release
	rep, err := hs.Sync(ctx, hostsync.Job{Source: src, Paths: d.Sync.Files, Done: done, OnResult: record(false)})
	if ctx.Err() != nil {
		return nil, 0, ctx.Err()
	}
	if rep == nil {
		return nil, 0, err
	}
	var bad []string
	for _, f := range rep.Failed() {
		bad = append(bad, f.Host+": "+f.Err.Error())
	}
	verifier := ss.Verify
	if rs, ok := hs.Method.(*hostsync.Rsync); ok && verifier == nil {
		verifier = &hostsync.Verify{Rsync: *rs}
	}
	if verifier == nil {
		j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("%s: %d/%d hosts rolled back with the sync command; they could not be verified byte for byte.", name, len(hosts)-len(bad), len(hosts))))
		return bad, len(hosts), errUnverified
	}
	vs := *hs
	vs.Method = verifier
	vrep, _ := vs.Sync(ctx, hostsync.Job{Source: src, Paths: d.Sync.Files, OnResult: record(true)})
	if ctx.Err() != nil {
		return nil, 0, ctx.Err()
	}
	for _, f := range vrep.Failed() {
		if !slices.ContainsFunc(bad, func(b string) bool { return strings.HasPrefix(b, f.Host+": ") }) {
			bad = append(bad, f.Host+": "+f.Err.Error())
		}
	}
	j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("%s: %d/%d hosts rolled back and verified.", name, len(hosts)-len(bad), len(hosts))))
	return bad, len(hosts), nil
}

// errUnverified says a stage was rolled back but could not be verified.
var errUnverified = errors.New("rolled back without verification")
