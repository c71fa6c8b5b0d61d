package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy/check"
	"github.com/jouncebot/jouncebot/deploy/deliver"
	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/kube"
	"github.com/jouncebot/jouncebot/deploy/release"
	"github.com/jouncebot/jouncebot/deploy/sallines"
	"github.com/jouncebot/jouncebot/deploy/step"
	"github.com/jouncebot/jouncebot/deploy/workflow"
)

// Logger writes Server Admin Log lines in the deployer's name. The SAL
// package implements it; lines are formatted with package sallines.
type Logger interface {
	Log(ctx context.Context, deployer Person, message string) error
}

// TestGate configures the wait for "tested ok" after a stage with
// WaitForTest.
type TestGate struct {
	// Reminder is when those who have not answered are reminded (default
	// 10m after the question).
	Reminder time.Duration
	// Timeout is when the deployer is asked to decide (default 30m).
	Timeout time.Duration
	// OneOwnerEnough makes one owner's confirmation enough.
	OneOwnerEnough bool
}

// SyncStage is a Stage that syncs the staging tree to a set of hosts,
// runs its checks and, with WaitForTest, waits for the patch owners'
// "tested ok". Build it with SyncStages.
type SyncStage struct {
	StageName string
	// Hosts builds the host set when the stage starts (host group files
	// are read then).
	Hosts func() (*hostsync.Stage, error)
	// Checks run after the sync.
	Checks      []check.Check
	WaitForTest bool
	// Kube is set for a kubernetes stage: its hosts are Deployments,
	// which Targets describes for the plan ("release=main in eqiad,
	// codfw") without asking the clusters.
	Kube    bool
	Targets string
	// rolledOut, for a kubernetes stage, is its host set for the given
	// Deployments: those the record says it rolled out, which the
	// clusters are asked about before done whatever its selector
	// matches by then.
	rolledOut func([]hostsync.Host) *hostsync.Stage
}

// A sync stage's phases, each a type of its own over the stage: the
// delivery to its hosts and their check after a restart (sync.go,
// resume.go), its checks and canaries and the deployer's decision on a
// failure (checks.go, canaryrecord.go), and the testing gate (gate.go).
type (
	stageHosts  struct{ *SyncStage }
	stageChecks struct{ *SyncStage }
	stageGate   struct{ *SyncStage }
)

// Name implements Stage.
func (s *SyncStage) Name() string { return s.StageName }

// SyncStages builds the sync stages a deploy configuration describes.
func SyncStages(d *config.Deploy) ([]Stage, error) {
	var out []Stage
	var kp *kubeParts
	for i := range d.Stages {
		st := &d.Stages[i]
		if st.Method == config.SyncKubernetes {
			if kp == nil {
				var err error
				if kp, err = newKubeParts(d); err != nil {
					return nil, err
				}
			}
			ks := kubeStage(d, st, kp)
			cs, err := check.FromConfig(st.Checks, nil)
			if err != nil {
				return nil, err
			}
			ks.Checks = cs
			out = append(out, ks)
			continue
		}
		if _, err := hostsync.FromConfig(d, st); err != nil {
			return nil, err
		}
		cs, err := check.FromConfig(st.Checks, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, &SyncStage{StageName: st.Name, Checks: cs, WaitForTest: st.WaitForTest,
			Hosts: func() (*hostsync.Stage, error) { return hostsync.FromConfig(d, st) }})
	}
	return out, nil
}

// Exec implements Stage: sync, then checks, then the testing gate. Each
// phase records its outcome, so a restart goes on where it stopped.
func (s *SyncStage) Exec(ctx context.Context, j *Job) error {
	if err := (stageHosts{s}).begin(ctx, j); err != nil {
		return err
	}
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	// A rollback under way goes on before anything is checked: the
	// hosts it put back must not get the release again.
	if rb := d.Sync.Rollback; rb != nil {
		return rollback(ctx, j, rb.Reason)
	}
	if err := checkStages(ctx, j, s.StageName); err != nil {
		return err
	}
	if rec := d.Sync.Stages[s.StageName]; rec == nil || rec.Synced.IsZero() || j.mustCheck(s.StageName) {
		if err := (stageHosts{s}).sync(ctx, j); err != nil {
			return err
		}
	}
	if err := (stageChecks{s}).checks(ctx, j); err != nil {
		return err
	}
	// An emergency revert does not wait for a test.
	if s.WaitForTest && d.Revert == nil {
		return stageGate{s}.gate(ctx, j)
	}
	return nil
}

