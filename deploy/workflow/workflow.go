// Package workflow runs a list of named steps durably: each step's
// completion (and small result) is recorded as the step ends, so a
// restarted process re-enters at the first unfinished step, and every side
// effect of a step goes through Do under a key, so it happens once however
// often the process stops around it.
//
// It is modelled on golang/build's internal/workflow, reduced to what a
// deploy needs: an ordered list of steps instead of a graph, and a Store
// the caller provides (the deploy engine keeps the record in its bbolt
// record of the deploy).
//
//	def := &workflow.Definition{Steps: []workflow.Step{
//		{Name: "vote", Effects: []string{"vote"}, Run: vote},
//		{Name: "merge", Run: waitForMerge},
//	}}
//	in := &workflow.Instance{Def: def, Store: store}
//	err := in.Run(ctx) // nil once every step is done
//
// and inside vote, for each change:
//
//	err := in.Do(ctx, workflow.Effect{Key: "vote/445113", Do: review, Check: hasOurVote})
//
// Do records the intent before the side effect and its completion after.
// Found after a restart with the intent but not the completion, the effect
// may or may not have happened: Check looks at the world, and Do runs again
// only when Check says it did not happen (no Check: it runs again).
//
// Effects made by the thousand (a host's sync in a stage of thousands)
// go through a Store that also is a KeyStore: their marks are read and
// written one key at a time, not as part of the whole Record.
//
// A test lists every point a process can stop at with Definition.Points
// and stops there through Definition.Point.
package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Done is the name recorded as the next step once the last one finished.
const Done = "done"

// Step is one named step of a workflow.
type Step struct {
	Name string
	// Effects are the side effects the step makes through Instance.Do,
	// each by its kind (the part of their keys before the first "/",
	// for a point around every effect of the kind) or by its whole key
	// (for a point around that one effect: "sync/production/mw1001");
	// they are listed, not enforced, so Points can name a point around
	// each.
	Effects []string
	// Run does the step. Its result, if not nil, is recorded as JSON with
	// the step's completion (Record.Results). Run may run again after a
	// restart until its completion is recorded, so whatever it does
	// outside Do must be safe to repeat.
	Run func(ctx context.Context) (result any, err error)
}

// Mark is the record of one side effect: Started before it happens, Done
// after.
type Mark struct {
	Started time.Time `json:",omitzero"`
	Done    time.Time `json:",omitzero"`
	// Note is Effect.Note, recorded with the intent.
	Note string `json:",omitempty"`
}

// Pending reports whether the effect was begun but not seen to end: it
// may or may not have happened.
func (m Mark) Pending() bool { return !m.Started.IsZero() && m.Done.IsZero() }

// Record is a workflow's recorded progress.
type Record struct {
	// Next is the first unfinished step ("" for the first step, Done
	// after the last).
	Next string
	// Results are the recorded results of finished steps, by step name.
	Results map[string]json.RawMessage
	// Effects are the side effects begun, by key.
	Effects map[string]Mark
	// Stop, set by the store, is why no new side effect may begin (the
	// deploy was aborted): Do returns it instead of beginning one. It is
	// never written.
	Stop error
}

// Store keeps a workflow's Record. Update applies f to the current record
// and stores the result in one transaction; an error from f stores
// nothing. The record Load returns is the caller's to change.
type Store interface {
	Load() (*Record, error)
	Update(f func(r *Record) error) error
}

// KeyStore is a Store that also reads and writes the marks of effects
// by key, without the rest of the Record: Instance.Do, Begin, Settle and
// Forget use it when the Instance's Store is one, so an effect costs a
// small write of its own rather than a rewrite of the Record (a stage of
// thousands of hosts, each synced as an effect). Its intents are refused
// by Record.Stop as the Record's are.
type KeyStore interface {
	Store
	// Mark is key's mark (zero when none).
	Mark(key string) (Mark, error)
	// SetMarks records each of marks under its key, a zero mark
	// forgetting it. Intents (a mark Started, not Done) are refused with
	// the Record's Stop, read in the same write. Intents and
	// forgettings are durable when it returns; a completion may be
	// written a little later, grouped with others (one lost with the
	// process is an effect found begun after the restart, which Check
	// decides).
	SetMarks(marks map[string]Mark) error
	// Stopped is the Record's Stop, read without the rest of it.
	Stopped() error
}

