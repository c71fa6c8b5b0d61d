// Package deploy is jouncebot's backport engine: from `deploy 445113` to a
// verified staging checkout holding exactly the approved changes, the way
// scap backport does it, but visible in chat, recorded in bbolt step by step,
// resumable after a restart and bounded by timeouts.
//
// The chat side sees only the Service interface and receives progress through
// a Notifier; it passes a request (who asks, the changes, --force and its
// reason, the approvals it collected) and shows the sentences it gets back.
// The engine's Judge (Options.Judge) decides on the deploy policy with its
// own calendar, freezes and people, when a deploy starts and before each
// sync stage. The engine itself
// is an *Engine:
//
//	g, _ := gerrit.New(gerrit.Options{URL: …, Username: …, Password: …})
//	e := deploy.NewEngine(db, g, &git.Runner{}, notifier, deploy.Options{StagingDir: "/srv/mediawiki-staging"})
//	go e.Run(ctx) // resumes unfinished deploys, runs new ones, returns when ctx is done
//	id, err := e.Start(ctx, deploy.Request{Changes: []string{"445113"}, By: person, InWindow: true})
//
// A deploy is a list of stages (see Stage) that go through the deploy's
// places, each a package whose steps see the deploy as a step.Job:
// package prepare's vote, merge, fetch, check, (package release's
// snapshot,) update, verify — after which the staging checkout is
// "prepared" — then (release's freeze,) followed by Options.Stages
// (deliver, with package deliver recording each host, and judge, by
// package judge's rules). Snapshot and freeze make immutable releases
// (package release) of the tree before and after the update; the sync stages (SyncStage, built from the
// configuration by SyncStages) copy the deploy's release, never the live
// staging checkout, to each stage's hosts with package hostsync, run the
// stage's checks (package check; a failure waits for the deployer's retry,
// rollback or continue), and, for a stage that waits for a test, ask the
// deployer and the patch owners for "tested ok" of that release
// (Engine.Tested). A failure rolls every synced host back to the release
// kept by the snapshot stage, verified; the last stage is
// followed by the CDN purge and the closing SAL lines (Logger). Revert
// reverts deployed changes in staging, syncs first and pushes the revert
// to Gerrit. Each stage writes its intent to bbolt before each side effect
// (and each host's result as it comes), so a restarted engine continues
// without voting, running a git command or syncing a host twice. The
// stages run as a workflow (package workflow): the record's Stage is the
// first unfinished step, and the side effects made through Job.Do (the
// +2, the CDN purge, a revert's SAL lines and comments) are made once by key, looked at
// with a check after a restart that interrupted them.
//
// Concurrency: the Service methods are safe to call from any goroutine (each
// chat message runs on its own). Run owns one goroutine per running deploy;
// all state changes go through single bbolt transactions, so an abort or a
// continue from chat and the running deploy never overwrite each other. The
// deploy lock allows one deploy at a time.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy/deliver"
	"github.com/jouncebot/jouncebot/deploy/purge"
	"github.com/jouncebot/jouncebot/deploy/release"
	"github.com/jouncebot/jouncebot/deploy/step"
	"github.com/jouncebot/jouncebot/deploy/workflow"
	"github.com/jouncebot/jouncebot/store"
)

// Service is what the chat side calls. Every error it returns is a sentence
// to show to the person who asked. An empty id means the current deploy.
type Service interface {
	// Start checks the request and the changes, takes the deploy lock and
	// starts the deploy; progress arrives through the Notifier.
	Start(ctx context.Context, r Request) (ID, error)
	// Continue accepts a new patchset that appeared while waiting for the
	// merge, and approves it too.
	Continue(ctx context.Context, id ID, who Person) error
	// Abort stops the deploy before its next side effect.
	Abort(ctx context.Context, id ID, who Person) error
	// Approve is a second deployer's approval of a forced deploy.
	Approve(ctx context.Context, id ID, who Person) error
	// Status describes the current deploy, if any.
	Status(ctx context.Context) (Status, error)
	// Plan says, without doing anything, what deploying the changes would do.
	Plan(ctx context.Context, changes []string) (bot.Text, error)
	// Summary is the SAL/wikitext summary of the changes.
	Summary(ctx context.Context, changes []string) (string, error)
	// Tested records a patch owner's or the deployer's "tested ok" (ok)
	// or "tested fail" for the deploy's pending testing gate.
	Tested(ctx context.Context, id ID, who Person, ok bool) error
	// Decide records the deployer's answer to failed checks: "retry",
	// "rollback" or "continue" with a reason. It returns ErrNoDecision
	// when the deploy waits for no such answer.
	Decide(ctx context.Context, id ID, who Person, action, reason string) error
	// Revert reverts a deployed change; see RevertRequest.
	Revert(ctx context.Context, r RevertRequest) (ID, error)
}

