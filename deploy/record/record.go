// Package record holds what a deploy's record is made of: the deploy,
// its changes and checkouts, its sync stages, hosts, gates, rollback and
// revert, as kept in bbolt (as JSON, in bucket deploy.deploys, and each
// host's result in deploy.hosts). The engine (package deploy) and its
// places share these types, and read and write a deploy's record with
// Get and Put.
package record

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/workflow"
)

// Deploy is the record of one deploy, kept in bucket deploy.deploys and
// rewritten before every side effect.
type Deploy struct {
	ID         ID
	State      string
	Stage      string // the stage to run (or running); "done" after the last
	By         Person
	ApprovedBy string
	Approvals  []Approval `json:",omitempty"`
	// Approved is what the policy's approvals were for (nil without
	// them): the changes at their patchsets, and the release frozen from
	// exactly those.
	Approved    *Approved `json:",omitempty"`
	InWindow    bool
	Window      string
	Frozen      string
	Force       bool
	Reason      string
	PrepareOnly bool
	Origin      string
	Changes     []Change
	Repos       []Repo
	Pause       *Pause
	WaitSince   time.Time // start of the merge wait, for its timeout
	AbortBy     string
	Error       string
	History     []Entry
	Created     time.Time
	Finished    time.Time
	// Extra holds the state of later stages, by stage name.
	Extra map[string]json.RawMessage `json:",omitempty"`
	// Sync is the state of the sync stages, once they started.
	Sync *SyncRecord `json:",omitempty"`
	// Revert is set for a revert made in staging (the `revert` command).
	Revert *RevertRecord `json:",omitempty"`
	// Steps are the results the workflow's steps recorded, by step
	// (workflow.Record.Results); Effects the side effects made through
	// Job.Do that have no field of their own above, by key. Both are
	// absent from records written before them, which read as none.
	Steps   map[string]json.RawMessage `json:",omitempty"`
	Effects map[string]Op              `json:",omitempty"`
}

// Kind is what a change deploys as.
type Kind string

// Kinds of deployable change.
const (
	KindConfig    Kind = "config"    // the config repository
	KindCore      Kind = "core"      // MediaWiki core on a wmf/ branch
	KindSubmodule Kind = "submodule" // an extension or skin of core
)

// Change is one change of a deploy.
type Change struct {
	Number   int
	Project  string
	Branch   string
	ChangeID string
	// Subject and Bugs are gerrit.PrivateSubject and none for a change
	// marked private in Gerrit (Private): every text shows them.
	Subject   string
	Owner     string // Gerrit username
	OwnerName string
	Bugs      []string
	Private   bool `json:",omitempty"`
	// PrivateText holds a private change's real subject and tasks while
	// the deploy starts, for the security destination; never recorded.
	PrivateText string `json:"-"`
	// Maintenance are the values of the change's Maintenance-Script
	// footers: the scripts it asks to run after the production sync.
	Maintenance []string `json:",omitempty"`
	Kind        Kind
	// Repo is the staging checkout it lands in, relative to the staging
	// directory ("" for the config repository, "php-1.46.0-wmf.3" for core).
	Repo string
	// Submodule is the path of an extension or skin inside core.
	Submodule string
	// Revision and PatchSet are what the deployer approved.
	Revision string
	PatchSet int
	// MergedBefore is true when the change had merged before the deploy.
	MergedBefore bool
	Vote         Op
	Merged       bool
}

// Op is the record of one side effect: Started is written before it
// happens, Done after. It is the workflow's Mark (the same JSON), kept in
// the field of the record that it is about.
type Op = workflow.Mark

// Repo is one staging checkout touched by a deploy.
type Repo struct {
	Dir        string // relative to the staging directory
	Branch     string
	Before     string // HEAD before the deploy touched it
	Fetch      Op
	Upstream   string   // origin/<branch> after the fetch
	Local      []string // subjects of local-only commits (security patches)
	Submodules []string // submodule paths the upstream commits touched
	Update     Op
	SubUpdate  Op
	After      string // HEAD after the update
}

// Pause says why a deploy waits for continue.
type Pause struct {
	Change   int
	PatchSet int
	Revision string
	Uploader string
	Kind     string
}

// Entry is one line of a deploy's history.
type Entry struct {
	Time time.Time
	Text string
}

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
	// Unsynced are the hosts of a revert's stage that failed to get the
	// revert: a revert goes on rather than roll back, and its end names
	// them.
	Unsynced []string `json:",omitempty"`
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

// Stage is the record of the sync stage name, made when it has none.
func (r *SyncRecord) Stage(name string) *StageRecord {
	if r.Stages == nil {
		r.Stages = map[string]*StageRecord{}
	}
	if r.Stages[name] == nil {
		r.Stages[name] = &StageRecord{}
	}
	return r.Stages[name]
}

// Mark is r as a workflow mark. A result recorded before intents were
// (no Started) was written as the host ended: it began then too.
func (r HostResult) Mark() workflow.Mark {
	m := workflow.Mark{Started: r.Started, Note: r.Dest}
	if m.Started.IsZero() {
		m.Started = r.Time
	}
	if r.Err == "" {
		m.Done = r.Time
	}
	return m
}

// Done reports whether the host is on record as synced: its sync ended,
// without an error.
func (r HostResult) Done() bool { return !r.Time.IsZero() && r.Err == "" }

// RevertRecord is the state of a revert made in staging and synced
// before it goes to Gerrit.
type RevertRecord struct {
	// Commits are the commits reverted, newest first.
	Commits []RevertCommit
	Local   Op
	Pushed  Op
	// New are the revert changes pushed for review.
	New       []int `json:",omitempty"`
	Commented Op
}

// RevertCommit is one reverted commit.
type RevertCommit struct {
	Change   int
	Repo     string
	Branch   string
	SHA      string
	Merge    bool
	ChangeID string // of the revert
	Revert   string // the revert commit in staging
	// Private: the reverted change is marked private in Gerrit. The
	// revert's subject quotes its subject, so the revert is pushed
	// private too.
	Private bool `json:",omitempty"`
}

// Approved is what a deploy's policy approvals were for. They are given
// before the deploy starts, so before anything is frozen: they name the
// changes at their patchsets, the engine refuses a start at other
// patchsets, pauses on a new patchset without letting it ship, stops when
// upstream holds anything else, and binds the release it freezes from
// exactly those changes here.
type Approved struct {
	PatchSets map[int]int
	// Release is the release frozen from the approved changes ("" until
	// the freeze).
	Release string `json:",omitempty"`
}

// ChangesText is "445113 at patchset 1 and 445114 at patchset 2".
func (ap *Approved) ChangesText() string {
	nums := make([]int, 0, len(ap.PatchSets))
	for n := range ap.PatchSets {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	var out []string
	for _, n := range nums {
		out = append(out, fmt.Sprintf("%d at patchset %d", n, ap.PatchSets[n]))
	}
	return bot.JoinNames(out)
}

// ID identifies a deploy; people type it ("approve 7").
type ID string

// Person is someone acting on a deploy, as the chat side identified them by
// account.
type Person struct {
	Name     string // from config; empty means not identified
	IRCNick  string
	MatrixID string
	Gerrit   string // Gerrit username, if known
	Deployer bool   // has the deployer role
	Admin    bool   // has the admin role
}

// Mention is the rich-text mention of p.
func (p Person) Mention() bot.Text {
	return bot.M(bot.Person{Name: p.Name, IRCNick: p.IRCNick, MatrixID: p.MatrixID})
}

// Approval is one person's approval of a deploy under a policy rule.
type Approval struct {
	By   string
	At   time.Time
	Rule string
}
