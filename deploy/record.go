package deploy

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/record"
	"github.com/jouncebot/jouncebot/deploy/sallines"
	"github.com/jouncebot/jouncebot/deploy/step"
	"github.com/jouncebot/jouncebot/deploy/workflow"
	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// Deploy states.
const (
	stateApproval = "approval" // waiting for a second deployer
	stateRunning  = "running"
	statePaused   = "paused" // waiting for continue or abort
	stateDone     = "done"
	stateFailed   = "failed"
	stateAborted  = "aborted"
)

// A deploy's record is package record's; the engine's API names its
// parts as its own.
type (
	Deploy         = record.Deploy
	Kind           = record.Kind
	Change         = record.Change
	Op             = record.Op
	Repo           = record.Repo
	Pause          = record.Pause
	Entry          = record.Entry
	SyncRecord     = record.SyncRecord
	StageRecord    = record.StageRecord
	HostResult     = record.HostResult
	CheckRecord    = record.CheckRecord
	CanarySummary  = record.CanarySummary
	GateRecord     = record.GateRecord
	Confirmation   = record.Confirmation
	RollbackRecord = record.RollbackRecord
	RevertRecord   = record.RevertRecord
	RevertCommit   = record.RevertCommit
	Approved       = record.Approved
	Approval       = record.Approval
	ID             = record.ID
	Person         = record.Person
)

// Kinds of deployable change.
const (
	KindConfig    = record.KindConfig
	KindCore      = record.KindCore
	KindSubmodule = record.KindSubmodule
)

// Lock is the one deploy lock.
type Lock struct {
	Deploy  ID
	Holder  string
	Changes []int
	Since   time.Time
	Reason  string
}

var lockKey = []byte("lock")

var errFinished = errors.New("deploy already finished")

func terminal(state string) bool {
	return state == stateDone || state == stateFailed || state == stateAborted
}

func getLock(tx *bolt.Tx) (*Lock, error) {
	b := tx.Bucket(store.DeployLock).Get(lockKey)
	if b == nil {
		return nil, nil
	}
	var l Lock
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// audit writes an audit entry in the transaction of the change it records.
func audit(tx *bolt.Tx, id ID, text string) error {
	b := tx.Bucket(store.Audit)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	key := make([]byte, 8)
	binary.BigEndian.PutUint64(key, seq)
	v, _ := json.Marshal(map[string]any{"time": time.Now().UTC(), "component": "deploy", "deploy": id, "text": text})
	return b.Put(key, v)
}

func (a *records) load(id ID) (*Deploy, error) {
	var d *Deploy
	err := a.db.View(func(tx *bolt.Tx) error {
		var err error
		d, err = record.Get(tx, id)
		return err
	})
	return d, err
}

// stageOf is the stage deploy id is at, for the log.
func (a *records) stageOf(id ID) string {
	d, err := a.load(id)
	if err != nil {
		return ""
	}
	return d.Stage
}

// update loads deploy id, applies f and stores the result, in one
// transaction.
func (a *records) update(id ID, f func(d *Deploy) error) error {
	return a.db.Update(func(tx *bolt.Tx) error {
		d, err := record.Get(tx, id)
		if err != nil {
			return err
		}
		if err := f(d); err != nil {
			return err
		}
		return record.Put(tx, d)
	})
}

// current returns the deploy holding the lock, or nil.
func (a *records) current() (*Deploy, *Lock, error) {
	var d *Deploy
	var l *Lock
	err := a.db.View(func(tx *bolt.Tx) error {
		var err error
		if l, err = getLock(tx); err != nil || l == nil {
			return err
		}
		d, err = record.Get(tx, l.Deploy)
		return err
	})
	return d, l, err
}

func (a *records) unfinished() ([]ID, error) {
	var ids []ID
	err := a.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(store.Deploys).ForEach(func(k, v []byte) error {
			var d Deploy
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			if d.State == stateRunning {
				ids = append(ids, d.ID)
			}
			return nil
		})
	})
	return ids, err
}

// say records a line in the deploy's history and posts it.
func (a *announcer) say(ctx context.Context, id ID, kind EventKind, t bot.Text) {
	a.sayEvent(ctx, id, Event{Kind: kind, Text: t})
}

// sayEvent is say for an event with more than a kind and a text.
func (a *announcer) sayEvent(ctx context.Context, id ID, e Event) {
	a.sayTx(ctx, id, nil, e)
}