// Request asks for a deploy. The chat side fills in what it knows; an
// engine with a Judge decides on its own facts and ignores InWindow,
// Window and Frozen.
type Request struct {
	// Changes as typed: numbers or Gerrit URLs.
	Changes []string
	// By is who asks.
	By Person
	// InWindow is true when a deployment window is open now; Window names it.
	InWindow bool
	Window   string
	// Frozen describes a freeze in force now ("" when none).
	Frozen string
	// Force and Reason let a deployer deploy outside a window or in a freeze.
	Force  bool
	Reason string
	// PrepareOnly stops once the staging checkout is prepared (no sync).
	PrepareOnly bool
	// Origin is opaque to the engine and comes back in every Event, so the
	// chat side knows where to post (e.g. "libera #wikimedia-operations").
	Origin string
	// Approvals are the policy's approvals given before the deploy
	// started; they stand in for RequireSecondApprover's approve and are
	// shown in the status and the SAL lines. With a Judge they are only
	// names: the judge maps them to its own people and roles.
	Approvals []Approval
	// PatchSets are the patchsets the approvals were given for, by change
	// number; a change at another patchset when the deploy starts refuses
	// it (the approvals are void).
	PatchSets map[int]int `json:",omitempty"`
	// ForcedAt is when --force was given, for a request that waited for
	// approvals: it overrides only a freeze declared and in force by
	// then. Zero when the request was made now.
	ForcedAt time.Time `json:",omitzero"`
}

// EventKind says what an Event reports (package step's).
type EventKind = step.EventKind

// Event kinds. Progress is routine; the others ask for or report an outcome.
const (
	EventStarted  = step.EventStarted
	EventProgress = step.EventProgress
	EventNeeds    = step.EventNeeds    // someone must continue, approve or abort
	EventPrepared = step.EventPrepared // staging checkout verified
	EventDone     = step.EventDone
	EventFailed   = step.EventFailed
	EventAborted  = step.EventAborted
	// EventSecurity carries details naming a local security patch. It is
	// for the security destination only (a private room, a private
	// message), never recorded in the deploy's history.
	EventSecurity = step.EventSecurity
)

// Event is one line of progress for the channel.
type Event struct {
	Deploy ID
	Origin string
	Kind   EventKind
	Stage  string
	Text   bot.Text
	Time   time.Time
	// By is who started the deploy (set on EventSecurity, for a private
	// message to them).
	By Person
	// Again marks the question a resumed deploy asks again after a
	// restart: the one the deploy asked before, which a deploy agent's
	// chat side may have asked again already on reconnecting (the
	// pending question) and then does not ask twice.
	Again bool `json:",omitempty"`
}

// Notifier receives progress. Notify must not block for long.
type Notifier interface {
	Notify(ctx context.Context, e Event)
}

// NotifierFunc adapts a function to a Notifier.
type NotifierFunc func(ctx context.Context, e Event)

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, e Event) { f(ctx, e) }

// Gerrit is the part of the Gerrit client the engine uses; *gerrit.Client
// implements it.
type Gerrit = step.Gerrit

// Git runs a git command in a directory; *git.Runner implements it.
type Git = step.Git

