package deploy

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/store"

	"github.com/jouncebot/jouncebot/deploy/deliver"
	"github.com/jouncebot/jouncebot/deploy/workflow"
)

// A rollback recorded before rollbacks were workflows goes on where its
// SAL fields say it was, and never writes a SAL line twice.
func TestRollbackRecordFromBeforeTheWorkflow(t *testing.T) {
	at := time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC)
	for _, c := range []struct {
		name           string
		rb             RollbackRecord
		next           string
		started, ended bool
	}{
		{name: "nothing written", rb: RollbackRecord{Started: at}, next: ""},
		{name: "started line written", rb: RollbackRecord{Started: at, SALStarted: at}, next: "", started: true},
		{name: "hosts done", rb: RollbackRecord{Started: at, SALStarted: at, Done: at, SALLine: "Finished rollback"}, next: rollbackFinishLine, started: true},
		{name: "closing line written", rb: RollbackRecord{Started: at, SALStarted: at, Done: at, SALEnd: at}, next: workflow.Done, started: true, ended: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rollbackRecord(&c.rb)
			if r.Next != c.next {
				t.Errorf("next step %q, want %q", r.Next, c.next)
			}
			if got := !r.Effects[salStartRollback].Done.IsZero(); got != c.started {
				t.Errorf("start line on record as written: %v, want %v", got, c.started)
			}
			if got := !r.Effects[salFinishRollback].Done.IsZero(); got != c.ended {
				t.Errorf("closing line on record as written: %v, want %v", got, c.ended)
			}
			// Written back, the record reads the same.
			rb := c.rb
			setRollbackRecord(&rb, r)
			if again := rollbackRecord(&rb); again.Next != r.Next || len(again.Effects) != len(r.Effects) {
				t.Errorf("written back and read again: %+v, want %+v", again, r)
			}
		})
	}
}

// A rollback goes on at the first configured stage without a result, so
// no stage is skipped when the stages changed since it stopped; past its
// outcome, or before its first stage, it goes on where it was.
func TestRollbackRealign(t *testing.T) {
	def := &workflow.Definition{Steps: []workflow.Step{{Name: rollbackStartLine}, {Name: "stage/production"}, {Name: "stage/testservers"},
		{Name: "stage/canaries"}, {Name: rollbackOutcome}, {Name: rollbackFinishLine}}}
	done := map[string]json.RawMessage{"stage/testservers": json.RawMessage(`{}`)}
	all := map[string]json.RawMessage{"stage/testservers": nil, "stage/production": nil, "stage/canaries": nil}
	for _, c := range []struct {
		next    string
		results map[string]json.RawMessage
		want    string
	}{
		{next: "", want: ""},
		{next: rollbackStartLine, want: rollbackStartLine},
		{next: "stage/canaries", results: done, want: "stage/production"}, // production moved before it
		{next: "stage/gone", results: done, want: "stage/production"},     // a stage that left
		{next: rollbackOutcome, results: done, want: "stage/production"},  // one added back
		{next: rollbackOutcome, results: all, want: rollbackOutcome},
		{next: "stage/gone", results: all, want: rollbackOutcome},
		{next: rollbackFinishLine, results: done, want: rollbackFinishLine},
		{next: workflow.Done, want: workflow.Done},
	} {
		if got := realign(def, &workflow.Record{Next: c.next, Results: c.results}); got != c.want {
			t.Errorf("at %q with results %v: goes on at %q, want %q", c.next, c.results, got, c.want)
		}
	}
}

// A stage that left the configuration while its rollback was being
// verified is named in the stop unless each of its hosts was verified as
// put back: the stop never says every host holds the previous tree when
// one was not looked at (found by review).
func TestRollbackNamesAStageThatLeftMidVerify(t *testing.T) {
	at := time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC)
	for _, c := range []struct {
		name                     string
		synced, rolled, verified map[string]HostResult
		hosts, stages            []string
		back                     int
	}{
		{name: "no host on record as synced, one verified",
			rolled: map[string]HostResult{"prod1": {Time: at}, "prod2": {Time: at}}, verified: map[string]HostResult{"prod1": {Time: at}},
			hosts: []string{"prod2 (production is no longer configured)"}, stages: []string{"production"}, back: 1},
		{name: "a host off the record put back and not verified",
			synced:   map[string]HostResult{"prod1": {Time: at}},
			rolled:   map[string]HostResult{"prod1": {Time: at}, "prod2": {Time: at}},
			verified: map[string]HostResult{"prod1": {Time: at}, "prod2": {Time: at, Err: "differs"}},
			hosts:    []string{"prod2 (production is no longer configured)"}, back: 1},
		{name: "every host verified",
			synced: map[string]HostResult{"prod1": {Time: at}}, rolled: map[string]HostResult{"prod1": {Time: at}},
			verified: map[string]HostResult{"prod1": {Time: at}}, back: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, err := store.Open(filepath.Join(t.TempDir(), "jouncebot.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			e := &Engine{records: records{db: db}, hosts: hostRecords{Hosts: deliver.Hosts{DB: db}}}
			id := ID("1")
			for kind, res := range map[deliver.Kind]map[string]HostResult{deliver.Synced: c.synced, deliver.RolledBack: c.rolled, deliver.Verified: c.verified} {
				r := e.hosts.Recorder(id, kind, "production")
				for h, x := range res {
					r.Add(h, x)
				}
				if err := r.Close(); err != nil {
					t.Fatal(err)
				}
			}
			d := &Deploy{ID: id, Sync: &SyncRecord{Stages: map[string]*StageRecord{"production": {Started: at}}}}
			def := &workflow.Definition{Steps: []workflow.Step{{Name: rollbackStartLine}, {Name: "stage/testservers"}, {Name: rollbackOutcome}, {Name: rollbackFinishLine}}}
			hosts, stages, back, err := (&rollbackRun{j: &Job{e: e, id: id}}).unconfigured(d, def, &workflow.Record{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(hosts, c.hosts) || !slices.Equal(stages, c.stages) || back != c.back {
				t.Errorf("named hosts %q and stages %q, %d put back; want %q, %q, %d", hosts, stages, back, c.hosts, c.stages, c.back)
			}
		})
	}
}