// sayTx records, in one transaction, change (when not nil) to deploy
// id and events, as tell does; it then tells them. So a line and the
// state it reports, or a public line and its private details, are never
// parted by a crash.
func (a *announcer) sayTx(ctx context.Context, id ID, change func(d *Deploy), events ...Event) {
	err := a.tell(ctx, id, func(_ *bolt.Tx, d *Deploy) ([]Event, error) {
		if change != nil {
			change(d)
		}
		return events, nil
	})
	if err != nil {
		a.log.Error("record deploy history", "id", id, "err", err)
	}
}

// tell runs change on deploy id in one transaction and records, in the
// same transaction, the deploy and the events change returns: in its
// history (but the private ones, EventSecurity, which no history holds)
// and, with an Outbox as the Notifier, every one in the outbox, in
// order. Once the transaction is committed it tells them. An error from
// change undoes the transaction and is returned.
func (a *announcer) tell(ctx context.Context, id ID, change func(tx *bolt.Tx, d *Deploy) ([]Event, error)) error {
	out, kept := a.notify.(*Outbox)
	var events []Event
	err := a.db.Update(func(tx *bolt.Tx) error {
		d, err := record.Get(tx, id)
		if err != nil {
			return err
		}
		if events, err = change(tx, d); err != nil {
			return err
		}
		now := time.Now().UTC()
		for i := range events {
			e := &events[i]
			if e.Kind != EventSecurity {
				d.History = append(d.History, Entry{Time: now, Text: e.Text.String()})
			}
			e.Deploy, e.Origin, e.Stage, e.Time = id, d.Origin, d.Stage, now
		}
		if err := record.Put(tx, d); err != nil {
			return err
		}
		if kept {
			for _, e := range events {
				if err := out.keep(tx, e); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range events {
		switch {
		case kept:
			out.told(context.WithoutCancel(ctx), e)
		case a.notify != nil:
			a.notify.Notify(context.WithoutCancel(ctx), e)
		}
	}
	return nil
}

// finish ends a deploy, releases the lock and says what happened, with
// private (the details of a failure for the security destination) in the
// same transaction.
func (e *Engine) finish(ctx context.Context, id ID, state, msg string, private ...Event) {
	if d, err := e.records.load(id); err == nil && state != stateDone && !terminal(d.State) {
		// Every "Started …" line gets its closing line, also when the
		// deploy stops without a rollback or in the middle of one.
		switch {
		case stoppedMidSync(d):
			e.releaser.salLog(ctx, d, fmt.Sprintf("Stopped sync: %s (duration: %s); %s synced release %s, the others keep release %s",
				salSummary(d), sallines.Duration(time.Since(d.Sync.Started)), bot.Count(e.hosts.touched(id, true), "host"), d.Sync.Release, d.Sync.Previous))
		case stoppedMidRollback(d) && d.Sync.Rollback.SALLine != "":
			e.releaser.salLog(ctx, d, d.Sync.Rollback.SALLine) // it ended; only its line was missing
		case stoppedMidRollback(d):
			rb := d.Sync.Rollback
			e.releaser.salLog(ctx, d, fmt.Sprintf("Stopped rollback of %s: %s (duration: %s); it did not finish, the hosts may hold release %s or %s, look at them by hand",
				bot.Count(rb.Total, "host"), salSummary(d), sallines.Duration(time.Since(rb.Started)), d.Sync.Release, d.Sync.Previous))
			if rb.Outcome == "" {
				msg = strings.TrimSpace(msg + " " + fmt.Sprintf("The rollback to release %s did not finish: look at the hosts by hand; %s is still merged in Gerrit, revert it before the next deploy (`revert %s`).",
					d.Sync.Previous, step.ChangeList(d.Changes), step.ChangeList(d.Changes)))
			}
		}
	}
	err := e.announcer.tell(ctx, id, func(tx *bolt.Tx, d *Deploy) ([]Event, error) {
		if terminal(d.State) {
			return nil, errFinished
		}
		if state != stateDone && stoppedMidSync(d) {
			d.Sync.SALEnd = time.Now().UTC()
		}
		if state != stateDone && stoppedMidRollback(d) {
			d.Sync.Rollback.SALEnd = time.Now().UTC()
		}
		d.State, d.Error, d.Finished = state, msg, time.Now().UTC()
		d.Pause = nil
		if l, err := getLock(tx); err == nil && l != nil && l.Deploy == id {
			if err := tx.Bucket(store.DeployLock).Delete(lockKey); err != nil {
				return nil, err
			}
		}
		if err := audit(tx, id, "deploy "+state+": "+msg); err != nil {
			return nil, err
		}
		return append(private, finalLine(d, state, msg, len(e.o.Stages) > 0)), nil
	})
	if errors.Is(err, errFinished) {
		return // finished by someone else meanwhile (an abort racing the run)
	}
	if err != nil {
		e.log.Error("finish deploy", "id", id, "err", err)
	}
}

// finalLine is the event that says how deploy d ended, in state with
// msg; stages says whether the engine has stages (without, a deploy that
// ended well only prepared staging).
func finalLine(d *Deploy, state, msg string, stages bool) Event {
	id := d.ID
	var t bot.Text
	var kind EventKind
	switch state {
	case stateDone:
		kind = EventDone
		t = bot.Join(d.By.Mention(), bot.T(fmt.Sprintf(": deploy %s is done: %s.", id, step.ChangeList(d.Changes))))
		if d.Revert != nil {
			t = bot.Join(d.By.Mention(), bot.T(fmt.Sprintf(": revert %s is done: %s reverted in staging, synced and pushed for review.%s", id, step.ChangeList(d.Changes), unsynced(d))))
		} else if d.PrepareOnly || !stages {
			kind = EventPrepared
			t = bot.Join(d.By.Mention(), bot.T(fmt.Sprintf(": deploy %s is prepared: the staging checkout holds %s, verified; nothing was synced.", id, step.ChangeList(d.Changes))))
		}
	case stateFailed:
		kind = EventFailed
		t = bot.Join(d.By.Mention(), bot.T(fmt.Sprintf(": deploy %s stopped: %s %s", id, msg, doneSoFar(d))))
	case stateAborted:
		kind = EventAborted
		who := d.AbortBy
		if who == "" {
			who = "someone"
		}
		t = bot.T(fmt.Sprintf("Deploy %s was aborted by %s. %s", id, who, strings.TrimSpace(msg+" "+doneSoFar(d))))
	}
	return Event{Kind: kind, Text: t}
}

// unsyncedHosts are the hosts a revert did not reach, which still run
// the reverted change, as "prod5 (production)", by stage in the order
// the stages ran and in each in the order of its hosts.
func unsyncedHosts(d *Deploy) []string {
	if d.Sync == nil {
		return nil
	}
	var stages []string
	for name, r := range d.Sync.Stages {
		if len(r.Unsynced) > 0 {
			stages = append(stages, name)
		}
	}
	slices.SortFunc(stages, func(a, b string) int {
		return cmp.Or(d.Sync.Stages[a].Started.Compare(d.Sync.Stages[b].Started), strings.Compare(a, b))
	})
	var hosts []string
	for _, name := range stages {
		for _, h := range d.Sync.Stages[name].Unsynced {
			hosts = append(hosts, h+" ("+name+")")
		}
	}
	return hosts
}

// hostList names hosts for chat and the SAL: the first five, and how many
// more.
func hostList(hosts []string) string {
	const most = 5
	if len(hosts) <= most {
		return bot.JoinNames(hosts)
	}
	return strings.Join(hosts[:most], ", ") + fmt.Sprintf(" and %d more", len(hosts)-most)
}

// runs is "still runs" or "still run", for n hosts.
func runs(n int) string {
	if n == 1 {
		return "still runs"
	}
	return "still run"
}

// unsynced says which hosts a revert did not reach ("" when it reached
// all) and what to do.
func unsynced(d *Deploy) string {
	hosts := unsyncedHosts(d)
	if len(hosts) == 0 {
		return ""
	}
	them := "it"
	if len(hosts) > 1 {
		them = "them"
	}
	return fmt.Sprintf(" %s did not get the revert and %s the reverted change: bring %s up to date by hand.", hostList(hosts), runs(len(hosts)), them)
}

// stoppedMidSync reports whether d's "Started sync" SAL line has no
// closing line yet and no rollback will write one (none started, or one
// that stopped before its own "Started rollback" line).
func stoppedMidSync(d *Deploy) bool {
	return d.Sync != nil && !d.Sync.SALStart.IsZero() && d.Sync.SALEnd.IsZero() &&
		(d.Sync.Rollback == nil || d.Sync.Rollback.SALStarted.IsZero())
}

// stoppedMidRollback reports whether d's "Started rollback" SAL line has
// no closing line yet.
func stoppedMidRollback(d *Deploy) bool {
	return d.Sync != nil && d.Sync.Rollback != nil && !d.Sync.Rollback.SALStarted.IsZero() && d.Sync.Rollback.SALEnd.IsZero()
}

// doneSoFar says which side effects already happened, for messages about a
// stopped deploy. After a rollback the message already said that the
// changes stay merged in Gerrit.
func doneSoFar(d *Deploy) string {
	var voted, merged []string
	for _, c := range d.Changes {
		if !c.Vote.Done.IsZero() && !c.Merged {
			voted = append(voted, strconv.Itoa(c.Number))
		}
		if c.Merged && !c.MergedBefore {
			merged = append(merged, strconv.Itoa(c.Number))
		}
	}
	s := ""
	if len(voted) > 0 {
		s += fmt.Sprintf("+2 was given on %s; it may still merge. ", bot.JoinNames(voted))
	}
	if len(merged) > 0 && (d.Sync == nil || d.Sync.Rollback == nil) {
		s += fmt.Sprintf("%s merged in Gerrit. ", bot.JoinNames(merged))
	}
	touched := false
	for _, r := range d.Repos {
		name := step.RepoName(r.Dir)
		switch {
		case !r.SubUpdate.Done.IsZero() || (!r.Update.Done.IsZero() && len(r.Submodules) == 0):
			s += fmt.Sprintf("The checkout %s was updated to %s. ", name, step.Short(r.After))
			touched = true
		case !r.Update.Done.IsZero():
			s += fmt.Sprintf("The checkout %s was updated to %s but its submodules were not. ", name, step.Short(r.After))
			touched = true
		case r.Update.Pending():
			s += fmt.Sprintf("The checkout %s may be half updated (it was at %s before). ", name, step.Short(r.Before))
			touched = true
		}
	}
	if rv := d.Revert; rv != nil && !rv.Local.Done.IsZero() && rv.Pushed.Done.IsZero() {
		var shas []string
		for _, c := range rv.Commits {
			shas = append(shas, step.Short(c.Revert))
		}
		s += fmt.Sprintf("Staging holds the revert (%s), not pushed to Gerrit: push it for review, or undo it in staging before the next deploy. ", bot.JoinNames(shas))
		touched = true
	}
	if !touched {
		s += "The staging checkout was not changed."
	}
	return strings.TrimSpace(s + unsynced(d))
}

// Job is a running deploy as a stage sees it.
type Job struct {
	e    *Engine
	id   ID
	wake chan struct{}
	// resumed is set when the deploy was running before a restart;
	// checked holds the stages whose hosts were checked since.
	resumed bool
	checked map[string]bool
	// flow runs the deploy's stages as a workflow and makes its side
	// effects (Do).
	flow *workflow.Instance
}

// ID is the deploy's id.
func (j *Job) ID() ID { return j.id }

// Deploy returns a fresh copy of the deploy's record.
func (j *Job) Deploy() (*Deploy, error) { return j.e.records.load(j.id) }

// Checkpoint records f's changes before a side effect. It returns
// ErrAborted, recording nothing, when the deploy was aborted meanwhile.
func (j *Job) Checkpoint(f func(d *Deploy)) error {
	return j.e.records.update(j.id, func(d *Deploy) error {
		if d.AbortBy != "" {
			return ErrAborted
		}
		f(d)
		return nil
	})
}

// Save records the outcome of a side effect.
func (j *Job) Save(f func(d *Deploy)) error {
	return j.e.records.update(j.id, func(d *Deploy) error { f(d); return nil })
}

// Say posts progress and records it in the deploy's history.
func (j *Job) Say(ctx context.Context, kind EventKind, t bot.Text) {
	j.e.announcer.say(ctx, j.id, kind, t)
}

// AskAgain asks the question t again after a restart (an EventNeeds with
// Again set).
func (j *Job) AskAgain(ctx context.Context, t bot.Text) {
	j.e.announcer.sayEvent(ctx, j.id, Event{Kind: EventNeeds, Text: t, Again: true})
}

// Git runs git.
func (j *Job) Git() Git { return j.e.git }

// StagingDir is the staging directory.
func (j *Job) StagingDir() string { return j.e.o.StagingDir }

// Woken is signalled when the deploy should look at its record again
// (an abort), to cut a wait short.
func (j *Job) Woken() <-chan struct{} { return j.wake }

// Gerrit is the Gerrit client.
func (j *Job) Gerrit() Gerrit { return j.e.gerrit }

// Forget drops the record of the side effect under key, so that the next
// Do of it makes it again.
func (j *Job) Forget(key string) error { return j.flow.Forget(key) }

// Pause records that the deploy waits for continue or abort because of
// the new patchset p names, seen during the merge wait (Continue approves
// it and goes back to the vote). It returns ErrAborted, recording
// nothing, when the deploy was aborted.
func (j *Job) Pause(p *Pause) error {
	if testPoint != nil {
		testPoint("pausing", j.id)
	}
	// Not over an abort: the runner goes on to end the deploy.
	return j.Checkpoint(func(d *Deploy) { d.Pause, d.State = p, statePaused })
}