// Options configure an Engine.
type Options struct {
	// StagingDir is the staging checkout of the config repository, holding
	// php-<version> checkouts of core.
	StagingDir string
	// ConfigProject and ConfigBranch name the config repository and its
	// deploy branch (default operations/mediawiki-config, master).
	ConfigProject, ConfigBranch string
	// CoreProject is MediaWiki core (default mediawiki/core); its
	// extensions and skins are deployable as its submodules.
	CoreProject string
	// MergeTimeout bounds the wait for the gate (default 30m).
	MergeTimeout time.Duration
	// PollInterval is how often Gerrit is asked during the wait (default 5s).
	PollInterval time.Duration
	// ProgressEvery is how often the wait is reported (default 5m).
	ProgressEvery time.Duration
	// RequireSecondApprover makes a forced deploy wait for `approve`.
	RequireSecondApprover bool
	// Stages run after the checkout is prepared, unless the request is
	// PrepareOnly (the sync stages).
	Stages []Stage
	// Owner maps a Gerrit username to a person to mention, if known.
	Owner func(gerritUser string) (bot.Person, bool)
	// SyncSource is the staging tree releases are frozen from (default
	// StagingDir).
	SyncSource string
	// Releases keeps the releases the sync stages deliver: the one a
	// deploy syncs and the one from before it, to roll back to. Sync
	// stages need it.
	Releases *release.Store
	// FileSyncLimit is the largest number of changed paths logged one by
	// one in the SAL (default 100).
	FileSyncLimit int
	// Gate configures the wait for "tested ok".
	Gate TestGate
	// DecisionTimeout is how long the deployer has to answer failed
	// checks before the deploy rolls back (default 10m).
	DecisionTimeout time.Duration
	// SAL receives the Server Admin Log lines; nil writes none.
	SAL Logger
	// Purger purges changed static files from the CDN; nil purges nothing.
	Purger *purge.Purger
	// SecurityWhere says where details of a local security patch went,
	// for the public sentence: "sent to Amir privately" (default "sent to
	// the security contacts privately").
	SecurityWhere func(by Person) string
	// Judge is the deploy policy, asked when a deploy starts and before
	// each sync stage; nil takes the request's facts (tests of the
	// engine alone).
	Judge Judge
	// Log is the logger (default discards).
	Log *slog.Logger
	// CanaryURL gives the address of a deploy's canary report page, for
	// chat and the SAL ("" or nil: no web pages).
	CanaryURL func(id ID) string
}

