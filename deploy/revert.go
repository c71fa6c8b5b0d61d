package deploy

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/prepare"
	"github.com/jouncebot/jouncebot/deploy/release"
	"github.com/jouncebot/jouncebot/deploy/sallines"
	"github.com/jouncebot/jouncebot/deploy/step"
	"github.com/jouncebot/jouncebot/deploy/workflow"
)

// RevertRequest asks to revert deployed changes.
type RevertRequest struct {
	// Changes to revert, as typed (several for a stack: they are reverted
	// newest first whatever the order given).
	Changes []string
	By      Person
	// ViaGerrit pushes the revert and deploys it through the normal flow
	// instead of reverting in staging and syncing first.
	ViaGerrit bool
	// InWindow, Window, Frozen, Force and Reason are as in Request.
	InWindow bool
	Window   string
	Frozen   string
	Force    bool
	Reason   string
	Origin   string
	// Approvals and ForcedAt are as in Request.
	Approvals []Approval
	ForcedAt  time.Time `json:",omitzero"`
}

// ParseRevertArgs reads `revert [--via-gerrit] [--force] <change>… [reason]`.
func ParseRevertArgs(words []string) (RevertRequest, Args) {
	var r RevertRequest
	var rest []string
	for _, w := range words {
		if w == "--via-gerrit" {
			r.ViaGerrit = true
			continue
		}
		rest = append(rest, w)
	}
	a := ParseArgs(rest)
	r.Changes, r.Force, r.Reason = a.Changes, a.Force, a.Reason
	return r, a
}

// Revert implements Service. Without ViaGerrit it takes the deploy lock,
// reverts the changes' commits in staging (newest first; -m1 for merges),
// syncs that through the stages without waiting for a test, then pushes
// the reverts to refs/for/<branch> and comments on the originals. With
// ViaGerrit it pushes the reverts and deploys them like any change.
func (e *Engine) Revert(ctx context.Context, r RevertRequest) (ID, error) {
	req := Request{Changes: r.Changes, By: r.By, InWindow: r.InWindow, Window: r.Window, Frozen: r.Frozen,
		Force: r.Force, Reason: r.Reason, Origin: r.Origin, Approvals: r.Approvals, ForcedAt: r.ForcedAt}
	if err := e.referee.judgeStart(ctx, "revert", &req); err != nil {
		return "", err
	}
	r.InWindow, r.Window, r.Frozen, r.Approvals = req.InWindow, req.Window, req.Frozen, req.Approvals
	if err := req.check(); err != nil {
		return "", sentence(strings.Replace(err.Error(), "deploy --force", "revert --force", 1))
	}
	if _, l, err := e.records.current(); err != nil {
		return "", e.answers.internal("reading the deploy lock", err)
	} else if l != nil {
		return "", lockedError(l)
	}
	changes, commits, err := e.changes.revertTargets(ctx, r.Changes)
	if err != nil {
		return "", err
	}
	if r.ViaGerrit {
		return e.revertViaGerrit(ctx, req, changes, commits)
	}
	d := &Deploy{State: stateRunning, Stage: revertStage{}.Name(), By: r.By, InWindow: r.InWindow, Window: r.Window,
		Frozen: r.Frozen, Force: r.Force, Reason: r.Reason, Origin: r.Origin, Changes: changes, Repos: prepare.ReposOf(changes),
		Created: time.Now().UTC(), Revert: &RevertRecord{Commits: commits}, Approvals: r.Approvals}
	if slices.ContainsFunc(e.o.Stages, func(s Stage) bool { _, ok := s.(*SyncStage); return ok }) {
		d.Stage = release.Snapshot{}.Name()
	}
	if err := e.takeLock(d, "revert of "+step.ChangeList(changes), fmt.Sprintf("%s took the deploy lock to revert %s", r.By.Name, step.ChangeList(changes))); err != nil {
		return "", err
	}
	e.announcer.say(ctx, d.ID, EventStarted, bot.Join(bot.T(fmt.Sprintf("Revert %s started by ", d.ID)), r.By.Mention(),
		bot.T(fmt.Sprintf(": reverting %s in staging, syncing it, then pushing the revert to Gerrit.", step.ChangeList(changes)))))
	if err := e.enqueue(ctx, d.ID); err != nil {
		return d.ID, e.answers.internal("starting the revert", err)
	}
	return d.ID, nil
}

