package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/deploy/workflow"
)

// memStore is a Store in memory; it copies records in and out as a
// database would.
type memStore struct {
	r    workflow.Record
	stop error
}

func (s *memStore) Load() (*workflow.Record, error) {
	r := workflow.Record{Next: s.r.Next, Results: maps.Clone(s.r.Results), Effects: maps.Clone(s.r.Effects), Stop: s.stop}
	return &r, nil
}

func (s *memStore) Update(f func(r *workflow.Record) error) error {
	r, _ := s.Load()
	if err := f(r); err != nil {
		return err
	}
	r.Stop = nil
	s.r = *r
	return nil
}

var errCrash = errors.New("crash")

// world counts the effects made, and a run stops (errCrash) at point
// crashAt as a killed process would.
type world struct {
	made    map[string]int
	log     []string
	crashAt string
	crashed bool
}

// def is the workflow the tests run; its steps reach the instance through
// the slot, set once the store is known.
func (w *world) def() (*workflow.Definition, **workflow.Instance) {
	effect := func(in **workflow.Instance, key string) func(ctx context.Context) (any, error) {
		return func(ctx context.Context) (any, error) {
			_, err := (*in).Do(ctx, workflow.Effect{Key: key,
				Do:    func(context.Context) error { w.made[key]++; return nil },
				Check: func(context.Context) (bool, error) { return w.made[key] > 0, nil }})
			return nil, err
		}
	}
	var in *workflow.Instance
	def := &workflow.Definition{
		Steps: []workflow.Step{
			{Name: "vote", Effects: []string{"vote"}, Run: effect(&in, "vote/1")},
			{Name: "merge", Run: func(context.Context) (any, error) { return "abc123", nil }},
			{Name: "sync", Effects: []string{"sal", "host/mw1", "host/mw2"}, Run: func(ctx context.Context) (any, error) {
				for _, k := range []string{"sal/start", "host/mw1", "host/mw2"} {
					if _, err := effect(&in, k)(ctx); err != nil {
						return nil, err
					}
				}
				return nil, nil
			}},
		},
		Point: func(p string) {
			w.log = append(w.log, p)
			if p == w.crashAt && !w.crashed {
				w.crashed = true
				panic(errCrash)
			}
		},
	}
	return def, &in
}

// run runs the workflow over s, turning the crash into errCrash.
func (w *world) run(s workflow.Store) (err error) {
	def, slot := w.def()
	in := &workflow.Instance{Def: def, Store: s}
	*slot = in
	defer func() {
		if p := recover(); p != nil {
			err = p.(error)
		}
	}()
	return in.Run(context.Background())
}

