package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/deliver"
	"github.com/jouncebot/jouncebot/deploy/judge"
	"github.com/jouncebot/jouncebot/deploy/prepare"
	"github.com/jouncebot/jouncebot/deploy/record"
	"github.com/jouncebot/jouncebot/deploy/step"
)

// What people do to a deploy that started: continue it after a new
// patchset, abort it, approve a forced one, and read its status and its
// record. Each state change is checked and made in one transaction.

// mayControl refuses who unless they started deploy d or are an admin.
func mayControl(d *Deploy, who Person) error {
	if who.Name == "" || (who.Name != d.By.Name && !who.Admin) {
		return sentence(fmt.Sprintf("Only %s, who started deploy %s, can do that.", d.By.Name, d.ID))
	}
	return nil
}

// Continue implements Service. The state is checked and set in one
// transaction, so an abort in between is never undone.
func (e *Engine) Continue(ctx context.Context, id ID, who Person) error {
	d, err := e.answers.target(id)
	if err != nil {
		return err
	}
	var p Pause
	err = e.records.update(d.ID, func(d *Deploy) error {
		if err := mayControl(d, who); err != nil {
			return err
		}
		if d.State != statePaused || d.Pause == nil || d.AbortBy != "" {
			return sentence(fmt.Sprintf("Deploy %s is not waiting for `continue`.", d.ID))
		}
		if len(d.Approvals) > 0 {
			return sentence(fmt.Sprintf("The approvals of deploy %s were for the patchsets it started with, not patchset %d of %d: they do not carry over. Say `abort %s` and ask again.",
				d.ID, d.Pause.PatchSet, d.Pause.Change, d.ID))
		}
		if d.ApprovedBy != "" {
			return sentence(fmt.Sprintf("%s's approval of deploy %s was for the patchsets it started with, not patchset %d of %d: it does not carry over. Say `abort %s` and ask again.",
				d.ApprovedBy, d.ID, d.Pause.PatchSet, d.Pause.Change, d.ID))
		}
		p = *d.Pause
		for i := range d.Changes {
			if d.Changes[i].Number == p.Change {
				d.Changes[i].Revision, d.Changes[i].PatchSet, d.Changes[i].Vote = p.Revision, p.PatchSet, Op{}
			}
		}
		d.Pause, d.State, d.Stage = nil, stateRunning, prepare.Vote{}.Name()
		e.claim(d.ID)
		d.WaitSince = time.Time{} // a fresh timeout for the new patchset
		return nil
	})
	if err != nil {
		return e.answers.refusedOr("continuing the deploy", err)
	}
	e.announcer.say(ctx, d.ID, EventProgress, bot.T(fmt.Sprintf("%s accepted patchset %d of %d; approving it.", who.Name, p.PatchSet, p.Change)))
	return e.enqueue(ctx, d.ID)
}

// Abort implements Service. The abort is recorded in the transaction that
// reads the state, so an approve or continue after it sees it.
func (e *Engine) Abort(ctx context.Context, id ID, who Person) error {
	d, err := e.answers.target(id)
	if err != nil {
		return err
	}
	var running bool
	err = e.records.update(d.ID, func(d *Deploy) error {
		if err := mayControl(d, who); err != nil {
			return err
		}
		if terminal(d.State) {
			return sentence(fmt.Sprintf("Deploy %s has already ended (%s).", d.ID, d.State))
		}
		running = d.State == stateRunning
		if d.AbortBy == "" {
			d.AbortBy = who.Name
		}
		return nil
	})
	if err != nil {
		return e.answers.refusedOr("aborting the deploy", err)
	}
	if !running {
		// Paused or waiting for an approval: no runner holds it.
		e.finish(ctx, d.ID, stateAborted, "")
		return nil
	}
	// A runner holds it, will (queued, or resumed by Run), or is started
	// now: it rolls back what was synced and ends the deploy.
	e.announcer.say(ctx, d.ID, EventProgress, bot.T(fmt.Sprintf("Aborting deploy %s before its next step…", d.ID)))
	e.nudge(ctx, d.ID)
	return nil
}