// revertTargets reads the changes from Gerrit and finds their commits in
// staging, newest first.
func (a *changes) revertTargets(ctx context.Context, specs []string) ([]Change, []RevertCommit, error) {
	var probs prepare.Problems
	var changes []Change
	var commits []RevertCommit
	for _, s := range specs {
		ref, err := prepare.ParseChange(s)
		if err != nil {
			probs.Add("%s", err.Error())
			continue
		}
		if msg := ref.OtherGerrit(s, a.gerrit.ChangeURL(ref.Number)); msg != "" {
			probs.Add("%s", msg)
			continue
		}
		ch, err := a.gerrit.Change(ctx, ref.Number)
		if err != nil {
			if gerrit.IsNotFound(err) {
				probs.Add("Change %d was not found in Gerrit.", ref.Number)
				continue
			}
			return nil, nil, sentence(step.UserText(err))
		}
		c, problem := a.resolver().Classify(ch, prepare.Ref{Number: ref.Number})
		switch {
		case !ch.Merged():
			probs.Add("Change %d is not merged, so there is nothing to revert; abandon it in Gerrit instead.", ch.Number)
			continue
		case problem != "":
			probs.Add("%s", problem)
			continue
		case c.Kind == KindSubmodule:
			probs.Add("Change %d is in the submodule %s; revert it in Gerrit and deploy the revert (`revert --via-gerrit` does not handle submodules either).", ch.Number, c.Submodule)
			continue
		}
		dir := filepath.Join(a.o.StagingDir, c.Repo)
		sha, err := a.git.Run(ctx, dir, "log", "-n", "1", "--format=%H", "--grep=^Change-Id: "+c.ChangeID+"$", "HEAD")
		if err != nil || sha == "" {
			probs.Add("Change %d is not in the staging checkout %s; it was never deployed, so revert it in Gerrit.", ch.Number, step.RepoName(c.Repo))
			continue
		}
		parents, _ := a.git.Run(ctx, dir, "rev-list", "--parents", "-n", "1", sha)
		changes = append(changes, c)
		commits = append(commits, RevertCommit{Change: c.Number, Repo: c.Repo, Branch: c.Branch, SHA: sha,
			Merge: len(strings.Fields(parents)) > 2, Private: c.Private})
	}
	if len(probs) > 0 {
		return nil, nil, probs.Err()
	}
	// Newest first: by position in each checkout's history.
	pos := map[string]int{}
	for _, c := range commits {
		if _, ok := pos[c.SHA]; ok {
			continue
		}
		out, err := a.git.Run(ctx, filepath.Join(a.o.StagingDir, c.Repo), "rev-list", "-n", "1000", "HEAD")
		if err != nil {
			return nil, nil, sentence(step.UserText(err))
		}
		for i, s := range strings.Fields(out) {
			pos[s] = i
		}
	}
	slices.SortStableFunc(commits, func(x, y RevertCommit) int { return pos[x.SHA] - pos[y.SHA] })
	return changes, commits, nil
}

// changeIDFor makes a Change-Id for a revert, as Gerrit's commit-msg hook
// would.
func changeIDFor(sha string) string {
	sum := sha1.Sum([]byte(sha + time.Now().String()))
	return "I" + hex.EncodeToString(sum[:])
}

// revertCommit reverts c in dir and gives the commit a Change-Id.
func (a *changes) revertCommit(ctx context.Context, dir string, c *RevertCommit) error {
	var args []string
	if name, err := a.git.Run(ctx, dir, "config", "user.name"); err != nil || name == "" {
		// The deploy host's git has no identity: author as jouncebot.
		args = append(args, "-c", "user.name=jouncebot", "-c", "user.email=jouncebot@localhost")
	}
	ident := args
	args = append(args, "revert", "--no-edit")
	if c.Merge {
		args = append(args, "-m", "1")
	}
	if _, err := a.git.Run(ctx, dir, append(args, c.SHA)...); err != nil {
		_, _ = a.git.Run(context.WithoutCancel(ctx), dir, "revert", "--abort")
		return Failf("Reverting %d (%s) in %s conflicts with what came after it; revert it by hand.", c.Change, step.Short(c.SHA), step.RepoName(c.Repo))
	}
	msg, err := a.git.Run(ctx, dir, "log", "-1", "--format=%B")
	if err != nil {
		return err
	}
	if c.ChangeID == "" {
		c.ChangeID = changeIDFor(c.SHA)
	}
	msg = strings.TrimSpace(msg) + fmt.Sprintf("\n\nReverts change %d.\n\nChange-Id: %s\n", c.Change, c.ChangeID)
	if _, err := a.git.Run(ctx, dir, append(slices.Clone(ident), "commit", "--amend", "-q", "-m", msg)...); err != nil {
		return err
	}
	c.Revert, err = a.git.Run(ctx, dir, "rev-parse", "HEAD")
	return err
}

