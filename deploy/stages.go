package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/git"
	"github.com/jouncebot/jouncebot/deploy/workflow"
)

// Stage is one step of a deploy. Exec runs it from wherever the deploy's
// record says it got to, writes its intent with Job.Checkpoint before every
// side effect and its outcome with Job.Save after, and returns nil when the
// stage is complete, a *Failure (see Failf) to stop the deploy, or ctx's
// error when interrupted (the deploy resumes at this stage on restart). Part
// 2's sync stages are Stages appended through Options.Stages.
type Stage interface {
	Name() string
	Exec(ctx context.Context, j *Job) error
}

// voteStage gives Code-Review +2 to every unmerged change.
type voteStage struct{}

func (voteStage) Name() string { return "vote" }

// Effects implements effector.
func (voteStage) Effects(*Options) []string { return []string{effectVote} }

func (voteStage) Exec(ctx context.Context, j *Job) error {
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	g := j.e.gerrit
	for _, c := range d.Changes {
		if c.Merged {
			continue
		}
		msg := fmt.Sprintf("Deploying with jouncebot (deploy %s by %s).", d.ID, d.By.Name)
		if d.Force {
			msg += " Forced: " + d.Reason
		}
		made, err := j.Do(ctx, workflow.Effect{Key: voteKey(c.Number),
			Do: func(ctx context.Context) error {
				err := g.Review(ctx, c.Number, c.Revision, gerrit.ReviewInput{Message: msg, Labels: map[string]int{"Code-Review": 2}})
				if err == nil {
					// Said as part of the effect, so a restart after its
					// completion was recorded does not leave it unsaid.
					j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("Code-Review +2 given on %d (patchset %d).", c.Number, c.PatchSet)))
				}
				return err
			},
			// Interrupted around the vote: look before voting again.
			Check: func(ctx context.Context) (bool, error) {
				ch, err := g.Change(ctx, c.Number)
				if err != nil {
					return false, err
				}
				return ch.Revision == c.Revision && hasVote(ch, g.Username(), "Code-Review", 2), nil
			}})
		var gerr *gerrit.Error
		if errors.As(err, &gerr) && gerr.Status == http.StatusConflict {
			// A new patchset arrived since the deploy started: the
			// deployer must look at it, as during the merge wait.
			_ = j.flow.Forget(voteKey(c.Number))
			ch, cerr := g.Change(ctx, c.Number)
			if cerr != nil {
				return cerr
			}
			i := slices.IndexFunc(d.Changes, func(x Change) bool { return x.Number == c.Number })
			if _, perr := mergeProgress(ctx, j, i, c, ch); perr != nil {
				return perr
			}
			if ch.Revision != c.Revision || ch.Merged() {
				return voteStage{}.Exec(ctx, j) // vote on the rebased revision
			}
			return err
		}
		if err != nil {
			return err
		}
		if made {
			crashPoint("voted")
		}
	}
	return nil
}

func hasVote(ch *gerrit.Change, user, label string, value int) bool {
	return slices.ContainsFunc(ch.Labels[label], func(a gerrit.Approval) bool { return a.Username == user && a.Value == value })
}

// mergeStage waits, with a timeout, for the gate to merge every change.
type mergeStage struct{}

func (mergeStage) Name() string { return "merge" }

// trivialKinds are patchset kinds Gerrit makes without changing the code;
// the gate's own rebase is one.
var trivialKinds = []string{"TRIVIAL_REBASE", "NO_CODE_CHANGE", "NO_CHANGE", "MERGE_FIRST_PARENT_UPDATE"}

