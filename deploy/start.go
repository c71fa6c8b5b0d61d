package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/judge"
	"github.com/jouncebot/jouncebot/deploy/prepare"
	"github.com/jouncebot/jouncebot/deploy/record"
	"github.com/jouncebot/jouncebot/deploy/step"
	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// check applies the rules on who may deploy and when. It is pure.
func (r Request) check() error {
	example := "deploy --force 445113 <reason>"
	if len(r.Changes) > 0 {
		example = "deploy --force " + strings.Join(r.Changes, " ") + " <reason>"
	}
	switch {
	case r.By.Name == "":
		return sentence("I do not know who you are: log in to your account (NickServ or Matrix) and make sure it is in jouncebot's people list.")
	case !r.By.Deployer:
		return sentence("Only people with the deployer role can deploy; ask an admin to add it to your entry in the configuration.")
	case len(r.Changes) == 0:
		return sentence("Say which changes to deploy, e.g. `deploy 445113` (numbers or Gerrit links).")
	case r.Force && strings.TrimSpace(r.Reason) == "":
		return sentence("--force needs a reason, e.g. `" + example + "`.")
	case r.Frozen != "" && !r.Force:
		return sentence("Deploys are frozen: " + r.Frozen + ". If this cannot wait, add --force and a reason: `" + example + "`.")
	case !r.InWindow && !r.Force:
		return sentence("No deployment window is open now. If this cannot wait, add --force and a reason: `" + example + "`.")
	}
	return nil
}

// approvedPatchSets refuses a deploy whose changes moved on from the
// patchsets its approvals were given for, and approvals that do not say
// which patchset they are for: they could be for an older one than would
// ship.
func approvedPatchSets(r Request, changes []Change) error {
	var moved, unpinned []string
	for _, c := range changes {
		ps, ok := r.PatchSets[c.Number]
		switch {
		case !ok && len(r.Approvals) > 0 && !c.MergedBefore:
			unpinned = append(unpinned, strconv.Itoa(c.Number))
		case ok && ps != c.PatchSet:
			moved = append(moved, fmt.Sprintf("change %d is at patchset %d, but the approvals were for patchset %d", c.Number, c.PatchSet, ps))
		}
	}
	if len(unpinned) > 0 {
		return sentence(fmt.Sprintf("Not started: the approvals do not say which patchset of change %s they are for, so they could be for another one than would ship. Nothing was done; ask again, so that the approvals are recorded for the patchsets approved.", bot.JoinNames(unpinned)))
	}
	if len(moved) == 0 {
		return nil
	}
	return sentence("Not started: " + strings.Join(moved, "; ") + ". The approvals are void; ask again to have the new patchset approved.")
}

// Start implements Service.
func (e *Engine) Start(ctx context.Context, r Request) (ID, error) {
	if err := e.referee.judgeStart(ctx, "deploy", &r); err != nil {
		return "", err
	}
	if err := r.check(); err != nil {
		return "", err
	}
	if _, l, err := e.records.current(); err != nil {
		return "", e.answers.internal("reading the deploy lock", err)
	} else if l != nil {
		return "", lockedError(l)
	}
	changes, err := e.changes.resolver().Resolve(ctx, r.Changes, true)
	if err != nil {
		e.announcer.sayRefusalPrivately(ctx, r, err)
		return "", err
	}
	if err := approvedPatchSets(r, changes); err != nil {
		return "", err
	}
	d := &Deploy{State: stateRunning, Stage: prepare.Vote{}.Name(), By: r.By, InWindow: r.InWindow, Window: r.Window,
		Frozen: r.Frozen, Force: r.Force, Reason: r.Reason, PrepareOnly: r.PrepareOnly, Origin: r.Origin,
		Changes: changes, Repos: prepare.ReposOf(changes), Created: time.Now().UTC(), Approvals: r.Approvals}
	d.Approved = judge.ApprovedFor(d)
	if e.referee.needsApproval(r) {
		d.State = stateApproval
	}
	reason := r.Reason
	switch {
	case reason != "":
	case r.Window != "":
		reason = "in the window " + r.Window
	default:
		reason = "in a deployment window"
	}
	if err := e.takeLock(d, reason, fmt.Sprintf("%s took the deploy lock for %s (%s)", r.By.Name, step.ChangeList(changes), reason)); err != nil {
		return "", err
	}
	e.announcer.sayTx(ctx, d.ID, nil, append([]Event{{Kind: EventStarted, Text: e.changes.startText(d)}}, privateChanges(d, changes)...)...)
	if d.State == stateApproval {
		e.announcer.say(ctx, d.ID, EventNeeds, bot.T(fmt.Sprintf("Deploy %s is forced (%s; reason: %s) and needs a second deployer: say `approve %s`, or `abort %s`.",
			d.ID, outsideWhat(d), d.Reason, d.ID, d.ID)))
		return d.ID, nil
	}
	if err := e.enqueue(ctx, d.ID); err != nil {
		return d.ID, e.answers.internal("starting the deploy", err)
	}
	return d.ID, nil
}

