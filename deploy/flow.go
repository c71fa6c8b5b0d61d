package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jouncebot/jouncebot/deploy/deliver"
	"github.com/jouncebot/jouncebot/deploy/prepare"
	"github.com/jouncebot/jouncebot/deploy/step"
	"github.com/jouncebot/jouncebot/deploy/workflow"
)

// A deploy runs as a workflow (package workflow) of its stages: the
// record's Stage is the workflow's next step, and the side effects made
// through Job.Do are recorded under their keys, in the field of the record
// each is about when it has one (so records written before the workflow
// read the same), else in Deploy.Effects. A host's sync in a sync stage
// is an effect too, kept as the host's result in bucket deploy.hosts
// (deliver.Store), so that a stage of thousands of hosts does not rewrite the
// record for each.

// Effect keys with a field of their own in the record.
const (
	effectVote          = prepare.EffectVote // vote/<change>: Change.Vote
	effectPurge         = "purge"            // Sync.Purge
	effectRevertComment = "revert-comment"   // Revert.Commented
)

// Effect keys kept in Deploy.Effects.
const (
	effectRevertSAL = "revert-sal" // a revert's "Reverted …" SAL lines
	// The sync's SAL lines; the completions of the first and the last
	// are also in SyncRecord.SALStart and SALEnd, which records written
	// before these effects have alone.
	salStartSync    = "sal/start-sync"    // "Started sync: …"
	salSynchronized = "sal/synchronized"  // "Synchronized <files>: …"
	salFinishSync   = "sal/finished-sync" // "Finished sync: …"
)

// Effect keys kept elsewhere.
const (
	effectSync = deliver.SyncEffect // sync/<stage>/<host>: a host's result in bucket deploy.hosts (deliver.Store)
)

// effector is a Stage that declares the kinds of side effect it makes
// through Job.Do (workflow.Step.Effects) with options o.
type effector interface {
	Effects(o *Options) []string
}

// errRecheck stops a workflow run so that execute looks at the deploy's
// record again (paused, aborted, refused by the policy).
var errRecheck = errors.New("deploy: look at the record again")

// storeError is a failure to read or write the record around a step: the
// run stops without finishing the deploy.
type storeError struct{ err error }

