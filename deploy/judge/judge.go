// Package judge holds the rules by which a deploy is judged, apart from
// the engine that acts on them (package deploy): the deploy policy's
// interface (Judge, with the Question it is asked and the Verdict it
// gives), the testing gate's rules (Gate: whom to ask and what, and what
// the answers decide; Confirm: whose answer counts), the waits a deploy's
// record shows (PendingGate, PendingDecision), and the texts of a deploy's
// approvals (ApprovalText, ApprovedText, Unapproved).
//
// Everything here is a plain function of a deploy's record (package
// record), the engine's configuration and, where it matters, the time
// passed in: nothing reads the database, says anything or waits. The
// engine asks, records and says:
//
//	rules := judge.Gate{Owner: owner, OneOwnerEnough: false}
//	switch outcome, by := rules.Decide(d, d.Sync.Stage("testservers").Gate); outcome {
//	case judge.Passed: // record it, say so and go on
//	case judge.Failed: // roll back: by said the changes do not work
//	}
package judge

import (
	"context"
	"time"

	"github.com/jouncebot/jouncebot/deploy/record"
)

// Judge is the deploy policy where the deploy happens. The engine asks it
// when a deploy or revert starts and again before each stage that widens
// exposure (each sync stage), with the judge's own calendar, freezes,
// claims and people: what the chat side sends is a request, not a verdict.
// With a Judge the engine ignores the request's InWindow, Window and
// Frozen and takes the approvals only as names the judge maps to its own
// people.
type Judge interface {
	// Judge returns the facts to record and, when the action may not go
	// on, the sentence saying why ("" when it may).
	Judge(ctx context.Context, q Question) (Verdict, string)
}

// Question is what the engine asks its Judge.
type Question struct {
	// Action is "deploy" or "revert".
	Action    string
	By        record.Person
	Force     bool
	Reason    string
	Approvals []record.Approval
	// Stage is the stage about to begin; "" when the deploy starts.
	// Started is when the deploy started (zero when it starts now).
	Stage   string
	Started time.Time
	// Frozen is the freeze the deploy started in ("" when none): a forced
	// deploy goes on through that freeze only, not one declared later.
	Frozen string
	// ForcedAt is when --force was given to a request that waited for
	// approvals (zero: it was given now).
	ForcedAt time.Time
	// Example is the command to show with --force.
	Example string
}

// Verdict is what the judge found: the window the deploy runs in ("" when
// outside any window that allows it), the freeze in force, and the
// approvals that count (those that fill a need of the rules in force, by
// the judge's own people; the others are dropped).
type Verdict struct {
	InWindow  bool
	Window    string
	Frozen    string
	Approvals []record.Approval
}