// begin records the start of the first sync stage and writes its SAL
// line.
func (s stageHosts) begin(ctx context.Context, j *Job) error {
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	if d.Sync == nil || d.Sync.Release == "" {
		return Failf("No release was frozen for deploy %s, so there is nothing to sync; nothing was synced.", d.ID)
	}
	if d.Sync.Started.IsZero() {
		if err := j.Checkpoint(func(d *Deploy) { d.Sync.Started = time.Now().UTC() }); err != nil {
			return err
		}
	}
	// Written at least once (no Check): after a restart around the
	// line, it is written again rather than never.
	_, err = j.Do(ctx, workflow.Effect{Key: salStartSync, Do: func(ctx context.Context) error {
		j.e.releaser.salLog(ctx, d, sallines.StartedSync(salSummary(d)))
		return nil
	}})
	return err
}

// Effects implements effector: the "Started sync" SAL line for the first
// sync stage, then each host's sync, by key when the host group can be
// read now (a point around each host for the crash matrix), else by kind
// (a kubernetes stage's Deployments are found when it starts).
func (s *SyncStage) Effects(o *Options) []string {
	var ks []string
	if i := slices.IndexFunc(o.Stages, func(st Stage) bool { _, ok := st.(*SyncStage); return ok }); i >= 0 && o.Stages[i] == Stage(s) {
		ks = append(ks, salStartSync)
	}
	if s.Kube || s.Hosts == nil {
		return append(ks, effectSync)
	}
	hs, err := s.Hosts()
	if err != nil {
		return append(ks, effectSync)
	}
	for _, h := range hs.Hosts {
		ks = append(ks, deliver.SyncKey(s.StageName, h.Name))
	}
	return ks
}

// drift tells the deployer, once, when staging no longer holds the
// release: the hosts keep getting the release, never the edit.
func (s stageHosts) drift(ctx context.Context, j *Job, d *Deploy, rel *release.Release) {
	frozen := rel.Manifest
	if d.Sync.Commits != nil {
		frozen = &release.Manifest{Commits: d.Sync.Commits}
	}
	drifts, err := release.Drifts(ctx, j.e.releaser.syncSource(), frozen)
	if err != nil {
		j.e.log.Warn("compare staging with the release", "err", err)
		return
	}
	// Uncommitted changes may be a security fix in the making: the
	// public sentence counts the files, the security destination gets
	// their names.
	var changes, counted []string
	for _, dr := range drifts {
		changes, counted = append(changes, dr.String()), append(counted, dr.Counted())
	}
	if len(changes) == 0 || slices.Equal(changes, d.Sync.Drift) {
		return
	}
	files := ""
	var events []Event
	if !slices.Equal(changes, counted) {
		events = append(events, Event{Kind: EventSecurity, By: d.By,
			Text: bot.T("Deploy " + string(d.ID) + ": " + fmt.Sprintf("Staging changed after release %s was frozen: %s.", rel.ID, strings.Join(changes, "; ")))})
		files = "; which files went to the security contacts privately"
	}
	// The drift is recorded with what is said of it: a crash cannot
	// leave it recorded and unsaid.
	j.e.announcer.sayTx(ctx, j.id, func(d *Deploy) { d.Sync.Drift = changes }, append(events, Event{Kind: EventProgress, Text: bot.Join(d.By.Mention(), bot.T(fmt.Sprintf(
		": staging changed after release %s was frozen (%s%s). The %s get release %s as it was tested; the change in staging is not deployed. You decide: commit it through Gerrit and deploy it, or undo it in staging before the next deploy.",
		rel.ID, strings.Join(counted, "; "), files, s.StageName, rel.ID)))})...)
}

