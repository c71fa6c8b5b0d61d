package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
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
	if err := e.judgeStart(ctx, "deploy", &r); err != nil {
		return "", err
	}
	if err := r.check(); err != nil {
		return "", err
	}
	if _, l, err := e.current(); err != nil {
		return "", e.internal("reading the deploy lock", err)
	} else if l != nil {
		return "", lockedError(l)
	}
	changes, err := e.resolve(ctx, r.Changes, true)
	if err != nil {
		e.sayRefusalPrivately(ctx, r, err)
		return "", err
	}
	if err := approvedPatchSets(r, changes); err != nil {
		return "", err
	}
	d := &Deploy{State: stateRunning, Stage: prepare.Vote{}.Name(), By: r.By, InWindow: r.InWindow, Window: r.Window,
		Frozen: r.Frozen, Force: r.Force, Reason: r.Reason, PrepareOnly: r.PrepareOnly, Origin: r.Origin,
		Changes: changes, Repos: reposOf(changes), Created: time.Now().UTC(), Approvals: r.Approvals}
	approvedFor(d)
	if e.needsApproval(r) {
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
	e.sayTx(ctx, d.ID, nil, append([]Event{{Kind: EventStarted, Text: e.startText(d)}}, privateChanges(d, changes)...)...)
	if d.State == stateApproval {
		e.say(ctx, d.ID, EventNeeds, bot.T(fmt.Sprintf("Deploy %s is forced (%s; reason: %s) and needs a second deployer: say `approve %s`, or `abort %s`.",
			d.ID, outsideWhat(d), d.Reason, d.ID, d.ID)))
		return d.ID, nil
	}
	if err := e.enqueue(ctx, d.ID); err != nil {
		return d.ID, e.internal("starting the deploy", err)
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

func numbers(cs []Change) []int {
	out := make([]int, len(cs))
	for i, c := range cs {
		out[i] = c.Number
	}
	return out
}

// reposOf lists the staging checkouts the changes land in.
func reposOf(cs []Change) []Repo {
	var out []Repo
	seen := map[string]bool{}
	for _, c := range cs {
		if seen[c.Repo] {
			continue
		}
		seen[c.Repo] = true
		out = append(out, Repo{Dir: c.Repo, Branch: c.Branch})
	}
	slices.SortFunc(out, func(x, y Repo) int { return strings.Compare(x.Dir, y.Dir) })
	return out
}

// problems collects everything wrong with a request, to report at once.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err() error {
	switch len(p) {
	case 0:
		return nil
	case 1:
		return sentence(p[0])
	}
	return sentence("Cannot deploy:\n- " + strings.Join(p, "\n- "))
}

// withPrivate adds details for the security destination only to a
// refusal: the public sentence says they were sent.
func withPrivate(err error, private []string) error {
	if err == nil || len(private) == 0 {
		return err
	}
	return &Failure{Msg: err.Error(), Private: strings.Join(private, " ")}
}

// resolve reads every change from Gerrit and checks that the batch is
// deployable: each change open (or merged), ready, on a deployable branch,
// with its dependencies merged or in the batch and no cycles; with strict,
// also that the staging checkouts exist and are clean. Every problem is
// reported in one error. The changes come back in dependency order.
func (a *changes) resolve(ctx context.Context, specs []string, strict bool) ([]Change, error) {
	var probs problems
	var refs []prepare.Ref
	for _, s := range specs {
		r, err := prepare.ParseChange(s)
		if err != nil {
			probs.add("%s", err.Error())
			continue
		}
		if msg := r.OtherGerrit(s, a.gerrit.ChangeURL(r.Number)); msg != "" {
			probs.add("%s", msg)
			continue
		}
		if !slices.ContainsFunc(refs, func(x prepare.Ref) bool { return x.Number == r.Number }) {
			refs = append(refs, r)
		}
	}
	if len(probs) > 0 {
		return nil, probs.err()
	}
	got := map[int]*gerrit.Change{}
	var out []Change
	for _, r := range refs {
		ch, err := a.gerrit.Change(ctx, r.Number)
		if err != nil {
			if gerrit.IsNotFound(err) {
				probs.add("Change %d was not found in Gerrit.", r.Number)
				continue
			}
			return nil, sentence(step.UserText(err))
		}
		got[ch.Number] = ch
		c, problem := a.classify(ch, r)
		if problem != "" {
			probs.add("%s", problem)
			continue
		}
		out = append(out, c)
	}
	if len(probs) > 0 {
		return nil, probs.err()
	}
	edges, err := a.dependencies(ctx, got, &probs)
	if err != nil {
		return nil, err
	}
	order, cycle := topoSort(numbers(out), edges)
	if cycle != nil {
		probs.add("Changes %s depend on each other in a cycle; the gate can never merge them.", cycleText(cycle))
	}
	var private []string
	if strict {
		private = a.checkStaging(ctx, out, &probs)
		a.checkAlreadyDeployed(ctx, out, &probs)
	}
	if len(probs) > 0 {
		return nil, withPrivate(probs.err(), private)
	}
	sorted := make([]Change, 0, len(out))
	for _, n := range order {
		i := slices.IndexFunc(out, func(c Change) bool { return c.Number == n })
		sorted = append(sorted, out[i])
	}
	return sorted, nil
}

// classify checks one change and says where it lands.
func (a *changes) classify(ch *gerrit.Change, r prepare.Ref) (Change, string) {
	c := Change{Number: ch.Number, Project: ch.Project, Branch: ch.Branch, ChangeID: ch.ChangeID, Subject: ch.PublicSubject(),
		Owner: ch.Owner.Username, OwnerName: ch.Owner.Display(), Bugs: ch.PublicBugs(), Private: ch.Private, Revision: ch.Revision,
		Maintenance: gerrit.MaintenanceScripts(ch.Message),
		PatchSet:    ch.PatchSet, MergedBefore: ch.Merged(), Merged: ch.Merged()}
	if ch.Private {
		c.PrivateText = fmt.Sprintf("%d is private in Gerrit: %q", ch.Number, ch.Subject)
		if len(ch.Bugs) > 0 {
			c.PrivateText += " (" + strings.Join(ch.Bugs, ", ") + ")"
		}
	}
	n := ch.Number
	switch {
	case r.Project != "" && r.Project != ch.Project:
		return c, fmt.Sprintf("Change %d is in %s, not %s as the link says.", n, ch.Project, r.Project)
	case ch.Status == "ABANDONED":
		return c, fmt.Sprintf("Change %d is abandoned.", n)
	case ch.WIP:
		return c, fmt.Sprintf("Change %d is a work in progress; its owner must mark it ready for review first.", n)
	case r.PatchSet != 0 && r.PatchSet != ch.PatchSet && !ch.Merged():
		return c, fmt.Sprintf("Change %d is at patchset %d, but you asked for patchset %d; look at the newest patchset and deploy that.", n, ch.PatchSet, r.PatchSet)
	}
	for _, v := range ch.Labels["Code-Review"] {
		if v.Value == -2 && !ch.Merged() {
			return c, fmt.Sprintf("Change %d has Code-Review -2 from %s.", n, v.Display())
		}
	}
	if ch.Mergeable != nil && !*ch.Mergeable && !ch.Merged() {
		return c, fmt.Sprintf("Change %d cannot be merged as it is; it needs a rebase.", n)
	}
	version, isWMF := strings.CutPrefix(ch.Branch, "wmf/")
	isWMF = isWMF && wmfVersion.MatchString(version)
	notDeployable := fmt.Sprintf("Change %d (%s, branch %s) is not deployable to production: only %s on %s, %s on a wmf/ branch with a php-<version> checkout in staging, and its extensions and skins are.",
		n, ch.Project, ch.Branch, a.o.ConfigProject, a.o.ConfigBranch, a.o.CoreProject)
	switch {
	case ch.Project == a.o.ConfigProject && ch.Branch == a.o.ConfigBranch:
		c.Kind, c.Repo = KindConfig, ""
	case ch.Project == a.o.CoreProject && isWMF:
		c.Kind, c.Repo = KindCore, "php-"+version
	case (strings.HasPrefix(ch.Project, "mediawiki/extensions/") || strings.HasPrefix(ch.Project, "mediawiki/skins/")) && isWMF:
		c.Kind, c.Repo = KindSubmodule, "php-"+version
	default:
		return c, notDeployable
	}
	if c.Repo != "" {
		if _, err := os.Stat(filepath.Join(a.o.StagingDir, c.Repo)); err != nil {
			return c, fmt.Sprintf("Change %d is on %s, which has no %s checkout in staging; it is not deployable to production.", n, ch.Branch, c.Repo)
		}
	}
	if c.Kind == KindSubmodule {
		path, ok := a.submodulePath(c.Repo, ch.Project)
		if !ok {
			return c, fmt.Sprintf("Change %d is in %s, which is not a submodule of %s; it is not deployable to production.", n, ch.Project, c.Repo)
		}
		c.Submodule = path
	}
	return c, ""
}

// wmfVersion is the version of a wmf/<version> branch, e.g. 1.46.0-wmf.3:
// nothing else may name the php-<version> checkout a change goes to.
var wmfVersion = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+-wmf\.[0-9]+$`)

// submodulePath finds where project is checked out in a core checkout, from
// its .gitmodules.
func (a *changes) submodulePath(repo, project string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(a.o.StagingDir, repo, ".gitmodules"))
	if err != nil {
		return "", false
	}
	var path string
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "path":
			path = v
		case "url":
			if strings.HasSuffix(strings.TrimSuffix(v, ".git"), "/"+project) || strings.TrimSuffix(v, ".git") == project {
				return path, path != ""
			}
		}
	}
	return "", false
}

// dependencies returns, for each change, the changes of the batch it needs
// merged first; missing dependencies become problems.
func (a *changes) dependencies(ctx context.Context, batch map[int]*gerrit.Change, probs *problems) (map[int][]int, error) {
	edges := map[int][]int{}
	byID := map[string][]int{}
	for n, c := range batch {
		byID[c.ChangeID] = append(byID[c.ChangeID], n)
	}
	nums := make([]int, 0, len(batch))
	for n := range batch {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	for _, n := range nums {
		c := batch[n]
		if c.Merged() {
			continue
		}
		chain, err := a.gerrit.SubmittedTogether(ctx, n)
		if err != nil {
			return nil, sentence(step.UserText(err))
		}
		for _, o := range chain {
			if o.Merged() {
				continue
			}
			if _, in := batch[o.Number]; in {
				edges[n] = append(edges[n], o.Number)
				continue
			}
			probs.add("Change %d depends on %d (%q), which is not merged; deploy both together: `deploy %d %d`.", n, o.Number, o.PublicSubject(), o.Number, n)
		}
		for _, id := range c.DependsOn {
			if !prepare.IsChangeID(id) {
				// Never pasted into a query: "I… OR is:merged" would pass.
				probs.add("Change %d has Depends-On: %q, which is not a Change-Id (I and 40 hex digits); fix the footer in Gerrit.", n, id)
				continue
			}
			if in := byID[id]; len(in) > 0 {
				edges[n] = append(edges[n], in...)
				continue
			}
			found, err := a.gerrit.Query(ctx, "change:"+id)
			if err != nil {
				return nil, sentence(step.UserText(err))
			}
			switch {
			case len(found) == 0:
				probs.add("Change %d has Depends-On: %s, which Gerrit does not know.", n, id)
			case !slices.ContainsFunc(found, (*gerrit.Change).Merged):
				probs.add("Change %d has Depends-On: %s (change %d, %q), which is not merged and not in this deploy.", n, id, found[0].Number, found[0].PublicSubject())
			}
		}
	}
	return edges, nil
}

// topoSort orders nums so that dependencies come first. On a cycle it
// returns the cycle.
func topoSort(nums []int, edges map[int][]int) ([]int, []int) {
	const (
		white = iota
		grey
		black
	)
	color := map[int]int{}
	var order, stack, cycle []int
	var visit func(n int) bool
	visit = func(n int) bool {
		color[n] = grey
		stack = append(stack, n)
		for _, m := range edges[n] {
			switch color[m] {
			case grey:
				i := slices.Index(stack, m)
				cycle = append(append([]int(nil), stack[i:]...), m)
				return false
			case white:
				if !visit(m) {
					return false
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		order = append(order, n)
		return true
	}
	for _, n := range nums {
		if color[n] == white && !visit(n) {
			return nil, cycle
		}
	}
	return order, nil
}

func cycleText(c []int) string {
	s := make([]string, len(c))
	for i, n := range c {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, " → ")
}

// checkStaging makes sure each staging checkout exists, is on its branch
// and is clean; it returns the details for the security destination only
// (the uncommitted changes).
func (a *changes) checkStaging(ctx context.Context, cs []Change, probs *problems) (private []string) {
	if st, err := os.Stat(a.o.StagingDir); err != nil || !st.IsDir() {
		probs.add("The staging directory %s does not exist; nothing was done.", a.o.StagingDir)
		return
	}
	for _, r := range reposOf(cs) {
		dir := filepath.Join(a.o.StagingDir, r.Dir)
		name := step.RepoName(r.Dir)
		branch, err := a.git.Run(ctx, dir, "rev-parse", "--abbrev-ref", "HEAD")
		if err != nil {
			// git's words name paths in the checkout, a security
			// patch's among them: only for the security destination.
			private = append(private, fmt.Sprintf("git could not read the checkout %s: %s.", name, prepare.GitWords(err)))
			probs.add("The checkout %s is not a git checkout (%s); nothing was done.", name, a.securityWhere("git's words"))
			continue
		}
		if branch != r.Branch {
			probs.add("The checkout %s is on %s, not %s; nothing was done.", name, branch, r.Branch)
		}
		st, err := a.git.Run(ctx, dir, "status", "--porcelain")
		if err != nil {
			private = append(private, fmt.Sprintf("git status failed in the checkout %s: %s.", name, prepare.GitWords(err)))
			probs.add("Cannot read the state of staging %s (%s); have a look at it by hand. Nothing was done.", name, a.securityWhere("git's words"))
			continue
		}
		if st != "" {
			// Uncommitted changes may be an unfixed vulnerability's fix:
			// the list goes only to the security destination.
			private = append(private, fmt.Sprintf("The checkout %s has uncommitted changes: %s.", name, prepare.StatusSummary(st)))
			probs.add("The checkout %s has uncommitted changes (%s); clean it up before deploying. Nothing was done.", name,
				bot.Count(len(strings.Split(st, "\n")), "file")+"; "+a.securityWhere("the list"))
		}
	}
	return private
}

// takeLock gives d its id and stores it together with the deploy lock and
// an audit record, in one transaction. When someone else holds the lock it
// returns the sentence saying who and why.
func (e *Engine) takeLock(d *Deploy, reason, auditText string) error {
	var held *Lock
	err := e.db.Update(func(tx *bolt.Tx) error {
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
		l = &Lock{Deploy: d.ID, Holder: d.By.Name, Changes: numbers(d.Changes), Since: d.Created, Reason: reason}
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
		return e.internal("taking the deploy lock", err)
	}
	if held != nil {
		return lockedError(held)
	}
	return nil
}