func outsideWhat(d *Deploy) string {
	if d.Frozen != "" {
		return "during a freeze"
	}
	return "outside a window"
}

func (a *changes) startText(d *Deploy) bot.Text {
	t := bot.T(fmt.Sprintf("Deploy %s started by ", d.ID)).Append(d.By.Mention())
	if d.PrepareOnly {
		t = t.Append(bot.T(" (prepare only)"))
	}
	t = t.Append(bot.T(":"))
	for _, c := range d.Changes {
		t = t.Append(bot.T("\n"), bot.L(strconv.Itoa(c.Number), a.gerrit.ChangeURL(c.Number)),
			bot.T(fmt.Sprintf(" %s %s %q by %s", c.Project, c.Branch, c.Subject, c.OwnerName)))
		if c.MergedBefore {
			t = t.Append(bot.T(" (already merged)"))
		}
		if p, ok := a.o.owner(c.Owner); ok {
			t = t.Append(bot.T(" "), bot.M(p))
		}
	}
	return t
}

func lockedError(l *Lock) error {
	nums := make([]string, len(l.Changes))
	for i, n := range l.Changes {
		nums[i] = strconv.Itoa(n)
	}
	return sentence(fmt.Sprintf("Deploy %s by %s holds the deploy lock since %s UTC (%s; reason: %s); wait for it to finish or ask %s.",
		l.Deploy, l.Holder, l.Since.UTC().Format("15:04"), bot.JoinNames(nums), l.Reason, l.Holder))
}

// takeLock gives d its id and stores it together with the deploy lock and
// an audit record, in one transaction. When someone else holds the lock it
// returns the sentence saying who and why.
func (e *Engine) takeLock(d *Deploy, reason, auditText string) error {
	var held *Lock
	err := e.records.db.Update(func(tx *bolt.Tx) error {
		l, err := getLock(tx)
		if err != nil || l != nil {
			held = l
			return err
		}
		seq, err := tx.Bucket(store.Deploys).NextSequence()
		if err != nil {
			return err
		}
		d.ID = ID(strconv.FormatUint(seq, 10))
		l = &Lock{Deploy: d.ID, Holder: d.By.Name, Changes: prepare.Numbers(d.Changes), Since: d.Created, Reason: reason}
		b, _ := json.Marshal(l)
		if err := tx.Bucket(store.DeployLock).Put(lockKey, b); err != nil {
			return err
		}
		if err := audit(tx, d.ID, auditText); err != nil {
			return err
		}
		if d.State == stateRunning {
			e.claim(d.ID)
		}
		return record.Put(tx, d)
	})
	if err != nil {
		return e.answers.internal("taking the deploy lock", err)
	}
	if held != nil {
		return lockedError(held)
	}
	return nil
}

// resolver finds out what changes are, with the engine's clients and
// options.
func (a *changes) resolver() *prepare.Resolver {
	return &prepare.Resolver{Gerrit: a.gerrit, Git: a.git, StagingDir: a.o.StagingDir,
		ConfigProject: a.o.ConfigProject, ConfigBranch: a.o.ConfigBranch, CoreProject: a.o.CoreProject, Log: a.log}
}