// Approve implements Service. The state is checked and set in one
// transaction, so an abort in between is never undone.
func (e *Engine) Approve(ctx context.Context, id ID, who Person) error {
	d, err := e.answers.target(id)
	if err != nil {
		return err
	}
	refused := func(d *Deploy) error {
		switch {
		case d.AbortBy != "":
			return sentence(fmt.Sprintf("Deploy %s was aborted by %s; there is nothing to approve.", d.ID, d.AbortBy))
		case d.State != stateApproval:
			return sentence(fmt.Sprintf("Deploy %s does not need an approval.", d.ID))
		case !who.Deployer:
			return sentence("Only people with the deployer role can approve a deploy.")
		case who.Name == d.By.Name:
			return sentence("A second approval must come from another deployer, not from the one who started the deploy.")
		}
		return nil
	}
	if err := refused(d); err != nil {
		return err
	}
	// The deploy starts with this approval: the policy is asked again,
	// outside the transaction (the judge reads the database).
	if err := e.referee.judgeApproval(ctx, d); err != nil {
		return err
	}
	err = e.records.update(d.ID, func(d *Deploy) error {
		if err := refused(d); err != nil {
			return err
		}
		d.State, d.ApprovedBy = stateRunning, who.Name
		e.claim(d.ID)
		return nil
	})
	if err != nil {
		return e.answers.refusedOr("approving the deploy", err)
	}
	e.announcer.say(ctx, d.ID, EventProgress, bot.T(fmt.Sprintf("%s approved deploy %s.", who.Name, d.ID)))
	return e.enqueue(ctx, d.ID)
}

// Status is the state of the deploy lock and the current deploy.
type Status struct {
	Lock   *Lock
	Deploy *Deploy
}

// Text describes the status for chat.
func (s Status) Text() bot.Text {
	if s.Lock == nil || s.Deploy == nil {
		return bot.T("No deploy in progress.")
	}
	d := s.Deploy
	what := map[string]string{stateApproval: "waiting for a second deployer's approve", statePaused: "waiting for continue or abort",
		stateRunning: "at step " + d.Stage}[d.State]
	if name, g := judge.PendingGate(d); g != nil && d.State == stateRunning {
		what = fmt.Sprintf("synced to %s, waiting for \"tested ok\" or \"tested fail\"", name)
	}
	if name, c := judge.PendingDecision(d); c != nil && d.State == stateRunning {
		what = fmt.Sprintf("the checks of %s failed, waiting for retry, rollback or continue <reason>", name)
		if c == d.Sync.Stages[name].Unreachable {
			what = fmt.Sprintf("%s of %s could not be checked after a restart (%s), waiting for retry, rollback or continue <reason>",
				bot.Count(len(c.Failed), "host"), name, strings.Join(c.Failed, ", "))
		}
	}
	t := fmt.Sprintf("Deploy %s by %s since %s UTC (%s; reason: %s): %s.", d.ID, s.Lock.Holder, s.Lock.Since.UTC().Format("15:04"),
		step.ChangeList(d.Changes), s.Lock.Reason, what)
	if ap := judge.ApprovedText(d); ap != "" {
		t += " Policy: " + ap + "."
	}
	if n := len(d.History); n > 0 {
		// Whole: the last thing said may be a question with the
		// changes to test and what to answer on its other lines.
		t += " Last: " + d.History[n-1].Text
	}
	return bot.T(t)
}

// Status implements Service.
func (e *Engine) Status(ctx context.Context) (Status, error) {
	d, l, err := e.records.current()
	if err != nil {
		return Status{}, e.answers.internal("reading the deploy lock", err)
	}
	return Status{Lock: l, Deploy: d}, nil
}

// Record returns the full record of deploy id, finished or not: its
// changes, every side effect with its time, and the history of what was
// said. It is not part of Service; the web pages and tests read it.
func (e *Engine) Record(id ID) (*Deploy, error) {
	d, err := e.records.load(id)
	if errors.Is(err, record.ErrNoDeploy) {
		return nil, sentence(fmt.Sprintf("There is no deploy %s.", id))
	}
	if err != nil || d.Sync == nil {
		return d, err
	}
	// Per-host results live in their own keys; the record shows them.
	synced, err := e.hosts.Results(id, deliver.Synced)
	if err != nil {
		return nil, err
	}
	for stage, hosts := range synced {
		// A host whose sync began but has not ended has no result yet.
		maps.DeleteFunc(hosts, func(_ string, r HostResult) bool { return r.Time.IsZero() })
		if len(hosts) > 0 {
			d.Sync.Stage(stage).Hosts = hosts
		}
	}
	if rb := d.Sync.Rollback; rb != nil {
		if rb.Hosts, err = e.hosts.Results(id, deliver.RolledBack); err != nil {
			return nil, err
		}
		if rb.Verified, err = e.hosts.Results(id, deliver.Verified); err != nil {
			return nil, err
		}
	}
	return d, nil
}