// Definition is a workflow: its steps in order, and hooks.
type Definition struct {
	Steps []Step
	// Before, when set, runs before each step; an error stops Run with
	// that error, the step not run (a deploy stops for an abort or a
	// policy refusal this way).
	Before func(ctx context.Context, step string) error
	// Point, when set, is called at every point listed by Points, as the
	// run passes it (a crash-matrix test stops the process there).
	Point func(name string)
	// Now is the clock of the marks; time.Now when nil.
	Now func() time.Time
}

// ErrUnknownStep is returned by Run when the record names a step the
// definition does not have (a record written by another version).
var ErrUnknownStep = errors.New("workflow: unknown step")

// ErrRecord wraps the store's error when Run could not read the record or
// record a step's completion: the step did not fail, and runs again on the
// next Run.
var ErrRecord = errors.New("workflow: record")

// Point names.
func afterPoint(step string) string  { return "after:" + step }
func intentPoint(kind string) string { return "intent:" + kind }
func donePoint(kind string) string   { return "done:" + kind }

// Points lists, in the order a run passes them, every point Point is
// called at: for each step, the intent and completion of each effect
// (kind or key) it declares, then the step's recorded completion. Do
// passes the points of an effect's kind and, when the key says more, of
// its key.
func (def *Definition) Points() []string {
	var p []string
	for _, s := range def.Steps {
		for _, k := range s.Effects {
			p = append(p, intentPoint(k), donePoint(k))
		}
		p = append(p, afterPoint(s.Name))
	}
	return p
}

// Effects lists the effect kinds of the workflow's steps, in order.
func (def *Definition) Effects() []string {
	var ks []string
	for _, s := range def.Steps {
		ks = append(ks, s.Effects...)
	}
	return ks
}

// Index is the position of step name in def (len(def.Steps) for Done,
// 0 for ""), or -1.
func (def *Definition) Index(name string) int {
	switch name {
	case "":
		return 0
	case Done:
		return len(def.Steps)
	}
	for i, s := range def.Steps {
		if s.Name == name {
			return i
		}
	}
	return -1
}

func (def *Definition) point(name string) {
	if def.Point != nil {
		def.Point(name)
	}
}

func (def *Definition) now() time.Time {
	if def.Now != nil {
		return def.Now().UTC()
	}
	return time.Now().UTC()
}

// Instance is one run of a definition over its store. Do may be called
// from many goroutines at once.
type Instance struct {
	Def   *Definition
	Store Store

	mu    sync.Mutex
	begun map[string]Mark // intents recorded by Begin, not yet made by Do
}

// Run runs the steps from the first unfinished one, recording each one's
// completion as it ends. It returns nil once every step is done, or the
// first error of a step or of Before (the step is then unfinished and
// runs again on the next Run).
func (in *Instance) Run(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := in.Store.Load()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrRecord, err)
		}
		i := in.Def.Index(r.Next)
		if i < 0 {
			return fmt.Errorf("%w %q", ErrUnknownStep, r.Next)
		}
		if i == len(in.Def.Steps) {
			return nil
		}
		s := in.Def.Steps[i]
		if in.Def.Before != nil {
			if err := in.Def.Before(ctx, s.Name); err != nil {
				return err
			}
		}
		res, err := s.Run(ctx)
		if err != nil {
			return err
		}
		var raw json.RawMessage
		if res != nil {
			if raw, err = json.Marshal(res); err != nil {
				return fmt.Errorf("workflow: step %s: encode result: %w", s.Name, err)
			}
		}
		next := Done
		if i+1 < len(in.Def.Steps) {
			next = in.Def.Steps[i+1].Name
		}
		if err := in.Store.Update(func(r *Record) error {
			if raw != nil {
				if r.Results == nil {
					r.Results = map[string]json.RawMessage{}
				}
				r.Results[s.Name] = raw
			}
			r.Next = next
			return nil
		}); err != nil {
			return fmt.Errorf("%w: %w", ErrRecord, err)
		}
		in.Def.point(afterPoint(s.Name))
	}
}