func TestPointsListsStepsAndEffects(t *testing.T) {
	w := &world{made: map[string]int{}}
	want := []string{"intent:vote", "done:vote", "after:vote", "after:merge",
		"intent:sal", "done:sal", "intent:host/mw1", "done:host/mw1", "intent:host/mw2", "done:host/mw2", "after:sync"}
	if diff := cmp.Diff(want, pointsOf(w)); diff != "" {
		t.Errorf("Points (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"vote", "sal", "host/mw1", "host/mw2"}, effectsOf(w)); diff != "" {
		t.Errorf("Effects (-want +got):\n%s", diff)
	}
}

// keyStore is a memStore that keeps the marks of effects of kind host
// one key at a time (a KeyStore), as the deploy engine keeps its hosts'.
type keyStore struct {
	memStore
	marks  map[string]workflow.Mark
	writes int // SetMarks calls
}

func (s *keyStore) Mark(key string) (workflow.Mark, error) { return s.marks[key], nil }

func (s *keyStore) Stopped() error { return s.stop }

func (s *keyStore) SetMarks(marks map[string]workflow.Mark) error {
	s.writes++
	for _, m := range marks {
		if s.stop != nil && m.Started != (time.Time{}) && m.Done.IsZero() {
			return s.stop // an intent, refused in the same write
		}
	}
	for key, m := range marks {
		if m == (workflow.Mark{}) {
			delete(s.marks, key)
			continue
		}
		s.marks[key] = m
	}
	return nil
}

// TestCrashAtEveryPoint stops the run at each point, runs it again from
// the record, and finds every step done and every effect made once, with
// the marks in the Record and kept by key (KeyStore).
func TestCrashAtEveryPoint(t *testing.T) {
	stores := map[string]func() workflow.Store{
		"record": func() workflow.Store { return &memStore{} },
		"by key": func() workflow.Store { return &keyStore{marks: map[string]workflow.Mark{}} },
	}
	for name, store := range stores {
		for _, p := range pointsOf(&world{}) {
			t.Run(name+"/"+p, func(t *testing.T) {
				w := &world{made: map[string]int{}, crashAt: p}
				st := store()
				if err := w.run(st); !errors.Is(err, errCrash) {
					t.Fatalf("first run: %v, want the crash", err)
				}
				if err := w.run(st); err != nil {
					t.Fatalf("second run: %v", err)
				}
				s := st.(interface{ mem() *memStore }).mem()
				if diff := cmp.Diff(map[string]int{"vote/1": 1, "sal/start": 1, "host/mw1": 1, "host/mw2": 1}, w.made); diff != "" {
					t.Errorf("effects made (-want +got):\n%s", diff)
				}
				if s.r.Next != workflow.Done {
					t.Errorf("next step %q, want done", s.r.Next)
				}
				if got := string(s.r.Results["merge"]); got != `"abc123"` {
					t.Errorf("merge result %s", got)
				}
				if ks, ok := st.(*keyStore); ok && (len(s.r.Effects) > 0 || len(ks.marks) != 4) {
					t.Errorf("marks in the record %v, by key %v; want all by key", s.r.Effects, ks.marks)
				}
			})
		}
	}
}

func (s *memStore) mem() *memStore { return s }

// TestSettleAndForgetByKey records an effect found made, then forgets it:
// the next Do makes it without a Check.
func TestSettleAndForgetByKey(t *testing.T) {
	s := &keyStore{marks: map[string]workflow.Mark{}}
	in := &workflow.Instance{Def: &workflow.Definition{}, Store: s}
	if err := in.Settle("host/mw1", "mw1:/srv"); err != nil {
		t.Fatal(err)
	}
	if m := s.marks["host/mw1"]; m.Done.IsZero() || m.Note != "mw1:/srv" {
		t.Errorf("settled mark %+v, want done with its note", m)
	}
	do := 0
	e := workflow.Effect{Key: "host/mw1", Note: "mw1:/srv", Do: func(context.Context) error { do++; return nil },
		Check: func(context.Context) (bool, error) { t.Error("Check after Forget"); return true, nil }}
	if made, err := in.Do(context.Background(), e); made || err != nil || do != 0 {
		t.Errorf("Do of a settled effect: made %v, err %v, run %d times", made, err, do)
	}
	if err := in.Forget("host/mw1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.marks["host/mw1"]; ok {
		t.Fatal("Forget left the mark")
	}
	if made, err := in.Do(context.Background(), e); !made || err != nil || do != 1 {
		t.Errorf("Do after Forget: made %v, err %v, run %d times", made, err, do)
	}
}

func TestDo(t *testing.T) {
	started := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		mark      *workflow.Mark
		stop      error
		happened  bool // what Check finds
		noCheck   bool
		wantMade  bool
		wantDo    int
		wantCheck int
		wantErr   error
		wantDone  bool
	}{
		{name: "new", wantMade: true, wantDo: 1, wantDone: true},
		{name: "done before", mark: &workflow.Mark{Started: started, Done: started}, wantDone: true},
		{name: "begun, happened", mark: &workflow.Mark{Started: started}, happened: true, wantCheck: 1, wantDone: true},
		{name: "begun, did not happen", mark: &workflow.Mark{Started: started}, wantCheck: 1, wantDo: 1, wantMade: true, wantDone: true},
		{name: "begun, no check", mark: &workflow.Mark{Started: started}, noCheck: true, wantDo: 1, wantMade: true, wantDone: true},
		{name: "stopped", stop: errCrash, wantErr: errCrash},
		{name: "stopped after it happened", mark: &workflow.Mark{Started: started}, stop: errCrash, happened: true, wantCheck: 1, wantDone: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &memStore{stop: tc.stop}
			if tc.mark != nil {
				s.r.Effects = map[string]workflow.Mark{"vote/1": *tc.mark}
			}
			var do, check int
			e := workflow.Effect{Key: "vote/1",
				Do:    func(context.Context) error { do++; return nil },
				Check: func(context.Context) (bool, error) { check++; return tc.happened, nil }}
			if tc.noCheck {
				e.Check = nil
			}
			in := &workflow.Instance{Def: &workflow.Definition{}, Store: s}
			made, err := in.Do(context.Background(), e)
			if !errors.Is(err, tc.wantErr) || made != tc.wantMade || do != tc.wantDo || check != tc.wantCheck {
				t.Errorf("Do: made %v, err %v, Do run %d times, Check %d; want %v, %v, %d, %d", made, err, do, check, tc.wantMade, tc.wantErr, tc.wantDo, tc.wantCheck)
			}
			if done := !s.r.Effects["vote/1"].Done.IsZero(); done != tc.wantDone {
				t.Errorf("done recorded %v, want %v", done, tc.wantDone)
			}
		})
	}
}

