package prepare

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/record"
	"github.com/jouncebot/jouncebot/deploy/step"
)

// Merge waits, with a timeout, for the gate to merge every change.
type Merge struct {
	// Timeout bounds the wait; PollInterval is how often Gerrit is
	// asked, ProgressEvery how often the wait is reported.
	Timeout, PollInterval, ProgressEvery time.Duration
}

// Name implements step.Step.
func (Merge) Name() string { return "merge" }

// trivialKinds are patchset kinds Gerrit makes without changing the code;
// the gate's own rebase is one.
var trivialKinds = []string{"TRIVIAL_REBASE", "NO_CODE_CHANGE", "NO_CHANGE", "MERGE_FIRST_PARENT_UPDATE"}

// Exec implements step.Step.
func (m Merge) Exec(ctx context.Context, j step.Job) error {
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	if d.WaitSince.IsZero() {
		if err := j.Save(func(d *record.Deploy) { d.WaitSince = time.Now().UTC() }); err != nil {
			return err
		}
		d, _ = j.Deploy()
		var pending []string
		for _, c := range d.Changes {
			if !c.Merged {
				pending = append(pending, fmt.Sprint(c.Number))
			}
		}
		if len(pending) > 0 {
			j.Say(ctx, step.EventProgress, bot.T(fmt.Sprintf("Waiting up to %s for the gate to merge %s.", step.Dur(m.Timeout), bot.JoinNames(pending))))
		}
	}
	deadline := d.WaitSince.Add(m.Timeout)
	nextReport := time.Now().Add(m.ProgressEvery)
	var gerritTrouble string
	for {
		d, err := j.Deploy()
		if err != nil {
			return err
		}
		if d.AbortBy != "" {
			return step.ErrAborted
		}
		done := true
		for i, c := range d.Changes {
			if c.Merged {
				continue
			}
			ch, err := j.Gerrit().Change(ctx, c.Number)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if msg := step.UserText(err); msg != gerritTrouble {
					gerritTrouble = msg
					j.Say(ctx, step.EventProgress, bot.T(msg+" Still waiting for the merge."))
				}
				done = false
				continue
			}
			gerritTrouble = ""
			merged, err := mergeProgress(ctx, j, i, c, ch)
			if err != nil {
				return err
			}
			done = done && merged
		}
		if done {
			return nil
		}
		now := time.Now()
		if !now.Before(deadline) {
			return step.Failf("The gate did not merge %s within %s.", pendingList(d), step.Dur(m.Timeout))
		}
		if !now.Before(nextReport) {
			nextReport = nextReport.Add(m.ProgressEvery)
			j.Say(ctx, step.EventProgress, bot.T(fmt.Sprintf("Still waiting for the gate to merge %s (%s of %s).",
				pendingList(d), step.Dur(now.Sub(d.WaitSince).Round(time.Second)), step.Dur(m.Timeout))))
		}
		step.CrashPoint("merge-wait")
		t := time.NewTimer(min(m.PollInterval, time.Until(deadline)+time.Millisecond, time.Until(nextReport)))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-j.Woken():
			t.Stop()
		case <-t.C:
		}
	}
}

func pendingList(d *record.Deploy) string {
	var s []string
	for _, c := range d.Changes {
		if !c.Merged {
			s = append(s, fmt.Sprint(c.Number))
		}
	}
	return bot.JoinNames(s)
}

// trivialNext reports whether ch's current patchset is the one right
// after c's and the same code. A kind says how a patchset differs from
// the one before it only: trivial after an unapproved rework is not
// trivial against the approved one.
func trivialNext(c record.Change, ch *gerrit.Change) bool {
	return ch.PatchSet == c.PatchSet+1 && slices.Contains(trivialKinds, ch.Kind)
}