func (s stageHosts) sync(ctx context.Context, j *Job) error {
	hs, err := s.Hosts()
	if err != nil {
		return Failf("Cannot sync %s: %s.", s.StageName, err)
	}
	hs.Log = j.e.log
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	rel, err := j.e.o.Releases.Open(d.Sync.Release)
	if err != nil {
		return j.e.answers.internal("opening release "+d.Sync.Release, err)
	}
	s.drift(ctx, j, d, rel)
	j.e.releaser.bindKube(ctx, j, hs, "rollout")
	if rec := d.Sync.Stages[s.StageName]; isKube(hs) && j.mustCheck(s.StageName) && rec != nil && !rec.Started.IsZero() {
		// After a restart the clusters say what runs, not the record.
		if diffs, _ := j.e.releaser.readClusters(ctx, hs, rel); len(diffs) > 0 {
			j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("Read the clusters after the restart: %s Rolling release %s out to them again.", strings.Join(diffs, " "), rel.ID)))
		}
	}
	verify := deliver.Verifier(hs.Method)
	hs.Method = j.e.releaser.deliver(hs, rel, "sync")
	w := j.e.hosts.Recorder(d.ID, deliver.Synced, s.StageName)
	rep, err := s.syncHosts(ctx, j, hs, w, verify, rel, d.Sync.Stages[s.StageName])
	if saveErr := w.Close(); saveErr != nil {
		return saveErr
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if rep == nil {
		if err == nil && d.Revert != nil {
			// Every host holds the revert now (one synced by hand
			// meanwhile too): none is named at the end.
			return j.Save(func(d *Deploy) { d.Sync.Stage(s.StageName).Unsynced = nil })
		}
		return err
	}
	sum := rep.Summary()
	if k, ok := hs.Method.(*kube.Method); ok && err == nil {
		sum = k.Summary(ctx, hs.Hosts) + "."
	}
	j.Say(ctx, EventProgress, bot.T(sum))
	failed := errors.Is(err, hostsync.ErrStageFailed)
	if failed && isKube(hs) {
		j.Say(ctx, EventProgress, bot.T(j.e.releaser.kubeFailures(hs, rep)))
	}
	if d.Revert != nil && (failed || err == nil) {
		// Failed or not: the failures the stage allows
		// (max_failed_hosts) still run the reverted change too.
		return s.revertGoesOn(ctx, j, hs, sum)
	}
	if failed && isKube(hs) {
		return rollback(ctx, j, fmt.Sprintf("the rollout of %s of %s failed", bot.Count(len(rep.Failed()), "deployment"), s.StageName))
	}
	if failed {
		return rollback(ctx, j, fmt.Sprintf("%s of %s failed to sync", bot.Count(len(rep.Failed()), "host"), s.StageName))
	}
	if err != nil {
		return err
	}
	return j.Save(func(d *Deploy) {
		r := d.Sync.Stage(s.StageName)
		r.Synced, r.Summary = time.Now().UTC(), sum
	})
}

// revertGoesOn ends a stage of a revert, whether or not all its hosts
// got the revert: rolling a revert back would put the change it removes
// back on every host that got the revert, so it goes on, as a revert
// whose checks fail does. The hosts that still run the change, by their
// records, are said and recorded for its end to name.
func (s stageHosts) revertGoesOn(ctx context.Context, j *Job, hs *hostsync.Stage, sum string) error {
	results, err := j.e.hosts.Stage(j.id, deliver.Synced, s.StageName)
	if err != nil {
		return err
	}
	var failed []string
	for _, h := range hs.Hosts {
		if !results[h.Name].Done() {
			failed = append(failed, h.Name)
		}
	}
	if len(failed) > 0 {
		j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("%s did not get the revert and %s the reverted change; going on, as rolling the revert back would bring the change back on the hosts that got it.",
			hostList(failed), runs(len(failed)))))
	}
	return j.Save(func(d *Deploy) {
		r := d.Sync.Stage(s.StageName)
		r.Synced, r.Summary, r.Unsynced = time.Now().UTC(), sum, failed
	})
}