func (mergeStage) Exec(ctx context.Context, j *Job) error {
	e := j.e
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	if d.WaitSince.IsZero() {
		if err := j.Save(func(d *Deploy) { d.WaitSince = time.Now().UTC() }); err != nil {
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
			j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("Waiting up to %s for the gate to merge %s.", fmtDur(e.o.MergeTimeout), bot.JoinNames(pending))))
		}
	}
	deadline := d.WaitSince.Add(e.o.MergeTimeout)
	nextReport := time.Now().Add(e.o.ProgressEvery)
	var gerritTrouble string
	for {
		d, err := j.Deploy()
		if err != nil {
			return err
		}
		if d.AbortBy != "" {
			return ErrAborted
		}
		done := true
		for i, c := range d.Changes {
			if c.Merged {
				continue
			}
			ch, err := e.gerrit.Change(ctx, c.Number)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if msg := userText(err); msg != gerritTrouble {
					gerritTrouble = msg
					j.Say(ctx, EventProgress, bot.T(msg+" Still waiting for the merge."))
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
			return Failf("The gate did not merge %s within %s.", pendingList(d), fmtDur(e.o.MergeTimeout))
		}
		if !now.Before(nextReport) {
			nextReport = nextReport.Add(e.o.ProgressEvery)
			j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("Still waiting for the gate to merge %s (%s of %s).",
				pendingList(d), fmtDur(now.Sub(d.WaitSince).Round(time.Second)), fmtDur(e.o.MergeTimeout))))
		}
		crashPoint("merge-wait")
		t := time.NewTimer(min(e.o.PollInterval, time.Until(deadline)+time.Millisecond, time.Until(nextReport)))
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

func pendingList(d *Deploy) string {
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
func trivialNext(c Change, ch *gerrit.Change) bool {
	return ch.PatchSet == c.PatchSet+1 && slices.Contains(trivialKinds, ch.Kind)
}

// mergeProgress looks at one change during the wait: merged, still
// waiting, or a reason to stop or pause.
func mergeProgress(ctx context.Context, j *Job, i int, c Change, ch *gerrit.Change) (bool, error) {
	switch {
	case ch.Merged():
		if ch.Revision != c.Revision && !trivialNext(c, ch) {
			return false, Failf("%d merged at patchset %d (uploaded by %s), but patchset %d was the one to deploy: nothing was fetched or synced. Look at %d in Gerrit, then deploy what merged deliberately or revert it.",
				c.Number, ch.PatchSet, ch.Uploader.Display(), c.PatchSet, c.Number)
		}
		// The gate's own rebase keeps the patchset deployed and approved.
		if err := j.Save(func(d *Deploy) { d.Changes[i].Merged = true; d.Changes[i].Revision = ch.Revision }); err != nil {
			return false, err
		}
		j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("%d merged.", c.Number)))
		return true, nil
	case ch.Status == "ABANDONED":
		return false, Failf("%d was abandoned while waiting for the merge.", c.Number)
	}
	var ourVote time.Time
	for _, v := range ch.Labels["Code-Review"] {
		if v.Value == -2 {
			return false, Failf("%s gave Code-Review -2 on %d.", v.Display(), c.Number)
		}
		if v.Username == j.e.gerrit.Username() && v.Value == 2 {
			ourVote = v.Date
		}
	}
	if ourVote.IsZero() {
		ourVote = c.Vote.Done
	}
	for _, v := range ch.Labels["Verified"] {
		if v.Value < 0 && !v.Date.Before(ourVote) {
			return false, Failf("%s gave Verified %d on %d after the +2: the tests failed.", v.Display(), v.Value, c.Number)
		}
	}
	if ch.Revision != c.Revision && ch.PatchSet <= c.PatchSet {
		return false, Failf("Gerrit now reports patchset %d of %d as commit %s, but patchset %d was approved as %s: the change was rewritten in Gerrit. Look at %d in Gerrit, then deploy it again.",
			ch.PatchSet, c.Number, short(ch.Revision), c.PatchSet, short(c.Revision), c.Number)
	}
	if ch.Revision != c.Revision {
		if trivialNext(c, ch) {
			err := j.Save(func(d *Deploy) {
				d.Changes[i].Revision, d.Changes[i].PatchSet = ch.Revision, ch.PatchSet
				if d.Approved != nil && d.Approved.PatchSets != nil {
					// The same code: the approvals carry over, as
					// Gerrit's own copy rules carry its votes.
					d.Approved.PatchSets[c.Number] = ch.PatchSet
				}
			})
			if err == nil {
				j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("%d was rebased by %s (patchset %d, %s); still waiting.",
					c.Number, ch.Uploader.Display(), ch.PatchSet, strings.ToLower(strings.ReplaceAll(ch.Kind, "_", " ")))))
			}
			return false, err
		}
		p := &Pause{Change: c.Number, PatchSet: ch.PatchSet, Revision: ch.Revision, Uploader: ch.Uploader.Display(), Kind: ch.Kind}
		if testPoint != nil {
			testPoint("pausing", j.id)
		}
		// Not over an abort: the runner goes on to end the deploy.
		if err := j.Checkpoint(func(d *Deploy) { d.Pause, d.State = p, statePaused }); err != nil {
			return false, err
		}
		d, _ := j.Deploy()
		next := "Review it, then say `continue` to approve and deploy it, or `abort`."
		if len(d.Approvals) > 0 || d.ApprovedBy != "" {
			next = "The deploy's approvals were for the patchset it started with: say `abort` and ask again."
		}
		j.Say(ctx, EventNeeds, bot.Join(d.By.Mention(), bot.T(fmt.Sprintf(
			": %s uploaded patchset %d of %d while we waited for the merge; it was not approved. %s",
			p.Uploader, p.PatchSet, c.Number, next))))
		return false, errPaused
	}
	if ch.Mergeable != nil && !*ch.Mergeable {
		return false, Failf("%d can no longer be merged; it needs a rebase.", c.Number)
	}
	return false, nil
}