// Result decodes the recorded result of step into v; false when the step
// recorded none.
func (in *Instance) Result(step string, v any) (bool, error) {
	r, err := in.Store.Load()
	if err != nil {
		return false, err
	}
	raw, ok := r.Results[step]
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(raw, v)
}

// Effect is one side effect, made once under Key.
type Effect struct {
	// Key names the effect: its kind, then "/" and what makes it unique
	// within the workflow ("vote/445113", "sal/start").
	Key string
	// Note, recorded with the intent, says what the effect is made on
	// (a host's destination) for those who read the record; optional.
	Note string
	// Do makes the effect.
	Do func(ctx context.Context) error
	// Check, when set, says whether an effect found begun but not seen to
	// end after a restart happened after all (look at Gerrit, the log,
	// the host). Without it such an effect is done again.
	Check func(ctx context.Context) (bool, error)
}

// Kind is the effect kind of key: the part before the first "/".
func Kind(key string) string {
	k, _, _ := strings.Cut(key, "/")
	return k
}

// Do makes effect e unless its completion is recorded: it records the
// intent (refused with Record.Stop when set), runs e.Do and records the
// completion. An intent recorded without completion is first looked at
// with e.Check. It returns whether the effect was made now (false when it
// was already done or Check found it done) and e.Do's error, after which
// the intent stays recorded. An effect whose intent this Instance
// recorded with Begin goes straight to e.Do, once the Record's Stop is
// read and found nil.
func (in *Instance) Do(ctx context.Context, e Effect) (bool, error) {
	m, begun := in.takeBegun(e.Key)
	if begun {
		// Its intent was recorded before a stop that may have come
		// since: the effect is not made after it.
		if err := in.stopped(); err != nil {
			in.unTake(e.Key, m)
			return false, err
		}
		// It starts now, whatever it waited for since Begin: its
		// completion says so.
		m.Started = in.Def.now()
	} else {
		var err error
		if m, err = in.load(e.Key); err != nil {
			return false, err
		}
		if !m.Done.IsZero() {
			return false, nil
		}
		if m.Pending() && e.Check != nil {
			done, err := e.Check(ctx)
			if err != nil {
				return false, err
			}
			if done {
				m.Done = in.Def.now()
				if err := in.put(e.Key, m, false); err != nil {
					return false, err
				}
				in.points(donePoint, e.Key)
				return false, nil
			}
		}
		m = Mark{Started: in.Def.now(), Note: e.Note}
		if err := in.put(e.Key, m, true); err != nil {
			return false, err
		}
	}
	in.points(intentPoint, e.Key)
	if err := e.Do(ctx); err != nil {
		return false, err
	}
	m.Done = in.Def.now()
	if err := in.put(e.Key, m, false); err != nil {
		return true, err
	}
	in.points(donePoint, e.Key)
	return true, nil
}

