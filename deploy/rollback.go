package deploy

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/deliver"
	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/release"
	"github.com/jouncebot/jouncebot/deploy/sallines"
	"github.com/jouncebot/jouncebot/deploy/step"
	"github.com/jouncebot/jouncebot/deploy/workflow"
	bolt "go.etcd.io/bbolt"
)

// rollback puts every host that received the new release back to the
// previous one, verifies it and ends the deploy with a failure saying a
// revert is needed. The first call records the rollback (with its reason
// and the number of hosts) and says so in one transaction; the rest is a
// workflow of its own (rollbackFlow), recorded in the rollback's record,
// so a restart re-enters at its first unfinished step, and once done it
// only says again how it ended.
func rollback(ctx context.Context, j *Job, reason string) error {
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	if d.Sync.Previous == "" {
		return Failf("Stopped because %s, but there is no saved tree to roll back to; the hosts that were synced hold the new tree. Revert %s before the next deploy.", reason, step.ChangeList(d.Changes))
	}
	if d.Sync.Rollback == nil {
		now := time.Now().UTC()
		n := rollbackCount(j, d)
		err := j.e.announcer.tell(ctx, j.id, func(_ *bolt.Tx, d *Deploy) ([]Event, error) {
			if d.Sync.Rollback == nil {
				d.Sync.Rollback = &RollbackRecord{Reason: reason, Started: now, Total: n}
			}
			return []Event{{Kind: EventProgress, Text: bot.T(fmt.Sprintf("Rolling back %s to release %s from before deploy %s, because %s.", bot.Count(n, "host"), d.Sync.Previous, d.ID, reason))}}, nil
		})
		if err != nil {
			return err
		}
	}
	r := &rollbackRun{j: j}
	def := rollbackFlow(&j.e.o, r)
	store := rollbackStore{records: j.e.records, id: j.id}
	r.in = &workflow.Instance{Def: def, Store: store}
	if rec, err := store.Load(); err != nil {
		return err
	} else if next := realign(def, rec); next != rec.Next {
		// Moved back to a stage: the outcome, if one was worked out
		// already, is worked out again once the stage is put back.
		if err := j.e.records.update(j.id, func(d *Deploy) error {
			rb := d.Sync.Rollback
			rb.Step, rb.Done, rb.Outcome, rb.SALLine = next, time.Time{}, "", ""
			return nil
		}); err != nil {
			return err
		}
	}
	err = r.in.Run(ctx)
	if errors.Is(err, workflow.ErrUnknownStep) {
		return Failf("The rollback was at a step this jouncebot does not know (%s).", strings.TrimPrefix(err.Error(), workflow.ErrUnknownStep.Error()+" "))
	}
	if err != nil {
		return err
	}
	if d, err = j.Deploy(); err != nil {
		return err
	}
	return Failf("%s", d.Sync.Rollback.Outcome)
}

// The steps of a rollback's workflow, besides one per sync stage
// (rollbackStagePrefix and the stage's name), and the effects they make.
const (
	rollbackStartLine   = "start-line"
	rollbackOutcome     = "outcome"
	rollbackFinishLine  = "finish-line"
	rollbackStagePrefix = "stage/"

	salStartRollback  = "sal/start-rollback"  // "Started rollback …" (also RollbackRecord.SALStarted)
	salFinishRollback = "sal/finish-rollback" // its closing line (also RollbackRecord.SALEnd)
)

// rollbackFlow is the workflow of a rollback run by r (nil only to list
// its points): the "Started rollback" SAL line; each sync stage's hosts
// put back and verified, one step per stage of o, in order; the outcome,
// worked out from the stages' results; and the closing SAL line. Its
// points are named "rollback/" and the workflow's point.
func rollbackFlow(o *Options, r *rollbackRun) *workflow.Definition {
	def := &workflow.Definition{Point: func(p string) { step.CrashPoint("rollback/" + p) }}
	def.Steps = append(def.Steps, workflow.Step{Name: rollbackStartLine, Effects: []string{salStartRollback},
		Run: func(ctx context.Context) (any, error) { return nil, r.startLine(ctx) }})
	for _, st := range o.Stages {
		if ss, ok := st.(*SyncStage); ok {
			def.Steps = append(def.Steps, workflow.Step{Name: rollbackStagePrefix + ss.StageName,
				Run: func(ctx context.Context) (any, error) { return r.stage(ctx, ss) }})
		}
	}
	def.Steps = append(def.Steps,
		workflow.Step{Name: rollbackOutcome, Run: func(context.Context) (any, error) { return nil, r.outcome(def) }},
		workflow.Step{Name: rollbackFinishLine, Effects: []string{salFinishRollback},
			Run: func(ctx context.Context) (any, error) { return nil, r.finishLine(ctx) }})
	return def
}