// fetchStage fetches upstream into every staging checkout the deploy
// touches.
type fetchStage struct{}

func (fetchStage) Name() string { return "fetch" }

func (fetchStage) Exec(ctx context.Context, j *Job) error {
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	var said []string
	for i, r := range d.Repos {
		dir := filepath.Join(j.StagingDir(), r.Dir)
		if !r.Fetch.Done.IsZero() {
			if _, err := j.Git().Run(ctx, dir, "rev-parse", "-q", "--verify", r.Upstream+"^{commit}"); err == nil {
				continue
			}
			// The fetched commit is gone (staging was replaced): fetch again.
		}
		before := r.Before
		if before == "" {
			if before, err = j.Git().Run(ctx, dir, "rev-parse", "HEAD"); err != nil {
				return err
			}
		}
		if err := j.Checkpoint(func(d *Deploy) { d.Repos[i].Before, d.Repos[i].Fetch.Started = before, time.Now().UTC() }); err != nil {
			return err
		}
		if _, err := j.Git().Run(ctx, dir, "fetch", "origin", r.Branch); err != nil {
			return err
		}
		up, err := j.Git().Run(ctx, dir, "rev-parse", "refs/remotes/origin/"+r.Branch)
		if err != nil {
			return err
		}
		if err := j.Save(func(d *Deploy) { d.Repos[i].Upstream, d.Repos[i].Fetch.Done = up, time.Now().UTC() }); err != nil {
			return err
		}
		said = append(said, fmt.Sprintf("%s at %s", repoName(r.Dir), short(up)))
	}
	if len(said) > 0 {
		j.Say(ctx, EventProgress, bot.T("Fetched "+bot.JoinNames(said)+"."))
	}
	crashPoint("fetched")
	return nil
}

// checkStage verifies that upstream holds exactly the approved commits
// (by Change-Id) besides the local-only security patches. It has no side
// effects.
type checkStage struct{}

func (checkStage) Name() string { return "check" }

type commit struct {
	SHA, Subject, Author string
	ChangeIDs            []string
}

func (c commit) String() string {
	id := "no Change-Id"
	if len(c.ChangeIDs) > 0 {
		id = "Change-Id " + c.ChangeIDs[0]
	}
	return fmt.Sprintf("%s %q by %s (%s)", short(c.SHA), c.Subject, c.Author, id)
}