func TestDoFailureKeepsIntent(t *testing.T) {
	s := &memStore{}
	in := &workflow.Instance{Def: &workflow.Definition{}, Store: s}
	boom := errors.New("gerrit said no")
	if _, err := in.Do(context.Background(), workflow.Effect{Key: "vote/1", Do: func(context.Context) error { return boom }}); !errors.Is(err, boom) {
		t.Fatalf("Do: %v", err)
	}
	if m := s.r.Effects["vote/1"]; !m.Pending() {
		t.Errorf("mark %+v, want the intent without completion", m)
	}
	if err := in.Forget("vote/1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.r.Effects["vote/1"]; ok {
		t.Error("Forget left the mark")
	}
}

func TestRun(t *testing.T) {
	errStop := errors.New("aborted")
	for _, tc := range []struct {
		name    string
		next    string
		before  error
		wantErr error
		wantRan []string
		want    string
	}{
		{name: "from the start", wantRan: []string{"a", "b"}, want: workflow.Done},
		{name: "re-enters at the first unfinished step", next: "b", wantRan: []string{"b"}, want: workflow.Done},
		{name: "finished", next: workflow.Done, want: workflow.Done},
		{name: "unknown step", next: "zz", wantErr: workflow.ErrUnknownStep, want: "zz"},
		{name: "before stops", before: errStop, wantErr: errStop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ran []string
			step := func(name string) workflow.Step {
				return workflow.Step{Name: name, Run: func(context.Context) (any, error) { ran = append(ran, name); return nil, nil }}
			}
			def := &workflow.Definition{Steps: []workflow.Step{step("a"), step("b")},
				Before: func(context.Context, string) error { return tc.before }}
			s := &memStore{r: workflow.Record{Next: tc.next}}
			err := (&workflow.Instance{Def: def, Store: s}).Run(context.Background())
			if !errors.Is(err, tc.wantErr) || !slices.Equal(ran, tc.wantRan) || s.r.Next != tc.want {
				t.Errorf("Run: err %v, ran %v, next %q; want %v, %v, %q", err, ran, s.r.Next, tc.wantErr, tc.wantRan, tc.want)
			}
		})
	}
}

func TestResult(t *testing.T) {
	s := &memStore{r: workflow.Record{Results: map[string]json.RawMessage{"merge": json.RawMessage(`"abc"`)}}}
	in := &workflow.Instance{Def: &workflow.Definition{}, Store: s}
	var got string
	if ok, err := in.Result("merge", &got); !ok || err != nil || got != "abc" {
		t.Errorf("Result: %v, %v, %q", ok, err, got)
	}
	if ok, _ := in.Result("vote", &got); ok {
		t.Error("Result of a step without one")
	}
}

func pointsOf(w *world) []string  { def, _ := w.def(); return def.Points() }
func effectsOf(w *world) []string { def, _ := w.def(); return def.Effects() }

// failingStore fails every Update after the first n.
type failingStore struct {
	memStore
	n int
}

func (s *failingStore) Update(f func(r *workflow.Record) error) error {
	if s.n == 0 {
		return errors.New("disk full")
	}
	s.n--
	return s.memStore.Update(f)
}

func TestRunSaysWhenTheRecordFails(t *testing.T) {
	ran := 0
	def := &workflow.Definition{Steps: []workflow.Step{{Name: "a", Run: func(context.Context) (any, error) { ran++; return nil, nil }}}}
	s := &failingStore{}
	err := (&workflow.Instance{Def: def, Store: s}).Run(context.Background())
	if !errors.Is(err, workflow.ErrRecord) || ran != 1 || s.r.Next != "" {
		t.Errorf("Run: %v after %d runs, next %q; want ErrRecord after one, the step unfinished", err, ran, s.r.Next)
	}
}