// pushReverts pushes the revert commits of one checkout to
// refs/for/<branch>, rebuilt on upstream in a temporary worktree so that
// local security patches never leave the host, and returns the new
// changes.
func (a *changes) pushReverts(ctx context.Context, repo string, commits []RevertCommit) ([]int, error) {
	dir := filepath.Join(a.o.StagingDir, repo)
	branch := commits[0].Branch
	if _, err := a.git.Run(ctx, dir, "fetch", "-q", "origin", branch); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "jouncebot-revert-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	wt := filepath.Join(tmp, "wt")
	if _, err := a.git.Run(ctx, dir, "worktree", "add", "-q", "--detach", wt, "refs/remotes/origin/"+branch); err != nil {
		return nil, err
	}
	defer a.git.Run(context.WithoutCancel(ctx), dir, "worktree", "remove", "--force", wt)
	for _, c := range commits {
		if _, err := a.git.Run(ctx, wt, "cherry-pick", "--allow-empty", c.Revert); err != nil {
			_, _ = a.git.Run(context.WithoutCancel(ctx), wt, "cherry-pick", "--abort")
			return nil, Failf("The revert of %d does not apply to the current %s upstream; push it by hand.", c.Change, branch)
		}
	}
	target := "HEAD:refs/for/" + branch
	if slices.ContainsFunc(commits, func(c RevertCommit) bool { return c.Private }) {
		// A revert's subject quotes the reverted change's: the revert
		// of a change private in Gerrit is private as well.
		target += "%private"
	}
	if _, err := a.git.Run(ctx, wt, "push", "-q", "origin", target); err != nil {
		return nil, Failf("Pushing the revert to Gerrit failed (%s); staging keeps the revert, push it by hand.", step.FirstLine(step.UserText(err)))
	}
	var out []int
	for _, c := range commits {
		found, err := a.gerrit.Query(ctx, "change:"+c.ChangeID)
		if err != nil {
			return nil, err
		}
		for _, f := range found {
			out = append(out, f.Number)
			break
		}
	}
	return out, nil
}

// revertViaGerrit makes the reverts on top of staging, pushes them, puts
// staging back, and deploys the new changes through the normal flow.
func (e *Engine) revertViaGerrit(ctx context.Context, req Request, changes []Change, commits []RevertCommit) (ID, error) {
	var newChanges []string
	for _, repo := range prepare.ReposOf(changes) {
		dir := filepath.Join(e.o.StagingDir, repo.Dir)
		before, err := e.git.Run(ctx, dir, "rev-parse", "HEAD")
		if err != nil {
			return "", sentence(step.UserText(err))
		}
		var mine []RevertCommit
		for i := range commits {
			if commits[i].Repo != repo.Dir {
				continue
			}
			if err := e.changes.revertCommit(ctx, dir, &commits[i]); err != nil {
				_, _ = e.git.Run(context.WithoutCancel(ctx), dir, "reset", "-q", "--hard", before)
				return "", sentence(step.UserText(err))
			}
			mine = append(mine, commits[i])
		}
		nums, err := e.changes.pushReverts(ctx, repo.Dir, mine)
		if _, rerr := e.git.Run(context.WithoutCancel(ctx), dir, "reset", "-q", "--hard", before); rerr != nil && err == nil {
			err = rerr
		}
		if err != nil {
			return "", sentence(step.UserText(err))
		}
		for _, n := range nums {
			newChanges = append(newChanges, strconv.Itoa(n))
			if len(req.Approvals) > 0 {
				// The approvals, for reverting, are for the reverts
				// pushed here: their first patchset, nothing uploaded
				// since.
				if req.PatchSets == nil {
					req.PatchSets = map[int]int{}
				}
				req.PatchSets[n] = 1
			}
		}
	}
	e.changes.commentReverted(ctx, changes, commits, newChanges, req.By)
	req.Changes = newChanges
	return e.Start(ctx, req)
}

func (a *changes) commentReverted(ctx context.Context, changes []Change, commits []RevertCommit, newChanges []string, by Person) {
	for _, c := range changes {
		msg := fmt.Sprintf("Reverted by %s with jouncebot; the revert is %s.", by.Name, bot.JoinNames(newChanges))
		if err := a.gerrit.Review(ctx, c.Number, "current", gerrit.ReviewInput{Message: msg}); err != nil {
			a.log.Warn("comment on reverted change", "change", c.Number, "err", err)
		}
	}
}

// revertStage reverts the commits in staging.
type revertStage struct{}

func (revertStage) Name() string { return "revert" }