// Begin records the intents of effects es in one write, for a step
// about to make many at once (a stage's hosts, whose intents would each
// cost a write of their own): Do then makes each of them without
// recording its intent again, unless the Record's Stop came since. es
// must be effects without a mark (never begun, or forgotten). Found
// after a restart, these intents are begun like any other. It is refused
// with Record.Stop as Do is. A step that began effects calls Withdraw
// when it ends, for those it did not go on with.
func (in *Instance) Begin(es []Effect) error {
	if len(es) == 0 {
		return nil
	}
	now := in.Def.now()
	marks := make(map[string]Mark, len(es))
	for _, e := range es {
		marks[e.Key] = Mark{Started: now, Note: e.Note}
	}
	var err error
	if ks, ok := in.Store.(KeyStore); ok {
		err = ks.SetMarks(marks)
	} else {
		err = in.Store.Update(func(r *Record) error {
			if r.Stop != nil {
				return r.Stop
			}
			for k, m := range marks {
				setMark(r, k, m)
			}
			return nil
		})
	}
	if err != nil {
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.begun == nil {
		in.begun = map[string]Mark{}
	}
	maps.Copy(in.begun, marks)
	return nil
}

// Withdraw forgets, in one write, the intents Begin recorded that Do did
// not go on with (the step stopped before making them): they were never
// made, and are no longer found begun.
func (in *Instance) Withdraw() error {
	in.mu.Lock()
	keys := slices.Collect(maps.Keys(in.begun))
	in.begun = nil
	in.mu.Unlock()
	return in.Forget(keys...)
}

// stopped is the Record's Stop.
func (in *Instance) stopped() error {
	if ks, ok := in.Store.(KeyStore); ok {
		return ks.Stopped()
	}
	r, err := in.Store.Load()
	if err != nil {
		return err
	}
	return r.Stop
}

// unTake gives back the intent of key taken with takeBegun.
func (in *Instance) unTake(key string, m Mark) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.begun == nil {
		in.begun = map[string]Mark{}
	}
	in.begun[key] = m
}

// takeBegun returns the intent Begin recorded for key, once.
func (in *Instance) takeBegun(key string) (Mark, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	m, ok := in.begun[key]
	delete(in.begun, key)
	return m, ok
}

// points passes the point of key's kind, then the point of key when it
// says more than its kind.
func (in *Instance) points(point func(string) string, key string) {
	kind := Kind(key)
	in.Def.point(point(kind))
	if key != kind {
		in.Def.point(point(key))
	}
}

// Settle records effect key as made without making it: a look at the
// world found it made (a host found holding the release after a
// restart). note is recorded as Effect.Note.
func (in *Instance) Settle(key, note string) error {
	m, err := in.load(key)
	if err != nil || !m.Done.IsZero() {
		return err
	}
	now := in.Def.now()
	if m.Started.IsZero() {
		m.Started = now
	}
	m.Done = now
	if note != "" {
		m.Note = note
	}
	return in.put(key, m, false)
}

// Forget drops the record of effects keys, in one write, so the next Do
// of each makes it without a Check (the world changed and the effect
// must be made anew).
func (in *Instance) Forget(keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	for _, k := range keys {
		in.takeBegun(k)
	}
	if ks, ok := in.Store.(KeyStore); ok {
		marks := make(map[string]Mark, len(keys))
		for _, k := range keys {
			marks[k] = Mark{}
		}
		return ks.SetMarks(marks)
	}
	return in.Store.Update(func(r *Record) error {
		for _, k := range keys {
			delete(r.Effects, k)
		}
		return nil
	})
}

// load reads key's mark.
func (in *Instance) load(key string) (Mark, error) {
	if ks, ok := in.Store.(KeyStore); ok {
		return ks.Mark(key)
	}
	r, err := in.Store.Load()
	if err != nil {
		return Mark{}, err
	}
	return r.Effects[key], nil
}

// put records m as key's mark; an intent is refused with Record.Stop.
func (in *Instance) put(key string, m Mark, intent bool) error {
	if ks, ok := in.Store.(KeyStore); ok {
		return ks.SetMarks(map[string]Mark{key: m})
	}
	return in.Store.Update(func(r *Record) error {
		if intent && r.Stop != nil {
			return r.Stop
		}
		setMark(r, key, m)
		return nil
	})
}

func setMark(r *Record, key string, m Mark) {
	if r.Effects == nil {
		r.Effects = map[string]Mark{}
	}
	r.Effects[key] = m
}