// TestBeginRecordsIntentsAtOnce begins two effects in one write: Do makes
// the first without looking at its mark again; a new instance (a
// restart) finds the second begun and asks its Check.
func TestBeginRecordsIntentsAtOnce(t *testing.T) {
	s := &keyStore{marks: map[string]workflow.Mark{}}
	in := &workflow.Instance{Def: &workflow.Definition{}, Store: s}
	checks := 0
	effect := func(key string) workflow.Effect {
		return workflow.Effect{Key: key, Note: key + ":/srv", Do: func(context.Context) error { return nil },
			Check: func(context.Context) (bool, error) { checks++; return false, nil }}
	}
	if err := in.Begin([]workflow.Effect{effect("host/mw1"), effect("host/mw2")}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"host/mw1", "host/mw2"} {
		if m := s.marks[k]; !m.Pending() || m.Note != k+":/srv" {
			t.Errorf("%s after Begin: %+v, want its intent with its note", k, m)
		}
	}
	if made, err := in.Do(context.Background(), effect("host/mw1")); !made || err != nil || checks != 0 {
		t.Errorf("Do of a begun effect: made %v, err %v, %d checks; want made without a check", made, err, checks)
	}
	if s.marks["host/mw1"].Done.IsZero() {
		t.Error("the completion of host/mw1 is not recorded")
	}
	again := &workflow.Instance{Def: &workflow.Definition{}, Store: s}
	if made, err := again.Do(context.Background(), effect("host/mw2")); !made || err != nil || checks != 1 {
		t.Errorf("Do after a restart: made %v, err %v, %d checks; want made after one check", made, err, checks)
	}
	stopped := &workflow.Instance{Def: &workflow.Definition{}, Store: &memStore{stop: errCrash}}
	if err := stopped.Begin([]workflow.Effect{effect("host/mw3")}); !errors.Is(err, errCrash) {
		t.Errorf("Begin over a stopped record: %v, want the stop", err)
	}
}

// TestKeyStoreRefusesAfterStop: marks kept by key are refused by the
// record's Stop as the Record's are: Begin records nothing, Do neither
// records a new intent nor makes an effect Begin recorded before the
// stop, and Withdraw then forgets that intent (never made).
func TestKeyStoreRefusesAfterStop(t *testing.T) {
	s := &keyStore{marks: map[string]workflow.Mark{}}
	in := &workflow.Instance{Def: &workflow.Definition{}, Store: s}
	made := 0
	effect := func(key string) workflow.Effect {
		return workflow.Effect{Key: key, Do: func(context.Context) error { made++; return nil }}
	}
	if err := in.Begin([]workflow.Effect{effect("host/mw1"), effect("host/mw2")}); err != nil {
		t.Fatal(err)
	}
	s.stop = errCrash // an abort
	if err := in.Begin([]workflow.Effect{effect("host/mw3")}); !errors.Is(err, errCrash) {
		t.Errorf("Begin after the stop: %v, want the stop", err)
	}
	if _, err := in.Do(context.Background(), effect("host/mw4")); !errors.Is(err, errCrash) {
		t.Errorf("Do of a new effect after the stop: %v, want the stop", err)
	}
	if _, err := in.Do(context.Background(), effect("host/mw1")); !errors.Is(err, errCrash) {
		t.Errorf("Do of a begun effect after the stop: %v, want the stop", err)
	}
	if made != 0 {
		t.Errorf("%d effects made after the stop", made)
	}
	if _, ok := s.marks["host/mw3"]; ok {
		t.Error("Begin recorded an intent after the stop")
	}
	if _, ok := s.marks["host/mw4"]; ok {
		t.Error("Do recorded an intent after the stop")
	}
	if err := in.Withdraw(); err != nil {
		t.Fatal(err)
	}
	if len(s.marks) != 0 {
		t.Errorf("after Withdraw: %v, want the intents never gone on with forgotten", s.marks)
	}
}

// TestForgetManyInOneWrite: forgetting many effects kept by key is one
// write, not one each (a restart finding thousands of hosts not holding
// the release).
func TestForgetManyInOneWrite(t *testing.T) {
	s := &keyStore{marks: map[string]workflow.Mark{}}
	in := &workflow.Instance{Def: &workflow.Definition{}, Store: s}
	keys := []string{"host/mw1", "host/mw2", "host/mw3"}
	for _, k := range keys {
		if err := in.Settle(k, ""); err != nil {
			t.Fatal(err)
		}
	}
	s.writes = 0
	if err := in.Forget(keys...); err != nil {
		t.Fatal(err)
	}
	if len(s.marks) != 0 || s.writes != 1 {
		t.Errorf("after Forget: marks %v in %d writes, want none in one", s.marks, s.writes)
	}
}
