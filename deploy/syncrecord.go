package deploy

import (
	"encoding/json"
	"time"

	"github.com/jouncebot/jouncebot/deploy/workflow"
)

// SyncRecord is the state of a deploy's sync stages.
type SyncRecord struct {
	// Previous is the release frozen from staging before the deploy
	// changed it (what the hosts hold), to roll back to ("" when none).
	Previous string `json:",omitempty"`
	// Release is the release the deploy syncs, frozen once staging was
	// prepared; every stage syncs exactly it.
	Release string `json:",omitempty"`
	// Commits are the staging commits the release was frozen from by
	// this deploy, by checkout. A release with the same files frozen
	// before from other commits (a revert, a redeploy) keeps the
	// commits of its first freeze; staging is compared with these.
	Commits map[string]string `json:",omitempty"`
	// Files are the paths that differ between the two releases; nil
	// means the whole tree.
	Files    []string
	Started  time.Time
	SALStart time.Time `json:",omitzero"` // the "Started sync" line was written
	// Drift is how staging differed from the release when last looked
	// at, so it is said once.
	Drift    []string `json:",omitempty"`
	Stages   map[string]*StageRecord
	Rollback *RollbackRecord `json:",omitempty"`
	Purge    Op
	SALEnd   time.Time `json:",omitzero"`
}

// StageRecord is the state of one sync stage.
type StageRecord struct {
	Started time.Time
	// Hosts are the per-host results, kept in bucket deploy.hosts (one
	// key each, written as each host finishes) and filled in by
	// Engine.Record.
	Hosts  map[string]HostResult `json:",omitempty"`
	Synced time.Time             `json:",omitzero"`
	// Retried is when the deployer last said retry: a canary analysis
	// then observes a new window from there.
	Retried time.Time `json:",omitzero"`
	Summary string
	Checks  *CheckRecord `json:",omitempty"`
	Gate    *GateRecord  `json:",omitempty"`
	// Unreachable are the hosts on record as synced that could not be
	// checked after a restart (Failed), and the deployer's decision.
	Unreachable *CheckRecord `json:",omitempty"`
}

// HostResult is one host's sync: Started when it began (absent from
// results recorded before beginnings were), Time when it ended (zero
// while it has not).
type HostResult struct {
	Dest     string
	Started  time.Time `json:",omitzero"`
	Time     time.Time `json:",omitzero"`
	Duration time.Duration
	Err      string `json:",omitempty"`
}

// CheckRecord is the state of a stage's checks.
type CheckRecord struct {
	Passed   time.Time `json:",omitzero"`
	Failed   []string  `json:",omitempty"`
	Asked    time.Time `json:",omitzero"`
	Decision string    `json:",omitempty"` // retry, rollback, continue
	By       string    `json:",omitempty"`
	Reason   string    `json:",omitempty"`
	// Canary sums up the stage's canary analyses (the samples are in
	// bucket deploy.canary).
	Canary []CanarySummary `json:",omitempty"`
}

// CanarySummary is a canary analysis's outcome.
type CanarySummary struct {
	Check   string
	Score   *float64 // nil: no metric had data
	Verdict string   // pass, marginal, fail
}

// GateRecord is the state of a stage's testing gate.
type GateRecord struct {
	Asked    time.Time
	Reminded time.Time `json:",omitzero"`
	TimedOut time.Time `json:",omitzero"`
	Answers  []Confirmation
	Passed   time.Time `json:",omitzero"`
}

// Confirmation is one "tested ok" or "tested fail": who, when, and for
// which patchsets.
type Confirmation struct {
	Who       string
	Gerrit    string `json:",omitempty"`
	Deployer  bool   `json:",omitempty"`
	OK        bool
	Time      time.Time
	PatchSets map[int]int // change → patchset
	// Release is the release that was tested.
	Release string `json:",omitempty"`
}

// RollbackRecord is the state of a rollback.
type RollbackRecord struct {
	Reason  string
	Started time.Time
	// Total is the number of hosts the rollback puts back, as said when
	// it started.
	Total      int       `json:",omitempty"`
	SALStarted time.Time `json:",omitzero"` // the "Started rollback" line was written
	// Hosts and Verified are the per-host results, stage → host →
	// result, kept in bucket deploy.hosts and filled in by Engine.Record.
	Hosts    map[string]map[string]HostResult `json:",omitempty"`
	Verified map[string]map[string]HostResult `json:",omitempty"`
	Done     time.Time                        `json:",omitzero"`
	// Outcome is the sentence that ends the deploy, SALLine the closing
	// SAL line, written at SALEnd.
	Outcome string    `json:",omitempty"`
	SALLine string    `json:",omitempty"`
	SALEnd  time.Time `json:",omitzero"`
	// Step, Steps and Effects are the rollback's workflow record
	// (rollbackFlow): its next step, the stage steps' results and the
	// marks of its SAL lines. A record from before the workflow has none.
	Step    string                     `json:",omitempty"`
	Steps   map[string]json.RawMessage `json:",omitempty"`
	Effects map[string]workflow.Mark   `json:",omitempty"`
}

func (r *SyncRecord) stage(name string) *StageRecord {
	if r.Stages == nil {
		r.Stages = map[string]*StageRecord{}
	}
	if r.Stages[name] == nil {
		r.Stages[name] = &StageRecord{}
	}
	return r.Stages[name]
}