func (e *storeError) Error() string { return "save deploy: " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// flows builds the workflow a deploy runs (package workflow): its stages
// in order, each a step that first reads the deploy's record and asks the
// deploy policy (the referee) whether it may begin.
type flows struct {
	records
	*referee
	rel *releaser // the release steps (released)
	o   *Options  // the engine's
}

// stages are the steps of deploy d in order.
func (w *flows) stages(d *Deploy) []Stage {
	prep := prepared(w.o)
	if d.PrepareOnly {
		return prep
	}
	syncs := slices.ContainsFunc(w.o.Stages, func(s Stage) bool { _, ok := s.(*SyncStage); return ok })
	snapshot, freeze := w.rel.released()
	if d.Revert != nil {
		var s []Stage
		if syncs {
			s = append(s, snapshot)
		}
		s = append(s, revertStage{})
		if syncs {
			s = append(s, freeze)
		}
		s = append(s, w.o.Stages...)
		s = append(s, pushRevertStage{})
		if syncs {
			s = append(s, syncDoneStage{})
		}
		return s
	}
	// The snapshot of what the hosts hold goes before the update.
	s := slices.Clone(prep[:4])
	if syncs {
		s = append(s, snapshot)
	}
	s = append(s, prep[4:]...)
	if syncs {
		s = append(s, freeze)
	}
	s = append(s, w.o.Stages...)
	if syncs {
		s = append(s, syncDoneStage{})
	}
	return s
}

// flow is deploy d's list of stages as a workflow run by job j (nil:
// only listed, with the effects of each step, for Steps).
func (w *flows) flow(d *Deploy, j *Job) *workflow.Definition {
	stages := w.stages(d)
	def := &workflow.Definition{Point: step.CrashPoint}
	byName := map[string]Stage{}
	for _, s := range stages {
		byName[s.Name()] = s
		st := workflow.Step{Name: s.Name(), Run: func(ctx context.Context) (any, error) { return nil, s.Exec(ctx, j) }}
		// The effects are listed only for Steps (the crash matrix): a
		// run passes the points of what it makes whatever is declared,
		// and listing a sync stage's hosts reads its host group, which
		// each round of a run would do again.
		if e, ok := s.(effector); ok && j == nil {
			st.Effects = e.Effects(w.o)
		}
		def.Steps = append(def.Steps, st)
	}
	def.Before = func(ctx context.Context, name string) error {
		d, err := w.load(j.id)
		if err == nil && testFault != nil {
			err = testFault("before "+name, j.id)
		}
		if err != nil {
			return &storeError{err}
		}
		if d.State != stateRunning || d.AbortBy != "" {
			return errRecheck
		}
		stop, err := w.judgeStage(ctx, d, byName[name])
		if err != nil {
			return &storeError{err}
		}
		if stop {
			return errRecheck // the next round sees the policy's abort
		}
		return nil
	}
	return def
}

// Steps lists the steps of a deploy of d's kind and, for the crash
// matrix, the points it can be stopped at (workflow.Definition.Points).
func (w *flows) Steps(d *Deploy) (steps, points []string) {
	def := w.flow(d, nil)
	for _, s := range def.Steps {
		steps = append(steps, s.Name)
	}
	return steps, def.Points()
}

// flowStore keeps a deploy's workflow record in its bbolt record.
type flowStore struct {
	records
	id ID
}

func (s flowStore) Load() (*workflow.Record, error) {
	d, err := s.load(s.id)
	if err != nil {
		return nil, err
	}
	return flowRecord(d), nil
}

func (s flowStore) Update(f func(r *workflow.Record) error) error {
	return s.update(s.id, func(d *Deploy) error {
		r := flowRecord(d)
		if err := f(r); err != nil {
			return err
		}
		return setFlowRecord(d, r)
	})
}

// flowRecord is d's progress as the workflow reads it.
func flowRecord(d *Deploy) *workflow.Record {
	r := &workflow.Record{Next: d.Stage, Results: maps.Clone(d.Steps), Effects: maps.Clone(d.Effects)}
	if r.Effects == nil {
		r.Effects = map[string]workflow.Mark{}
	}
	for _, c := range d.Changes {
		if c.Vote != (Op{}) {
			r.Effects[prepare.VoteKey(c.Number)] = c.Vote
		}
	}
	if d.Sync != nil && d.Sync.Purge != (Op{}) {
		r.Effects[effectPurge] = d.Sync.Purge
	}
	if d.Revert != nil && d.Revert.Commented != (Op{}) {
		r.Effects[effectRevertComment] = d.Revert.Commented
	}
	if d.Sync != nil {
		salMark(r, salStartSync, d.Sync.SALStart)
		salMark(r, salFinishSync, d.Sync.SALEnd)
	}
	if d.AbortBy != "" {
		r.Stop = ErrAborted
	}
	return r
}

// salMark makes key's mark done at t when the record's field says its
// line was written at t (a record from before the effect, or a closing
// line written by Engine.finish).
func salMark(r *workflow.Record, key string, t time.Time) {
	if m := r.Effects[key]; !t.IsZero() && m.Done.IsZero() {
		if m.Started.IsZero() {
			m.Started = t
		}
		m.Done = t
		r.Effects[key] = m
	}
}

// setFlowRecord writes r back into d, each mark into its own field.
func setFlowRecord(d *Deploy, r *workflow.Record) error {
	d.Stage, d.Steps = r.Next, r.Results
	rest := maps.Clone(r.Effects)
	for i, c := range d.Changes {
		k := prepare.VoteKey(c.Number)
		d.Changes[i].Vote = rest[k]
		delete(rest, k)
	}
	if m, ok := rest[effectPurge]; ok || d.Sync != nil {
		if d.Sync == nil {
			return fmt.Errorf("deploy %s: a purge recorded before the sync", d.ID)
		}
		d.Sync.Purge = m
		delete(rest, effectPurge)
	}
	if m, ok := rest[effectRevertComment]; ok || d.Revert != nil {
		if d.Revert == nil {
			return fmt.Errorf("deploy %s: a revert's comment recorded without the revert", d.ID)
		}
		d.Revert.Commented = m
		delete(rest, effectRevertComment)
	}
	if d.Sync != nil {
		// The marks stay in Effects (with their intents); the fields
		// say when the lines were written, as they did before.
		if m := rest[salStartSync]; !m.Done.IsZero() {
			d.Sync.SALStart = m.Done
		}
		if m := rest[salFinishSync]; !m.Done.IsZero() {
			d.Sync.SALEnd = m.Done
		}
	}
	d.Effects = nil
	if len(rest) > 0 {
		d.Effects = rest
	}
	return nil
}

// Do makes side effect e of the deploy once (workflow.Instance.Do): the
// intent is recorded first (refused with ErrAborted after an abort), the
// completion after, and an intent found without completion after a
// restart is looked at with e.Check first. made is false when the effect
// had already been made.
func (j *Job) Do(ctx context.Context, e workflow.Effect) (made bool, err error) {
	return j.flow.Do(ctx, e)
}
