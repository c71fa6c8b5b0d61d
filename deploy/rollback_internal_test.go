package deploy

import (
	"encoding/json"
	"testing"
	"time"

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