// realign is the step a rollback recorded in rec goes on at with the
// stages of def: before its outcome is worked out, the first stage step
// of def with no result on record (stage steps are safe to run again),
// so a stage is never skipped when the configuration changed since the
// rollback stopped (a stage removed, added back or moved); once every
// stage has a result, the outcome. Past the outcome, or before the
// first stage, it is rec.Next.
func realign(def *workflow.Definition, rec *workflow.Record) string {
	if rec.Next != rollbackOutcome && !strings.HasPrefix(rec.Next, rollbackStagePrefix) {
		return rec.Next
	}
	for _, s := range def.Steps {
		if _, done := rec.Results[s.Name]; strings.HasPrefix(s.Name, rollbackStagePrefix) && !done {
			return s.Name
		}
	}
	return rollbackOutcome
}

// RollbackPoints lists the points a rollback's workflow can be stopped
// at, for the crash matrix (step.CrashPoint).
func (w *flows) RollbackPoints() []string {
	var ps []string
	for _, p := range rollbackFlow(w.o, nil).Points() {
		ps = append(ps, "rollback/"+p)
	}
	return ps
}

// rollbackRun is one run of a deploy's rollback workflow.
type rollbackRun struct {
	j  *Job
	in *workflow.Instance
}

// stageRollback is the recorded result of a rollback's stage step.
type stageRollback struct {
	Failed     []string `json:",omitempty"` // hosts not put back or not verified
	Hosts      int      `json:",omitempty"` // hosts put back
	Kube       bool     `json:",omitempty"` // a Kubernetes stage
	Unverified bool     `json:",omitempty"` // synced with a command, not verified
}

// startLine writes the "Started rollback" SAL line, at least once (no
// Check: after a restart around it, it is written again rather than
// never).
func (r *rollbackRun) startLine(ctx context.Context) error {
	d, err := r.j.Deploy()
	if err != nil {
		return err
	}
	rb := d.Sync.Rollback
	_, err = r.in.Do(ctx, workflow.Effect{Key: salStartRollback, Do: func(ctx context.Context) error {
		r.j.e.releaser.salLog(ctx, d, sallines.StartedRollback(salSummary(d), rb.Total, rb.Reason))
		return nil
	}})
	return err
}

// stage puts back the hosts of sync stage ss that got (or may have got)
// the new release, and verifies them.
func (r *rollbackRun) stage(ctx context.Context, ss *SyncStage) (stageRollback, error) {
	j, e := r.j, r.j.e
	// A stage put back before the rollback moved back to an earlier
	// stage (realign) is not put back and verified again.
	var res stageRollback
	if done, err := r.in.Result(rollbackStagePrefix+ss.StageName, &res); err != nil || done {
		return res, err
	}
	d, err := j.Deploy()
	if err != nil {
		return stageRollback{}, err
	}
	synced, err := e.hosts.Stage(d.ID, deliver.Synced, ss.StageName)
	if err != nil {
		return stageRollback{}, err
	}
	if len(synced) == 0 && !stageStarted(d, ss.StageName) {
		return stageRollback{}, nil
	}
	prev, err := e.o.Releases.Open(d.Sync.Previous)
	if err != nil {
		return stageRollback{}, e.answers.internal("opening the previous release "+d.Sync.Previous, err)
	}
	failed, n, err := rollbackStage(ctx, j, ss, synced, prev)
	res = stageRollback{Failed: failed, Hosts: n, Kube: ss.Kube}
	if errors.Is(err, errUnverified) {
		res.Unverified, err = true, nil
	}
	return res, err
}