// syncHosts syncs rel to the hosts of hs not done, each host's sync a
// side effect of the deploy (hostEffects), recorded through w. After a
// restart the hosts are checked first (checkHosts) and what they hold
// is recorded as the truth: a host holding rel is settled, one that does
// not is forgotten and synced anew. It returns no report, and no error,
// when every host was found holding rel.
func (s stageHosts) syncHosts(ctx context.Context, j *Job, hs *hostsync.Stage, w *deliver.Recorder, verify hostsync.Method,
	rel *release.Release, rec *StageRecord) (*hostsync.Report, error) {
	hosts := &workflow.Instance{Def: j.flow.Def, Store: w.Store(j.flow.Store)}
	results, err := j.e.hosts.Stage(j.id, deliver.Synced, s.StageName)
	if err != nil {
		return nil, err
	}
	done := map[string]bool{}
	for h, r := range results {
		if r.Done() {
			done[h] = true
		}
	}
	checked, all, err := s.checkHosts(ctx, j, hs, verify, rel, rec, results)
	if err != nil {
		return nil, err
	}
	if checked != nil {
		var forget []string // in one write: a restart may find thousands
		for _, h := range hs.Hosts {
			key := deliver.SyncKey(s.StageName, h.Name)
			_, recorded := results[h.Name]
			switch {
			case checked[h.Name] && !results[h.Name].Done():
				if err := hosts.Settle(key, h.Dest); err != nil {
					return nil, err
				}
			case !checked[h.Name] && recorded:
				forget = append(forget, key)
			}
		}
		if err := hosts.Forget(forget...); err != nil {
			return nil, err
		}
		done = checked
	}
	if all {
		return nil, nil
	}
	d, err := j.Deploy()
	if err != nil {
		return nil, err
	}
	if rec == nil || rec.Started.IsZero() {
		if err := j.Checkpoint(func(d *Deploy) { d.Sync.Stage(s.StageName).Started = time.Now().UTC() }); err != nil {
			return nil, err
		}
		if isKube(hs) {
			j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("Rolling %s out to %s (%s)…", syncWhat(d), s.StageName, bot.Count(len(hs.Hosts), "deployment"))))
		} else {
			j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("Syncing %s to %s (%s)…", syncWhat(d), s.StageName, bot.Count(len(hs.Hosts), "host"))))
		}
	} else if len(done) > 0 && checked == nil {
		j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("Resuming the sync to %s: %d of %d hosts were done before the restart.", s.StageName, len(done), len(hs.Hosts))))
	}
	dests := map[string]string{}
	for _, h := range hs.Hosts {
		dests[h.Name] = h.Dest
	}
	// The intents of the hosts on no record, in one write rather than
	// one each (a host begun before, its sync failed, goes through its
	// Check). An abort refuses them, and then each host not yet started
	// (hostEffects): the hosts stop starting, those begun are rolled
	// back.
	var begin []workflow.Effect
	for _, h := range hs.Hosts {
		if _, recorded := results[h.Name]; !done[h.Name] && (checked != nil || !recorded) {
			begin = append(begin, workflow.Effect{Key: deliver.SyncKey(s.StageName, h.Name), Note: h.Dest})
		}
	}
	if err := hosts.Begin(begin); err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	he := &hostEffects{Method: hs.Method, in: hosts, stage: s.StageName, stop: stop}
	he.left.Store(int64(len(hs.Hosts) - len(done)))
	if verify != nil {
		he.check = func(ctx context.Context, h hostsync.Host) (bool, error) {
			hold, unknown, err := deliver.Holding(ctx, j.e.o.Releases, hs, verify, rel, []hostsync.Host{h})
			if err == nil {
				err = unknown[h.Name]
			}
			return hold[h.Name], err
		}
	}
	run := *hs // the stage's own method stays (a rollout's summary)
	run.Method = he
	rep, err := run.Sync(ctx, hostsync.Job{
		Source: rel.Tree(),
		Paths:  d.Sync.Files,
		Done:   done,
		OnResult: func(r hostsync.Result) {
			if r.Err != nil {
				// Begun, not done: after a restart the host's marker
				// decides.
				hr := deliver.Result(dests[r.Host], r, time.Now().UTC())
				w.Change(r.Host, func(x *HostResult) {
					x.Dest, x.Time, x.Duration, x.Err = hr.Dest, hr.Time, hr.Duration, hr.Err
					// Its own start, not its intent's (the stage's Begin).
					x.Started = hr.Time.Add(-hr.Duration)
				})
			}
		},
		OnProgress: func(p hostsync.Progress) {
			if p.Done < p.Total && !isKube(hs) { // a rollout says it in pods
				j.Say(ctx, EventProgress, bot.T(p.String()))
			}
		},
	})
	// The hosts never started are not begun: an abort does not put
	// them back.
	if werr := hosts.Withdraw(); werr != nil {
		return nil, werr
	}
	if errors.Is(context.Cause(ctx), ErrAborted) {
		return nil, ErrAborted
	}
	return rep, err
}