func (o *Options) defaults() {
	if o.ConfigProject == "" {
		o.ConfigProject = "operations/mediawiki-config"
	}
	if o.ConfigBranch == "" {
		o.ConfigBranch = "master"
	}
	if o.CoreProject == "" {
		o.CoreProject = "mediawiki/core"
	}
	if o.MergeTimeout <= 0 {
		o.MergeTimeout = 30 * time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 5 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Gate.Reminder <= 0 {
		o.Gate.Reminder = 10 * time.Minute
	}
	if o.Gate.Timeout <= 0 {
		o.Gate.Timeout = 30 * time.Minute
	}
	if o.DecisionTimeout <= 0 {
		o.DecisionTimeout = 10 * time.Minute
	}
}

// owner is the person to mention for Gerrit user, when Owner knows one.
func (o *Options) owner(user string) (bot.Person, bool) {
	if o.Owner == nil || user == "" {
		return bot.Person{}, false
	}
	return o.Owner(user)
}

// Engine runs deploys: it keeps each deploy's record in bbolt, runs its
// stages and resumes it after a restart. Create it with NewEngine and run it
// with Run. (The remote role `jouncebot agent`, package agent, serves an
// Engine over mutual TLS; the two are different things.)
//
// Its own methods are what the chat side and the app call (Start,
// Continue, Abort, Approve, Status, Tested, Decide, Revert, Record,
// DeployedChange), with answer, which records a test's answer under
// gateMu (as SyncStage.note does for the gate's own reminders), and the
// runner that owns the running deploys (Run, setScanned, claim, enqueue,
// send, nudge, execute, run, finish, takeLock, revertViaGerrit); only
// they take mu.
// The rest of the work is done by its places, embedded below.
type Engine struct {
	// The engine's own parts, each a small type of its own in the files
	// named, held as fields so that each call names the part it goes to
	// (the engine's API forwards to them, api.go); the places a deploy
	// goes through are packages (deploy/prepare, deploy/release,
	// deploy/deliver, deploy/judge):
	records       records       // the deploy records in bbolt (record.go, history.go, recent.go)
	canaryRecords canaryRecords // the canary analyses and their report pages (canaryrecord.go)
	changes       *changes      // requests, plans and reverts, resolved by prepare.Resolver (start.go, plan.go, revert.go, judge.go)
	announcer     announcer     // what the deploy says, in chat and privately (record.go, security.go)
	answers       answers       // the sentences answering chat: the deploy meant, refusals, internal errors (answers.go)
	referee       *referee      // the deploy policy's verdicts (judge.go)
	gatekeeper    gatekeeper    // the test gate: asks, and finds what the current deploy waits on, by package judge's rules (gate.go, pending.go)
	flows         *flows        // the workflow a deploy runs: its stages as steps (flow.go)
	releaser      *releaser     // the release steps and the delivery to hosts, rsync or Kubernetes (stages.go, sync.go, kubestage.go, recent.go)

	// hosts are each host's results of a deploy, in bbolt (deploy/deliver,
	// hosts.go): held, not embedded, so that none of their methods is the
	// engine's.
	hosts hostRecords

	gerrit Gerrit
	git    Git
	notify Notifier
	o      Options
	log    *slog.Logger

	queue chan queued

	mu     sync.Mutex
	active map[ID]chan struct{} // running deploys and their wake-up channels
	// again are the active deploys asked to run, or woken, while they
	// ran: their runner runs them again before letting go.
	again map[ID]bool
	// mine are the deploys this process set running and queued, or Run
	// resumes: Run's scan for deploys to resume after a restart skips
	// them, even when they were started before Run.
	mine map[ID]bool
	// scanned says Run resumed what the last process left and reads the
	// queue: a running deploy that is neither active nor mine then has
	// nobody to drive it (its runner let go after a store error).
	scanned bool

	// gateMu orders what the testing gates record and say: an answer
	// and a gate's own message (the question asked again, the reminder,
	// the timeout) are each recorded and said under it, so chat shows
	// them in the order they were recorded.
	gateMu sync.Mutex
}

// queued is a deploy to run. resumed says the record may not tell what
// the hosts hold (a restart, or a runner that stopped at a store error):
// they are checked before the record is believed.
type queued struct {
	id      ID
	resumed bool
}

// records reads and writes the deploy records in bbolt.
type records struct{ db *store.DB }

// changes finds out what a deploy's changes are, from Gerrit and the
// staging checkouts: resolving, planning and reverting them.
type changes struct {
	gerrit Gerrit
	git    Git
	o      *Options // the engine's
	log    *slog.Logger
}

// announcer says what a deploy does: in chat through the Notifier, into
// the deploy's history, and privately to the security destination.
type announcer struct {
	records
	notify Notifier
	log    *slog.Logger
}

// releaser freezes releases, delivers them to hosts (rsync'd hosts, or
// the Deployments of a kubernetes stage) and logs to the SAL.
type releaser struct {
	o   *Options // the engine's
	log *slog.Logger
}

var _ Service = (*Engine)(nil)

// NewEngine returns an engine keeping its state in db.
func NewEngine(db *store.DB, g Gerrit, git Git, n Notifier, o Options) *Engine {
	o.defaults()
	e := &Engine{records: records{db: db}, gerrit: g, git: git, notify: n, o: o, log: o.Log.With("component", "deploy"),
		queue: make(chan queued, 16), active: map[ID]chan struct{}{}, again: map[ID]bool{}, mine: map[ID]bool{}}
	e.changes = &changes{gerrit: g, git: git, o: &e.o, log: e.log}
	e.announcer = announcer{records: e.records, notify: n, log: e.log}
	e.releaser = &releaser{o: &e.o, log: e.log}
	// The places share the engine's one Options (SetJudge and
	// SetCanaryURL change it) and records; the announcer is copied, it
	// never changes after this.
	e.referee = &referee{o: &e.o, announcer: e.announcer}
	e.gatekeeper = gatekeeper{records: e.records, o: &e.o}
	e.hosts = hostRecords{Hosts: deliver.Hosts{DB: db}, log: e.log}
	e.canaryRecords = canaryRecords{records: e.records, o: &e.o}
	e.answers = answers{records: e.records, log: e.log}
	e.flows = &flows{records: e.records, referee: e.referee, rel: e.releaser, o: &e.o}
	return e
}

// claim says deploy id was set running by this process and goes through
// the queue, not Run's resume scan. Call it in the transaction that sets
// the state, so the scan never sees the state without the claim.
func (e *Engine) claim(id ID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.mine[id] = true
}

// Run resumes unfinished deploys and runs new ones until ctx is done, then
// waits for the running deploy to stop at its next checkpoint. A deploy
// interrupted this way resumes on the next Run.
func (e *Engine) Run(ctx context.Context) error {
	ids, err := e.records.unfinished()
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if len(ids) > 0 {
		pausePoint("resume")
	}
	for _, id := range ids {
		e.mu.Lock()
		queued := e.mine[id]
		e.mine[id] = true
		e.mu.Unlock()
		if queued {
			continue
		}
		e.log.Info("resuming deploy", "id", id)
		wg.Go(func() { e.execute(ctx, id, true, true) })
	}
	e.setScanned(true)
	defer e.setScanned(false)
	for {
		select {
		case <-ctx.Done():
			return nil
		case q := <-e.queue:
			wg.Go(func() { e.execute(ctx, q.id, q.resumed, false) })
		}
	}
}

func (e *Engine) setScanned(v bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.scanned = v
}

// enqueue hands deploy id, claimed by this process, to Run. When it
// cannot (ctx ended first: a caller that hung up), the claim is dropped,
// so that the next request recorded in the deploy (an abort, an answer)
// starts a runner for it (see nudge).
func (e *Engine) enqueue(ctx context.Context, id ID) error {
	err := e.send(ctx, queued{id: id})
	if err != nil {
		e.mu.Lock()
		delete(e.mine, id)
		e.mu.Unlock()
	}
	return err
}

func (e *Engine) send(ctx context.Context, q queued) error {
	select {
	case e.queue <- q:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// nudge makes running deploy id look at its record again after a request
// was recorded in it (an abort, a test's answer, a decision): it wakes the
// runner holding the deploy, which also runs it again before letting go,
// so a request landing as the runner stops is not lost. When nobody drives
// the deploy (its runner let go of it after a store error), nudge starts a
// runner, which checks the hosts before it believes the record. A deploy
// queued or not yet resumed by Run is left to the runner it will get.
func (e *Engine) nudge(ctx context.Context, id ID) {
	e.mu.Lock()
	ch, active := e.active[id]
	if active {
		e.again[id] = true
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	orphan := !active && !e.mine[id] && e.scanned
	if orphan {
		e.mine[id] = true
	}
	e.mu.Unlock()
	if !orphan {
		return
	}
	e.log.Warn("deploy had no runner; starting one", "id", id)
	if err := e.send(ctx, queued{id: id, resumed: true}); err != nil {
		e.mu.Lock()
		delete(e.mine, id)
		e.mu.Unlock()
		e.log.Error("deploy had no runner and none could be started; it resumes at the next start", "id", id, "err", err)
	}
}

// execute runs deploy id's stages from where its record says, until it
// finishes, pauses, or ctx is done. resumed says the deploy was running
// when its last runner stopped: what its record says of the hosts is
// checked before it is believed. announce says so in the channel (after a
// restart).
//
// One runner holds a deploy at a time. Asked to run a deploy another
// runner holds, execute leaves it to that one, noting that it was asked
// (a continue that lands after the deploy paused but before its runner
// let go): the holder runs the deploy again before letting go, so the
// change is always seen.
func (e *Engine) execute(ctx context.Context, id ID, resumed, announce bool) {
	e.mu.Lock()
	if _, busy := e.active[id]; busy {
		e.again[id] = true
		e.mu.Unlock()
		if testPoint != nil {
			testPoint("busy", id)
		}
		return
	}
	wake := make(chan struct{}, 1)
	e.active[id] = wake
	e.mu.Unlock()
	j := &Job{e: e, id: id, wake: wake, resumed: resumed}
	for say := announce; ; say = false {
		e.run(ctx, j, say)
		if testPoint != nil {
			testPoint("stopped", id)
		}
		e.mu.Lock()
		again := e.again[id] && ctx.Err() == nil
		delete(e.again, id)
		if !again {
			delete(e.active, id)
			delete(e.mine, id) // interrupted, it is resumed by the next Run
		}
		e.mu.Unlock()
		if !again {
			if testPoint != nil {
				testPoint("released", id)
			}
			return
		}
	}
}

// run runs job j's deploy until it finishes, pauses, or ctx is done,
// first saying that it resumes after a restart when announce is set.
func (e *Engine) run(ctx context.Context, j *Job, announce bool) {
	id := j.id
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("deploy panicked", "id", id, "panic", p)
			e.finish(context.WithoutCancel(ctx), id, stateFailed, "jouncebot hit an internal error (see its log)")
		}
	}()
	if announce {
		e.announcer.sayResumed(ctx, id)
	}
	for ctx.Err() == nil {
		d, err := e.records.load(id)
		if err != nil {
			e.log.Error("load deploy", "id", id, "err", err)
			return
		}
		if d.State != stateRunning {
			return
		}
		if d.AbortBy != "" {
			msg := ""
			if e.hosts.needsRollback(d) {
				// Hosts hold the new tree: an abort puts the old one back.
				err := rollback(ctx, j, d.AbortBy+" aborted the deploy")
				if ctx.Err() != nil {
					return
				}
				msg = step.UserText(err)
			}
			e.finish(ctx, id, stateAborted, msg)
			return
		}
		if d.Stage == doneStage {
			e.finish(ctx, id, stateDone, "")
			return
		}
		j.flow = &workflow.Instance{Def: e.flows.flow(d, j), Store: flowStore{records: e.records, id: id}}
		err = j.flow.Run(ctx)
		var se *storeError
		switch {
		case err == nil, errors.Is(err, errRecheck):
			continue // the next round finishes, or sees the pause or abort
		case errors.As(err, &se):
			e.log.Error("save deploy", "id", id, "err", se.err)
			return
		case errors.Is(err, workflow.ErrRecord):
			e.log.Error("save deploy", "id", id, "err", err)
			return
		case errors.Is(err, workflow.ErrUnknownStep):
			msg := fmt.Sprintf("this jouncebot does not know the step %q the deploy was at.", d.Stage)
			if d.Sync != nil && !slices.Contains(config.StepNames, d.Stage) && (d.Sync.Rollback != nil || e.hosts.needsRollback(d)) {
				// The stage the deploy was at left the configuration
				// (no step of the deploy's own: a step of another
				// version is only refused): hosts that got the release
				// are put back (a rollback under way goes on), as when
				// a stage fails.
				reason := fmt.Sprintf("the stage %s it was at is no longer configured", d.Stage)
				if d.Sync.Rollback != nil {
					reason = d.Sync.Rollback.Reason
				}
				err := rollback(ctx, j, reason)
				if ctx.Err() != nil || errors.As(err, &se) || errors.Is(err, workflow.ErrRecord) {
					if ctx.Err() == nil {
						e.log.Error("save deploy", "id", id, "err", err)
					}
					return // the record could not be read or written: it goes on at the next start
				}
				msg = step.UserText(err)
			}
			e.finish(ctx, id, stateFailed, msg)
			return
		case errors.Is(err, errPaused):
			if testPoint != nil {
				testPoint("paused", id)
			}
			return
		case errors.Is(err, ErrAborted):
			continue // the next round sees the abort
		case ctx.Err() != nil:
			e.log.Info("deploy interrupted; it resumes on the next start", "id", id, "stage", e.records.stageOf(id))
			return
		default:
			stage := e.records.stageOf(id)
			e.log.Warn("deploy failed", "id", id, "stage", stage, "err", err)
			d, _ := e.records.load(id)
			if d == nil {
				return
			}
			e.finish(ctx, id, stateFailed, step.UserText(err), privateFailure(d, err)...)
			return
		}
	}
}

// sayResumed tells the channel that deploy id goes on after a restart,
// and from where.
func (a *announcer) sayResumed(ctx context.Context, id ID) {
	d, err := a.load(id)
	if err != nil || d.State != stateRunning {
		return
	}
	t := fmt.Sprintf("Resuming deploy %s (%s) after a restart, at step %s.", id, step.ChangeList(d.Changes), d.Stage)
	if d.Sync != nil && !d.Sync.Started.IsZero() {
		t = strings.TrimSuffix(t, ".") + "; what the hosts hold is checked, not taken from the record."
	}
	a.say(ctx, id, EventProgress, bot.T(t))
}

// doneStage is the record's Stage after the last stage.
const doneStage = workflow.Done

// Failure stops a deploy with a sentence for the channel (package
// step's). Private, when set, names a local security patch and goes only
// to the security destination (EventSecurity); Msg then says so without
// naming it.
type Failure = step.Failure

// Failf returns a *Failure with a formatted sentence.
func Failf(format string, args ...any) error { return step.Failf(format, args...) }

// ErrAborted is returned by Job.Checkpoint when someone aborted the deploy.
var ErrAborted = step.ErrAborted

var errPaused = step.ErrPaused