// outcome works out, from the results of the stage steps of def, how the
// rollback ended: the sentence for chat and the closing SAL line.
func (r *rollbackRun) outcome(def *workflow.Definition) error {
	j := r.j
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	rb := d.Sync.Rollback
	var bad []string
	total, kubeTotal, verified := 0, 0, true
	rec, err := r.in.Store.Load()
	if err != nil {
		return err
	}
	// Every stage put back counts, also one that left the configuration
	// since: in the order of def, then by name.
	var names []string
	for name := range rec.Results {
		if strings.HasPrefix(name, rollbackStagePrefix) {
			names = append(names, name)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		ia, ib := def.Index(a), def.Index(b)
		if ia < 0 {
			ia = len(def.Steps)
		}
		if ib < 0 {
			ib = len(def.Steps)
		}
		return cmp.Or(cmp.Compare(ia, ib), strings.Compare(a, b))
	})
	for _, name := range names {
		var sr stageRollback
		if err := json.Unmarshal(rec.Results[name], &sr); err != nil {
			return fmt.Errorf("decode the rollback's result of %s: %w", name, err)
		}
		bad = append(bad, sr.Failed...)
		total += sr.Hosts
		if sr.Kube {
			kubeTotal += sr.Hosts
		}
		verified = verified && !sr.Unverified
	}
	goneHosts, goneStages, back, err := r.unconfigured(d, def, rec)
	if err != nil {
		return err
	}
	bad = append(bad, goneHosts...)
	total += len(goneHosts) + back
	took := time.Since(rb.Started)
	sum, changes, prev := salSummary(d), step.ChangeList(d.Changes), d.Sync.Previous
	var outcome, line string
	switch {
	case len(bad) > 0 || len(goneStages) > 0:
		what, n := bot.Count(len(bad), "host"), strconv.Itoa(len(bad))
		list := bad
		for _, st := range goneStages {
			list = append(list, "the hosts of "+st+" (no longer configured)")
		}
		if len(goneStages) > 0 {
			what, n = "some hosts", "some"
		}
		outcome = fmt.Sprintf("Rolled back because %s, but %s could not be put back or verified: %s (the details are in jouncebot's log). Look at them by hand; %s is still merged in Gerrit, revert it before the next deploy (`revert %s`).",
			rb.Reason, what, strings.Join(list, "; "), changes, changes)
		line = fmt.Sprintf("Stopped rollback of %s: %s (duration: %s); %s could not be put back to release %s, look at them by hand",
			bot.Count(total, "host"), sum, sallines.Duration(took), n, prev)
	default:
		how, verb := "verified byte for byte", "hold"
		if !verified {
			how = "not verified (a stage syncs with a command)"
		}
		if total == 1 {
			verb = "holds"
		}
		outcome = fmt.Sprintf("Rolled back because %s: %s %s the previous tree again, %s. %s is still merged in Gerrit: revert it before the next deploy (`revert %s`).",
			rb.Reason, bot.Count(total, "host"), verb, how, changes, changes)
		switch {
		case kubeTotal > 0 && kubeTotal == total:
			outcome = fmt.Sprintf("Rolled back because %s: the deployments that got release %s run release %s again, every pod checked. %s is still merged in Gerrit: revert it before the next deploy (`revert %s`).",
				rb.Reason, d.Sync.Release, prev, changes, changes)
		case kubeTotal > 0:
			hosts, verb := total-kubeTotal, "hold"
			if hosts == 1 {
				verb = "holds"
			}
			outcome = fmt.Sprintf("Rolled back because %s: %s %s the previous tree again, %s, and the deployments that got release %s run release %s again, every pod checked. %s is still merged in Gerrit: revert it before the next deploy (`revert %s`).",
				rb.Reason, bot.Count(hosts, "host"), verb, how, d.Sync.Release, prev, changes, changes)
		}
		line = sallines.FinishedRollback(sum, total, took)
		if !verified {
			line = fmt.Sprintf("Finished rollback of %s, not verified (a stage syncs with a command): %s (duration: %s); the change is still merged, revert it before the next deploy",
				bot.Count(total, "host"), sum, sallines.Duration(took))
		}
	}
	return j.Save(func(d *Deploy) {
		rb := d.Sync.Rollback
		rb.Done, rb.Outcome, rb.SALLine = time.Now().UTC(), outcome, line
	})
}