// mergeProgress looks at one change during the wait: merged, still
// waiting, or a reason to stop or pause.
func mergeProgress(ctx context.Context, j step.Job, i int, c record.Change, ch *gerrit.Change) (bool, error) {
	switch {
	case ch.Merged():
		if ch.Revision != c.Revision && !trivialNext(c, ch) {
			return false, step.Failf("%d merged at patchset %d (uploaded by %s), but patchset %d was the one to deploy: nothing was fetched or synced. Look at %d in Gerrit, then deploy what merged deliberately or revert it.",
				c.Number, ch.PatchSet, ch.Uploader.Display(), c.PatchSet, c.Number)
		}
		// The gate's own rebase keeps the patchset deployed and approved.
		if err := j.Save(func(d *record.Deploy) { d.Changes[i].Merged = true; d.Changes[i].Revision = ch.Revision }); err != nil {
			return false, err
		}
		j.Say(ctx, step.EventProgress, bot.T(fmt.Sprintf("%d merged.", c.Number)))
		return true, nil
	case ch.Status == "ABANDONED":
		return false, step.Failf("%d was abandoned while waiting for the merge.", c.Number)
	}
	var ourVote time.Time
	for _, v := range ch.Labels["Code-Review"] {
		if v.Value == -2 {
			return false, step.Failf("%s gave Code-Review -2 on %d.", v.Display(), c.Number)
		}
		if v.Username == j.Gerrit().Username() && v.Value == 2 {
			ourVote = v.Date
		}
	}
	if ourVote.IsZero() {
		ourVote = c.Vote.Done
	}
	for _, v := range ch.Labels["Verified"] {
		if v.Value < 0 && !v.Date.Before(ourVote) {
			return false, step.Failf("%s gave Verified %d on %d after the +2: the tests failed.", v.Display(), v.Value, c.Number)
		}
	}
	if ch.Revision != c.Revision && ch.PatchSet <= c.PatchSet {
		return false, step.Failf("Gerrit now reports patchset %d of %d as commit %s, but patchset %d was approved as %s: the change was rewritten in Gerrit. Look at %d in Gerrit, then deploy it again.",
			ch.PatchSet, c.Number, step.Short(ch.Revision), c.PatchSet, step.Short(c.Revision), c.Number)
	}
	if ch.Revision != c.Revision {
		if trivialNext(c, ch) {
			err := j.Save(func(d *record.Deploy) {
				d.Changes[i].Revision, d.Changes[i].PatchSet = ch.Revision, ch.PatchSet
				if d.Approved != nil && d.Approved.PatchSets != nil {
					// The same code: the approvals carry over, as
					// Gerrit's own copy rules carry its votes.
					d.Approved.PatchSets[c.Number] = ch.PatchSet
				}
			})
			if err == nil {
				j.Say(ctx, step.EventProgress, bot.T(fmt.Sprintf("%d was rebased by %s (patchset %d, %s); still waiting.",
					c.Number, ch.Uploader.Display(), ch.PatchSet, strings.ToLower(strings.ReplaceAll(ch.Kind, "_", " ")))))
			}
			return false, err
		}
		p := &record.Pause{Change: c.Number, PatchSet: ch.PatchSet, Revision: ch.Revision, Uploader: ch.Uploader.Display(), Kind: ch.Kind}
		if err := j.Pause(p); err != nil {
			return false, err
		}
		d, _ := j.Deploy()
		next := "Review it, then say `continue` to approve and deploy it, or `abort`."
		if len(d.Approvals) > 0 || d.ApprovedBy != "" {
			next = "The deploy's approvals were for the patchset it started with: say `abort` and ask again."
		}
		j.Say(ctx, step.EventNeeds, bot.Join(d.By.Mention(), bot.T(fmt.Sprintf(
			": %s uploaded patchset %d of %d while we waited for the merge; it was not approved. %s",
			p.Uploader, p.PatchSet, c.Number, next))))
		return false, step.ErrPaused
	}
	if ch.Mergeable != nil && !*ch.Mergeable {
		return false, step.Failf("%d can no longer be merged; it needs a rebase.", c.Number)
	}
	return false, nil
}
