// Package readiness checks, before a deployment window, whether each
// queued patch can be deployed: the change is open or merged, on a live
// branch, mergeable with a positive CI vote, its dependencies merged or
// queued before it, it applies cleanly onto staging (with the local
// security patches and the other queued patches), what it needs beyond a
// sync, whether its owner is around, and whether the window can hold the
// queue.
//
// The check never changes anything: a Gatherer reads Gerrit, the staging
// checkout (read-only git commands) and chat presence, and does its dry
// merges in a throwaway repository that borrows staging's objects; Evaluate
// turns those facts into a Result without any I/O; the texts are plain
// functions of a Result.
//
//	g := &readiness.Gatherer{Gerrit: client, Git: &git.Runner{}, Staging: dir, GitURL: gitURL}
//	facts, err := g.Gather(ctx, w, queue, others)
//	res := readiness.Evaluate(readiness.Input{Window: w, Patches: queue, Facts: facts, Now: now})
//	text := readiness.Summary(res)
package readiness

import (
	"strings"
	"time"
)

// Status is a patch's verdict.
type Status string

// Verdicts: a ready patch may have notes (a CDN purge, an absent owner);
// a blocked one would fail or do harm if deployed as it is.
const (
	Ready   Status = "ready"
	Blocked Status = "blocked"
)

// Kinds of findings.
const (
	KindGerrit      = "gerrit"      // Gerrit could not tell
	KindAbandoned   = "abandoned"   // the change is abandoned
	KindWIP         = "wip"         // work in progress
	KindPatchSet    = "patchset"    // a newer patchset than the one last checked
	KindBranch      = "branch"      // not a deployable project or branch, or not live
	KindOtherBranch = "otherbranch" // only one of several live branches
	KindCI          = "ci"          // Verified missing or negative
	KindReview      = "review"      // Code-Review -2
	KindMergeable   = "mergeable"   // Gerrit says it cannot merge
	KindDependency  = "dependency"  // an unmerged dependency not queued before it
	KindSecurity    = "security"    // conflicts with a local security patch
	KindConflict    = "conflict"    // conflicts with another queued patch
	KindUpstream    = "upstream"    // does not apply onto the branch in staging
	KindMerge       = "merge"       // the dry merge could not run
	KindStaging     = "staging"     // staging has uncommitted changes: a deploy would be refused
	KindTimeout     = "timeout"     // the check did not finish in time
	KindStatic      = "static"      // static files: a CDN purge will run
	KindL10n        = "l10n"        // i18n files: a localisation rebuild
	KindMaintenance = "maintenance" // a maintenance script to run
	KindOwner       = "owner"       // owner unknown or not present
	KindFit         = "fit"         // the window cannot hold the queue
)

// Finding is one thing the check found about a patch or the window.
type Finding struct {
	Kind string `json:"kind"`
	// Blocking findings make the patch blocked.
	Blocking bool `json:"blocking,omitempty"`
	// Text says what was found, for everyone: "merge conflict with a
	// local security patch". It never names a security patch or its files.
	Text string `json:"text"`
	// Action says what the owner should do, in the imperative: "rebase it
	// onto the current branch". Empty when nothing is to be done.
	Action string `json:"action,omitempty"`
	// Ask is the action in a few words, for the channel: "rebase".
	Ask string `json:"ask,omitempty"`
	// Private holds details naming a local security patch, for the
	// security destination only. It is never shown in public.
	Private string `json:"-"`
}

// PatchResult is the verdict on one queued patch.
type PatchResult struct {
	Change   int       `json:"change"`
	Owner    string    `json:"owner,omitempty"`
	Project  string    `json:"project,omitempty"`
	Branch   string    `json:"branch,omitempty"`
	Subject  string    `json:"subject,omitempty"`
	PatchSet int       `json:"patchset,omitempty"`
	Status   Status    `json:"status"`
	Findings []Finding `json:"findings,omitempty"`
	// Estimate is the time this patch is expected to take.
	Estimate time.Duration `json:"estimate"`
}

// Result is a readiness check of one window.
type Result struct {
	WindowID   string        `json:"window_id"`
	WindowName string        `json:"window_name"`
	Short      string        `json:"short,omitempty"`
	Start      time.Time     `json:"start"`
	End        time.Time     `json:"end"`
	CheckedAt  time.Time     `json:"checked_at"`
	Patches    []PatchResult `json:"patches"`
	// Estimate is how long the queue is expected to take (the sum of the
	// patches' medians), Estimate90 the sum of their 90th percentiles;
	// EstimateFrom says where the figures come from.
	Estimate     time.Duration `json:"estimate"`
	Estimate90   time.Duration `json:"estimate90"`
	EstimateFrom string        `json:"estimate_from"`
	// Window holds findings about the whole window (it cannot hold the queue).
	Window []Finding `json:"window,omitempty"`
}

// Length is the window's length.
func (r Result) Length() time.Duration { return r.End.Sub(r.Start) }

// Count returns how many patches are ready and blocked.
func (r Result) Count() (ready, blocked int) {
	for _, p := range r.Patches {
		if p.Status == Blocked {
			blocked++
		} else {
			ready++
		}
	}
	return ready, blocked
}

// Patch returns the result for a change.
func (r Result) Patch(change int) (PatchResult, bool) {
	for _, p := range r.Patches {
		if p.Change == change {
			return p, true
		}
	}
	return PatchResult{}, false
}

// Reason is a patch's blocking findings as one sentence fragment.
func (p PatchResult) Reason() string {
	var parts []string
	for _, f := range p.Findings {
		if f.Blocking {
			parts = append(parts, f.Text)
		}
	}
	return strings.Join(parts, "; ")
}

// Notes are a patch's findings that do not block it.
func (p PatchResult) Notes() []Finding {
	var out []Finding
	for _, f := range p.Findings {
		if !f.Blocking {
			out = append(out, f)
		}
	}
	return out
}