// unconfigured names what the rollback could not put back, or not
// verify, because its stage left the configuration before its step ended
// (a restart with another configuration; a stage renamed counts as one
// that left): each host of such a stage that got the release or was put
// back (on record as synced or rolled back) and is not verified as put
// back, and the stage itself when none of its hosts is on record as
// synced (which of them got the release is then unknown). back counts
// the hosts of such stages verified as put back.
func (r *rollbackRun) unconfigured(d *Deploy, def *workflow.Definition, rec *workflow.Record) (hosts, stages []string, back int, err error) {
	e := r.j.e
	results := map[deliver.Kind]map[string]map[string]HostResult{}
	for _, kind := range []deliver.Kind{deliver.Synced, deliver.RolledBack, deliver.Verified} {
		if results[kind], err = e.hosts.Results(d.ID, kind); err != nil {
			return nil, nil, 0, err
		}
	}
	synced, rolled, verified := results[deliver.Synced], results[deliver.RolledBack], results[deliver.Verified]
	names := slices.Collect(maps.Keys(d.Sync.Stages))
	names = append(names, slices.Collect(maps.Keys(synced))...)
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		key := rollbackStagePrefix + name
		if _, done := rec.Results[key]; done || def.Index(key) >= 0 || (!stageStarted(d, name) && len(synced[name]) == 0) {
			continue
		}
		touched := slices.Collect(maps.Keys(synced[name]))
		touched = append(touched, slices.Collect(maps.Keys(rolled[name]))...)
		touched = append(touched, slices.Collect(maps.Keys(verified[name]))...)
		slices.Sort(touched)
		for _, h := range slices.Compact(touched) {
			if v, ok := verified[name][h]; ok && v.Done() {
				back++ // put back and verified before the stage left
				continue
			}
			hosts = append(hosts, h+" ("+name+" is no longer configured)")
		}
		if len(synced[name]) == 0 {
			stages = append(stages, name)
		}
	}
	return hosts, stages, back, nil
}

// finishLine writes the rollback's closing SAL line, at least once.
func (r *rollbackRun) finishLine(ctx context.Context) error {
	d, err := r.j.Deploy()
	if err != nil {
		return err
	}
	_, err = r.in.Do(ctx, workflow.Effect{Key: salFinishRollback, Do: func(ctx context.Context) error {
		r.j.e.releaser.salLog(ctx, d, d.Sync.Rollback.SALLine)
		return nil
	}})
	return err
}

// rollbackStore keeps a rollback's workflow record in the deploy's
// RollbackRecord. A rollback is never stopped: an abort is what starts
// one.
type rollbackStore struct {
	records
	id ID
}

func (s rollbackStore) Load() (*workflow.Record, error) {
	d, err := s.load(s.id)
	if err != nil {
		return nil, err
	}
	if d.Sync == nil || d.Sync.Rollback == nil {
		return nil, fmt.Errorf("deploy %s has no rollback on record", s.id)
	}
	return rollbackRecord(d.Sync.Rollback), nil
}

func (s rollbackStore) Update(f func(r *workflow.Record) error) error {
	return s.update(s.id, func(d *Deploy) error {
		if d.Sync == nil || d.Sync.Rollback == nil {
			return fmt.Errorf("deploy %s has no rollback on record", s.id)
		}
		r := rollbackRecord(d.Sync.Rollback)
		if err := f(r); err != nil {
			return err
		}
		setRollbackRecord(d.Sync.Rollback, r)
		return nil
	})
}

// rollbackRecord is rb's progress as the workflow reads it. A record
// from before the workflow has no step: its SAL fields say where it was
// (the stage steps are run again; each host's rollback result, or its
// marker after a restart, says whether it was put back).
func rollbackRecord(rb *RollbackRecord) *workflow.Record {
	r := &workflow.Record{Next: rb.Step, Results: maps.Clone(rb.Steps), Effects: maps.Clone(rb.Effects)}
	if r.Effects == nil {
		r.Effects = map[string]workflow.Mark{}
	}
	salMark(r, salStartRollback, rb.SALStarted)
	salMark(r, salFinishRollback, rb.SALEnd)
	if r.Next == "" {
		switch {
		case !rb.SALEnd.IsZero():
			r.Next = workflow.Done
		case !rb.Done.IsZero():
			r.Next = rollbackFinishLine
		}
	}
	return r
}