func (revertStage) Exec(ctx context.Context, j *Job) error {
	e := j.e
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	rv := d.Revert
	if !rv.Local.Done.IsZero() {
		return nil
	}
	for i, r := range d.Repos {
		dir := filepath.Join(j.StagingDir(), r.Dir)
		if r.Before == "" {
			head, err := j.Git().Run(ctx, dir, "rev-parse", "HEAD")
			if err != nil {
				return err
			}
			if err := j.Checkpoint(func(d *Deploy) { d.Repos[i].Before, d.Revert.Local.Started = head, time.Now().UTC() }); err != nil {
				return err
			}
			r.Before = head
		} else if _, err := j.Git().Run(ctx, dir, "reset", "-q", "--hard", r.Before); err != nil {
			return err // interrupted half-way: start this checkout again
		}
		commits := slices.Clone(rv.Commits)
		for k := range commits {
			if commits[k].Repo != r.Dir {
				continue
			}
			if err := e.changes.revertCommit(ctx, dir, &commits[k]); err != nil {
				return err
			}
		}
		head, err := j.Git().Run(ctx, dir, "rev-parse", "HEAD")
		if err != nil {
			return err
		}
		if err := j.Save(func(d *Deploy) {
			for k := range commits {
				if commits[k].Repo == r.Dir {
					d.Revert.Commits[k] = commits[k]
				}
			}
			d.Repos[i].After = head
		}); err != nil {
			return err
		}
		rv.Commits = commits
	}
	if err := j.Save(func(d *Deploy) { d.Revert.Local.Done = time.Now().UTC() }); err != nil {
		return err
	}
	var said []string
	for _, c := range rv.Commits {
		m := ""
		if c.Merge {
			m = " (a merge, against its first parent)"
		}
		said = append(said, fmt.Sprintf("%d (%s)%s", c.Change, step.Short(c.SHA), m))
	}
	j.Say(ctx, EventProgress, bot.T("Reverted in staging, newest first: "+strings.Join(said, ", ")+". Syncing before pushing to Gerrit."))
	return nil
}

// pushRevertStage pushes the synced reverts for review and comments on the
// reverted changes.
type pushRevertStage struct{}

func (pushRevertStage) Name() string { return "push-revert" }

// Effects implements effector.
func (pushRevertStage) Effects(*Options) []string {
	return []string{effectRevertSAL, effectRevertComment}
}

func (pushRevertStage) Exec(ctx context.Context, j *Job) error {
	e := j.e
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	rv := d.Revert
	if rv.Pushed.Done.IsZero() {
		if err := j.Checkpoint(func(d *Deploy) { d.Revert.Pushed.Started = time.Now().UTC() }); err != nil {
			return err
		}
		var all []int
		for _, r := range d.Repos {
			var mine []RevertCommit
			for _, c := range rv.Commits {
				if c.Repo == r.Dir {
					mine = append(mine, c)
				}
			}
			if len(mine) == 0 {
				continue
			}
			// The push is idempotent: Gerrit knows a Change-Id it has seen.
			nums, err := e.changes.pushReverts(ctx, r.Dir, mine)
			if err != nil {
				return err
			}
			all = append(all, nums...)
		}
		if err := j.Save(func(d *Deploy) { d.Revert.New, d.Revert.Pushed.Done = all, time.Now().UTC() }); err != nil {
			return err
		}
		d, _ = j.Deploy()
		rv = d.Revert
	}
	var news []string
	for _, n := range rv.New {
		news = append(news, strconv.Itoa(n))
	}
	// The SAL lines first, and at least once (no Check: after a restart
	// around them they are written again rather than never), as the
	// sync's: the SAL is the record of what production runs. The
	// comments on Gerrit then, at most once.
	if _, err := j.Do(ctx, workflow.Effect{Key: effectRevertSAL,
		Do: func(ctx context.Context) error {
			if !rv.Commented.Started.IsZero() {
				// A record of a jouncebot before this effect: its SAL
				// lines went with the comments.
				return nil
			}
			took := time.Since(d.Created)
			for _, c := range d.Changes {
				n := 0
				if len(rv.New) == 1 {
					n = rv.New[0]
				}
				e.releaser.salLog(ctx, d, sallines.Reverted(sallines.Change{Number: c.Number, Subject: c.Subject, Bugs: c.Bugs}, n, took))
			}
			return nil
		}}); err != nil {
		return err
	}
	if _, err := j.Do(ctx, workflow.Effect{Key: effectRevertComment,
		Do: func(ctx context.Context) error {
			e.changes.commentReverted(ctx, d.Changes, rv.Commits, news, d.By)
			return nil
		},
		// Comments begun before a restart are not written again (at
		// most once).
		Check: func(context.Context) (bool, error) { return true, nil }}); err != nil {
		return err
	}
	t := bot.T(fmt.Sprintf("Pushed the revert of %s for review as ", step.ChangeList(d.Changes)))
	for i, n := range rv.New {
		if i > 0 {
			t = t.Append(bot.T(", "))
		}
		t = t.Append(bot.L(strconv.Itoa(n), e.gerrit.ChangeURL(n)))
	}
	j.Say(ctx, EventProgress, t.Append(bot.T(fmt.Sprintf(" and commented on the reverted change. Staging keeps the local revert until it merges: deploy it next (`deploy %s`).", strings.Join(news, " ")))))
	return nil
}