// hostEffects syncs each host as a side effect of the deploy (key
// sync/<stage>/<host>, the host's destination as its note): at least
// once, its intent recorded before and its completion after; found
// begun but not done, check (the host's release marker) says whether it
// happened (nil: the host is synced again).
type hostEffects struct {
	hostsync.Method
	in    *workflow.Instance
	stage string
	check func(ctx context.Context, h hostsync.Host) (bool, error)
	// stop ends the stage's sync when the deploy was aborted (cause
	// ErrAborted): the hosts not started stay so.
	stop context.CancelCauseFunc
	// left counts the hosts still to sync, for the crash point
	// synced:<stage> (every host synced or found so by its check, the
	// last not yet on record).
	left atomic.Int64
}

// Sync implements hostsync.Method.
func (m *hostEffects) Sync(ctx context.Context, h hostsync.Host, src string, paths []string) error {
	e := workflow.Effect{Key: deliver.SyncKey(m.stage, h.Name), Note: h.Dest, Do: func(ctx context.Context) error {
		err := m.Method.Sync(ctx, h, src, paths)
		m.ended()
		return err
	}}
	if m.check != nil {
		e.Check = func(ctx context.Context) (bool, error) {
			done, err := m.check(ctx, h)
			if done {
				m.ended()
			}
			return done, err
		}
	}
	_, err := m.in.Do(ctx, e)
	if errors.Is(err, ErrAborted) {
		m.stop(ErrAborted)
	}
	return err
}

// ended counts a host's sync ended.
func (m *hostEffects) ended() {
	if m.left.Add(-1) == 0 {
		step.CrashPoint("synced:" + m.stage)
	}
}

// holdText is "the host holds" or "all 5 hosts hold".
func holdText(n int) string {
	switch n {
	case 1:
		return "its host holds"
	case 2:
		return "both hosts hold"
	}
	return fmt.Sprintf("all %d hosts hold", n)
}

// deliver is the method that syncs rel to the hosts of hs: the stage's
// own, each host getting what it lacks of rel as its marker says, the
// marker in the same transfer (release.Marked). A sync command (a site's
// own tool) is used as it is: its hosts cannot be checked for a marker.
func (a *releaser) deliver(hs *hostsync.Stage, rel *release.Release, what string) hostsync.Method {
	m := hs.Method
	if _, ok := m.(*hostsync.Command); ok || m == nil || isKube(hs) {
		return m // a Kubernetes rollout has no marker: the cluster says what runs
	}
	return &release.Marked{Method: withCrashPoint(m, what+":"+hs.Name), Release: rel, Store: a.o.Releases, FileLimit: hs.FileLimit}
}

// syncSource is the tree releases are frozen from: the configured sync
// source, else the staging checkout.
func (a *releaser) syncSource() string {
	if a.o.SyncSource != "" {
		return a.o.SyncSource
	}
	return a.o.StagingDir
}
