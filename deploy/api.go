package deploy

import (
	"context"
	"time"

	"github.com/jouncebot/jouncebot/bot"
)

// The engine's API besides the deploy's own life (deploy.go, control.go,
// gate.go, revert.go): each method hands the question to the part of the
// engine that knows, where its behaviour is described.

// Plan implements Service: the steps and git commands a deploy of the
// changes would run, and how to revert them, without doing anything
// (changes.Plan).
func (e *Engine) Plan(ctx context.Context, specs []string) (bot.Text, error) {
	return e.changes.Plan(ctx, specs)
}

// Summary implements Service: the Server Admin Log summary of the changes
// (changes.Summary).
func (e *Engine) Summary(ctx context.Context, specs []string) (string, error) {
	return e.changes.Summary(ctx, specs)
}

// PatchSets returns the current patchset of each of the changes nums in
// the engine's Gerrit, leaving out changes Gerrit does not know
// (changes.PatchSets).
func (e *Engine) PatchSets(ctx context.Context, nums []int) (map[int]int, error) {
	return e.changes.PatchSets(ctx, nums)
}

// Pending is the question the current deploy waits on, as an event, so a
// chat side that was away can ask it again; ok is false when it waits on
// none (gatekeeper.Pending).
func (e *Engine) Pending(ctx context.Context) (ev Event, ok bool, err error) {
	return e.gatekeeper.Pending(ctx)
}

// SetJudge makes j the engine's judge. Call it before Run.
func (e *Engine) SetJudge(j Judge) { e.referee.SetJudge(j) }

// SetCanaryURL sets Options.CanaryURL. Call it before Run.
func (e *Engine) SetCanaryURL(f func(id ID) string) { e.canaryRecords.SetCanaryURL(f) }

// CanaryAnalyses returns a deploy's canary analyses, stage by stage in
// the order they ran (canaryRecords.CanaryAnalyses).
func (e *Engine) CanaryAnalyses(id ID) ([]StageAnalysis, error) {
	return e.canaryRecords.CanaryAnalyses(id)
}

// Estimate is how long a deploy takes, from the last n that synced, and a
// phrase saying so (records.Estimate).
func (e *Engine) Estimate(n int) (time.Duration, string, error) { return e.records.Estimate(n) }

// History returns the last n finished deploys that synced, newest first
// (records.History).
func (e *Engine) History(n int) ([]Took, error) { return e.records.History(n) }

// Recent returns the last n deploys, newest first, finished or not
// (records.Recent).
func (e *Engine) Recent(n int, known func(ID) (*Summary, bool)) ([]*Summary, error) {
	return e.records.Recent(n, known)
}

// Steps lists the steps of a deploy of d's kind and the points it can be
// stopped at, for the crash matrix (flows.Steps).
func (e *Engine) Steps(d *Deploy) (steps, points []string) { return e.flows.Steps(d) }

// RollbackPoints lists the points a rollback's workflow can be stopped at,
// for the crash matrix (flows.RollbackPoints).
func (e *Engine) RollbackPoints() []string { return e.flows.RollbackPoints() }

// SyncStageNames lists the sync stages' names in order.
func (e *Engine) SyncStageNames() []string { return e.releaser.SyncStageNames() }

// SyncStageSizes lists the sync stages in order with their host counts,
// read from the configuration now (releaser.SyncStageSizes).
func (e *Engine) SyncStageSizes() ([]StageSize, error) { return e.releaser.SyncStageSizes() }