func logCommits(ctx context.Context, g Git, dir, rng string) ([]commit, error) {
	out, err := g.Run(ctx, dir, "log", "--format=%H%x1f%s%x1f%an%x1f%(trailers:key=Change-Id,valueonly,separator=%x2C)%x1e", rng)
	if err != nil {
		return nil, err
	}
	var cs []commit
	for _, rec := range strings.Split(out, "\x1e") {
		f := strings.Split(strings.TrimSpace(rec), "\x1f")
		if len(f) < 4 {
			continue
		}
		c := commit{SHA: f[0], Subject: f[1], Author: f[2]}
		for _, id := range strings.Split(f[3], ",") {
			if id = strings.TrimSpace(id); id != "" {
				c.ChangeIDs = append(c.ChangeIDs, id)
			}
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func (checkStage) Exec(ctx context.Context, j *Job) error {
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	for i, r := range d.Repos {
		dir := filepath.Join(j.StagingDir(), r.Dir)
		incoming, err := logCommits(ctx, j.Git(), dir, "HEAD.."+r.Upstream)
		if err != nil {
			return err
		}
		local, err := logCommits(ctx, j.Git(), dir, r.Upstream+"..HEAD")
		if err != nil {
			return err
		}
		want := map[string]int{}
		for _, c := range d.Changes {
			if c.Repo == r.Dir {
				want[c.ChangeID] = c.Number
			}
		}
		var unexpected []string
		seen := map[string]bool{}
		for _, c := range incoming {
			ok := false
			for _, id := range c.ChangeIDs {
				if _, w := want[id]; w {
					ok, seen[id] = true, true
				}
			}
			if !ok {
				unexpected = append(unexpected, c.String())
			}
		}
		if len(unexpected) > 0 {
			then := "Find out what they are, then deploy them deliberately or revert them."
			if d.Approved != nil {
				then = "The approvals were for " + d.Approved.ChangesText() + " only: ask again once they are deployed deliberately or reverted."
			}
			return Failf("Upstream of %s (%s) has commits that are not part of this deploy: %s. %s",
				repoName(r.Dir), r.Branch, strings.Join(unexpected, "; "), then)
		}
		for id, n := range want {
			if seen[id] {
				continue
			}
			if in, err := j.Git().Run(ctx, dir, "log", "-n", "500", "--format=%(trailers:key=Change-Id,valueonly)", "HEAD"); err == nil && strings.Contains(in, id) {
				continue // already in staging
			}
			return Failf("%d merged, but upstream of %s (%s) does not contain it (Change-Id %s); Gerrit and git disagree, try again in a minute.",
				n, repoName(r.Dir), r.Branch, id)
		}
		subs, err := changedSubmodules(ctx, j.Git(), dir, "HEAD..."+r.Upstream)
		if err != nil {
			return err
		}
		var patches []string
		for k := len(local) - 1; k >= 0; k-- {
			// A local commit of a change being deployed (a revert made
			// in staging and synced first) is dropped by the rebase.
			if slices.ContainsFunc(local[k].ChangeIDs, func(id string) bool { _, w := want[id]; return w }) {
				continue
			}
			patches = append(patches, local[k].Subject)
		}
		if err := j.Save(func(d *Deploy) { d.Repos[i].Local, d.Repos[i].Submodules = patches, subs }); err != nil {
			return err
		}
		msg := fmt.Sprintf("Upstream of %s holds exactly the approved changes (%s)", repoName(r.Dir), bot.Count(len(incoming), "new commit"))
		if len(patches) > 0 {
			msg += fmt.Sprintf("; %s will be kept", bot.Count(len(patches), "local security patch"))
		}
		j.Say(ctx, EventProgress, bot.T(msg+"."))
	}
	return nil
}

// changedSubmodules lists the gitlinks a range of commits changes.
func changedSubmodules(ctx context.Context, g Git, dir, rng string) ([]string, error) {
	// -z: ":meta\x00path\x00" per file, the path unquoted.
	out, err := g.Run(ctx, dir, "diff", "--raw", "-z", "--no-abbrev", "--no-renames", rng, "--")
	if err != nil {
		return nil, err
	}
	var subs []string
	fields := strings.Split(out, "\x00")
	for i := 0; i+1 < len(fields); i += 2 {
		meta, path := fields[i], fields[i+1]
		if strings.HasPrefix(meta, ":160000") || strings.Contains(meta, " 160000 ") {
			subs = append(subs, path)
		}
	}
	return subs, nil
}

// updateStage moves each staging checkout to upstream, re-applying the
// local security patches on top, and updates the touched submodules.
type updateStage struct{}

func (updateStage) Name() string { return "update" }

var couldNotApply = regexp.MustCompile(`(?m)^Could not apply [0-9a-f]+\.\.\. (.*)$`)
var conflictIn = regexp.MustCompile(`(?m)^CONFLICT \([^)]*\): .* in (\S+)$`)

func (updateStage) Exec(ctx context.Context, j *Job) error {
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	for i, r := range d.Repos {
		dir := filepath.Join(j.StagingDir(), r.Dir)
		if r.Update.Done.IsZero() {
			if err := rebase(ctx, j, i, r, dir); err != nil {
				return err
			}
		}
		if len(r.Submodules) == 0 || !r.SubUpdate.Done.IsZero() {
			continue
		}
		if err := j.Checkpoint(func(d *Deploy) { d.Repos[i].SubUpdate.Started = time.Now().UTC() }); err != nil {
			return err
		}
		args := append([]string{"submodule", "update", "--init", "--"}, r.Submodules...)
		if _, err := j.Git().Run(ctx, dir, args...); err != nil {
			return err
		}
		if err := j.Save(func(d *Deploy) { d.Repos[i].SubUpdate.Done = time.Now().UTC() }); err != nil {
			return err
		}
	}
	d, _ = j.Deploy()
	var said []string
	for _, r := range d.Repos {
		s := fmt.Sprintf("%s to %s", repoName(r.Dir), short(r.After))
		if n := len(r.Local); n > 0 {
			s += fmt.Sprintf(" with %s re-applied", bot.Count(n, "security patch"))
		}
		if len(r.Submodules) > 0 {
			s += " and " + strings.Join(r.Submodules, ", ") + " updated"
		}
		said = append(said, s)
	}
	j.Say(ctx, EventProgress, bot.T("Updated "+strings.Join(said, "; ")+"."))
	return nil
}

// rebase moves one checkout onto its fetched upstream. After an
// interruption it finds out how far the last attempt got instead of
// repeating it blindly.
func rebase(ctx context.Context, j *Job, i int, r Repo, dir string) error {
	g := j.Git()
	if r.Update.Pending() {
		if gitDir, err := g.Run(ctx, dir, "rev-parse", "--git-dir"); err == nil {
			if _, err := g.Run(ctx, dir, "rev-parse", "-q", "--verify", "REBASE_HEAD"); err == nil || exists(filepath.Join(dir, gitDir, "rebase-merge")) {
				if _, err := g.Run(ctx, dir, "rebase", "--abort"); err != nil {
					return err
				}
			}
		}
		head, err := g.Run(ctx, dir, "rev-parse", "HEAD")
		if err != nil {
			return err
		}
		if head != r.Before {
			if _, err := g.Run(ctx, dir, "merge-base", "--is-ancestor", r.Upstream, "HEAD"); err != nil {
				return Failf("The checkout %s is at %s, neither where it was (%s) nor on top of upstream %s; someone else changed it. Look at it by hand.",
					repoName(r.Dir), short(head), short(r.Before), short(r.Upstream))
			}
			return j.Save(func(d *Deploy) { d.Repos[i].After, d.Repos[i].Update.Done = head, time.Now().UTC() })
		}
	}
	if err := j.Checkpoint(func(d *Deploy) { d.Repos[i].Update.Started = time.Now().UTC() }); err != nil {
		return err
	}
	if _, err := g.Run(ctx, dir, "rebase", r.Upstream); err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // interrupted: the next run finds out how far it got
		}
		msg := err.Error()
		var gerr *git.Error
		if errors.As(err, &gerr) {
			msg += "\n" + gerr.Stdout
		}
		if _, aerr := g.Run(context.WithoutCancel(ctx), dir, "rebase", "--abort"); aerr != nil {
			// git's words name paths in the checkout, the security
			// patch's files among them: only for the security destination.
			return j.securityFailure(
				fmt.Sprintf("Re-applying the local security patches on %s failed and the rebase could not be undone; staging needs a look by hand", repoName(r.Dir)),
				fmt.Sprintf("Re-applying the local security patches on %s on top of upstream %s failed (%s), and git rebase --abort failed too: %s. Staging needs a look by hand.",
					repoName(r.Dir), short(r.Upstream), gitWords(err), gitWords(aerr)))
		}
		_ = j.Save(func(d *Deploy) { d.Repos[i].Update = Op{} })
		patch, file := "a local patch", "a file"
		if m := couldNotApply.FindStringSubmatch(msg); m != nil {
			patch = fmt.Sprintf("%q", m[1])
		}
		if m := conflictIn.FindStringSubmatch(msg); m != nil {
			file = m[1]
		}
		return j.securityFailure(
			fmt.Sprintf("A local security patch conflicts with this change in %s. The checkout was left as it was (at %s); the patch must be rebased by hand", repoName(r.Dir), short(r.Before)),
			fmt.Sprintf("Re-applying the local security patch %s on top of upstream %s conflicts in %s. The checkout %s was left as it was (at %s); the patch must be rebased by hand.",
				patch, short(r.Upstream), file, repoName(r.Dir), short(r.Before)))
	}
	crashPoint("updating")
	head, err := g.Run(ctx, dir, "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	return j.Save(func(d *Deploy) { d.Repos[i].After, d.Repos[i].Update.Done = head, time.Now().UTC() })
}

// gitWords is the first line git wrote to stderr for a failed command
// (the error's own text when it wrote nothing).
func gitWords(err error) string {
	var gerr *git.Error
	if errors.As(err, &gerr) && strings.TrimSpace(gerr.Stderr) != "" {
		return firstLine(strings.TrimSpace(gerr.Stderr))
	}
	return firstLine(err.Error())
}

// verifyStage checks the result: every change in HEAD, the security
// patches on top of upstream, submodules at their pointers, a clean tree.
type verifyStage struct{}

func (verifyStage) Name() string { return "verify" }

func (verifyStage) Exec(ctx context.Context, j *Job) error {
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	g := j.Git()
	for _, r := range d.Repos {
		dir := filepath.Join(j.StagingDir(), r.Dir)
		name := repoName(r.Dir)
		if _, err := g.Run(ctx, dir, "merge-base", "--is-ancestor", r.Upstream, "HEAD"); err != nil {
			return Failf("The checkout %s does not contain upstream %s after the update.", name, short(r.Upstream))
		}
		local, err := logCommits(ctx, g, dir, r.Upstream+"..HEAD")
		if err != nil {
			return err
		}
		var subjects []string
		for k := len(local) - 1; k >= 0; k-- {
			subjects = append(subjects, local[k].Subject)
		}
		if !slices.Equal(subjects, r.Local) {
			return j.securityFailure(fmt.Sprintf("The checkout %s does not carry the local security patches it should on top of upstream after the update", name),
				fmt.Sprintf("The checkout %s should carry the security patches %q on top of upstream, but has %q.", name, r.Local, subjects))
		}
		ids, err := g.Run(ctx, dir, "log", "-n", "500", "--format=%(trailers:key=Change-Id,valueonly)", "HEAD")
		if err != nil {
			return err
		}
		for _, c := range d.Changes {
			if c.Repo == r.Dir && !strings.Contains(ids, c.ChangeID) {
				return Failf("The checkout %s does not contain %d (Change-Id %s) after the update.", name, c.Number, c.ChangeID)
			}
		}
		for _, c := range d.Changes {
			if c.Kind != KindSubmodule || c.Repo != r.Dir {
				continue
			}
			want, err := g.Run(ctx, dir, "rev-parse", "HEAD:"+c.Submodule)
			if err != nil {
				return err
			}
			have, err := g.Run(ctx, filepath.Join(dir, c.Submodule), "rev-parse", "HEAD")
			if err != nil || have != want {
				return Failf("Submodule %s in staging %s is at %s, not at %s as core says.", c.Submodule, name, short(have), short(want))
			}
		}
		st, err := g.Run(ctx, dir, "status", "--porcelain")
		if err != nil {
			return err
		}
		if st != "" {
			// Uncommitted changes may be a security fix in the making:
			// counted in public, listed only to the security destination.
			return j.securityFailure(fmt.Sprintf("The checkout %s is not clean after the update (%s)", name, bot.Count(len(strings.Split(st, "\n")), "file")),
				fmt.Sprintf("The checkout %s is not clean after the update: %s.", name, summarizeStatus(st)))
		}
	}
	patches := 0
	for _, r := range d.Repos {
		patches += len(r.Local)
	}
	msg := fmt.Sprintf("Staging checkout ready: %s on top of upstream", changeList(d.Changes))
	if patches > 0 {
		msg += ", " + bot.Count(patches, "security patch") + " kept"
	}
	j.Say(ctx, EventProgress, bot.T(msg+", tree clean."))
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