// setRollbackRecord writes r back into rb; the SAL lines' completions
// also go to the fields that said so before the workflow.
func setRollbackRecord(rb *RollbackRecord, r *workflow.Record) {
	rb.Step, rb.Steps = r.Next, r.Results
	if m := r.Effects[salStartRollback]; !m.Done.IsZero() {
		rb.SALStarted = m.Done
	}
	if m := r.Effects[salFinishRollback]; !m.Done.IsZero() {
		rb.SALEnd = m.Done
	}
	rb.Effects = nil
	if len(r.Effects) > 0 {
		rb.Effects = r.Effects
	}
}

// needsRollback reports whether an aborted deploy left hosts with the new
// release, or may have: a stage started, even with no host on record (a
// revert is not rolled back: that would bring the bad change back).
func (h hostRecords) needsRollback(d *Deploy) bool {
	if d.Sync == nil || d.Revert != nil || d.Sync.Started.IsZero() || !d.Sync.SALEnd.IsZero() {
		return false
	}
	for name := range d.Sync.Stages {
		if stageStarted(d, name) {
			return true
		}
	}
	return d.Sync.Rollback != nil || h.touched(d.ID, false) > 0
}

// stageStarted reports whether sync stage name started syncing.
func stageStarted(d *Deploy, name string) bool {
	r := d.Sync.Stages[name]
	return r != nil && !r.Started.IsZero()
}

// rollbackHostList is the hosts of stage ss a rollback puts back: those
// on record as synced and, after a restart, every host of a stage that
// started, as a host whose sync was cut short by the restart is on no
// record (a marker naming the previous release is checked on them).
func rollbackHostList(j *Job, d *Deploy, ss *SyncStage, hs *hostsync.Stage, touched map[string]HostResult) []hostsync.Host {
	var hosts []hostsync.Host
	seen := map[string]bool{}
	for name, r := range touched {
		hosts = append(hosts, hostsync.Host{Name: name, Dest: r.Dest})
		seen[name] = true
	}
	if j.resumed && stageStarted(d, ss.StageName) && hs != nil {
		for _, h := range hs.Hosts {
			if !seen[h.Name] {
				hosts = append(hosts, h)
			}
		}
	}
	slices.SortFunc(hosts, func(x, y hostsync.Host) int { return strings.Compare(x.Name, y.Name) })
	return hosts
}

// rollbackCount is the number of hosts a rollback of d puts back.
func rollbackCount(j *Job, d *Deploy) int {
	synced, err := j.e.hosts.Results(d.ID, deliver.Synced)
	if err != nil {
		j.e.log.Error("read host results", "deploy", d.ID, "err", err)
	}
	n := 0
	for _, st := range j.e.o.Stages {
		ss, ok := st.(*SyncStage)
		if !ok {
			continue
		}
		var hs *hostsync.Stage
		if j.resumed && stageStarted(d, ss.StageName) {
			hs, _ = ss.Hosts() // unreadable host groups: the recorded hosts
		}
		n += len(rollbackHostList(j, d, ss, hs, synced[ss.StageName]))
	}
	return n
}

// rollbackStage syncs the previous release to the hosts of one stage that
// got (or may have got) the new one, then verifies them. After a restart
// each host's release marker says whether it was already put back. It
// returns the names of the hosts that failed.
func rollbackStage(ctx context.Context, j *Job, ss *SyncStage, touched map[string]HostResult, prev *release.Release) ([]string, int, error) {
	d, err := j.Deploy()
	if err != nil {
		return nil, 0, err
	}
	hs, err := ss.Hosts()
	if err != nil {
		return nil, 0, Failf("Cannot roll back %s: %s.", ss.StageName, err)
	}
	hs.Log = j.e.log
	j.e.releaser.bindKube(ctx, j, hs, "rollback")
	hosts := rollbackHostList(j, d, ss, hs, touched)
	if len(hosts) == 0 {
		return nil, 0, nil
	}
	dests := map[string]string{}
	for _, h := range hosts {
		dests[h.Name] = h.Dest
	}
	hs.Hosts, hs.MaxFailed = hosts, len(hosts)
	name := ss.StageName
	sync := *hs
	sync.Method = j.e.releaser.deliver(hs, prev, "rollback")
	_, marked := sync.Method.(*release.Marked)
	verify := deliver.Verifier(hs.Method)
	done := map[string]bool{}
	results, err := j.e.hosts.Stage(d.ID, deliver.RolledBack, name)
	if err != nil {
		return nil, 0, err
	}
	for h, r := range results {
		if r.Err == "" {
			done[h] = true
		}
	}
	if j.resumed && marked && verify != nil {
		// A host whose marker names the previous release was put back,
		// if it is on record as having got the new one (its sync
		// ended, without an error): a host whose sync failed, was cut
		// short or only began may hold the old marker on a half-synced
		// tree, and is put back again.
		var fine []hostsync.Host
		for _, h := range hosts {
			if r, ok := touched[h.Name]; ok && r.Done() && !done[h.Name] {
				fine = append(fine, h)
			}
		}
		back, _, err := deliver.Holding(ctx, j.e.o.Releases, hs, verify, prev, fine)
		if err != nil {
			return nil, 0, err
		}
		for h := range back {
			done[h] = true
		}
	}
	src := prev.Tree()
	rec := j.e.hosts.Recorder(d.ID, deliver.RolledBack, name)
	rep, err := sync.Sync(ctx, hostsync.Job{Source: src, Paths: d.Sync.Files, Done: done,
		OnResult: func(r hostsync.Result) { rec.Add(r.Host, deliver.Result(dests[r.Host], r, time.Now().UTC())) }})
	if rerr := rec.Close(); rerr != nil {
		return nil, 0, rerr
	}
	if ctx.Err() != nil {
		return nil, 0, ctx.Err()
	}
	if rep == nil {
		return nil, 0, err
	}
	// Chat gets the names; rsync's own words go to the log.
	var bad []string
	for _, f := range rep.Failed() {
		bad = append(bad, f.Host)
		j.e.log.Warn("rollback of a host failed", "deploy", d.ID, "stage", name, "host", f.Host, "err", f.Err)
	}
	if verify == nil {
		j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("%s: %d/%d hosts rolled back with the sync command; they could not be verified byte for byte.", name, len(hosts)-len(bad), len(hosts))))
		return bad, len(hosts), errUnverified
	}
	vs := *hs
	vs.Log = nil // a check, not a sync
	vs.Method = verify
	if marked {
		vs.Method = &deliver.VerifyRelease{Verify: verify, Release: prev, Store: j.e.o.Releases}
	}
	vrec := j.e.hosts.Recorder(d.ID, deliver.Verified, name)
	vrep, _ := vs.Sync(ctx, hostsync.Job{Source: src, Paths: d.Sync.Files,
		OnResult: func(r hostsync.Result) { vrec.Add(r.Host, deliver.Result(dests[r.Host], r, time.Now().UTC())) }})
	if rerr := vrec.Close(); rerr != nil {
		return nil, 0, rerr
	}
	if ctx.Err() != nil {
		return nil, 0, ctx.Err()
	}
	for _, f := range vrep.Failed() {
		j.e.log.Warn("host not verified after the rollback", "deploy", d.ID, "stage", name, "host", f.Host, "err", f.Err)
		if !slices.Contains(bad, f.Host) {
			bad = append(bad, f.Host)
		}
	}
	if isKube(hs) {
		j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("%s: the deployments that got release %s run release %s again (%d of %d checked, every pod).", name, d.Sync.Release, prev.ID, len(hosts)-len(bad), len(hosts))))
		return bad, len(hosts), nil
	}
	j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("%s: %d/%d hosts rolled back and verified.", name, len(hosts)-len(bad), len(hosts))))
	return bad, len(hosts), nil
}

// errUnverified says a stage was rolled back but could not be verified.
var errUnverified = errors.New("rolled back without verification")
