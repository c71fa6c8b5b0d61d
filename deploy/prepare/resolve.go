package prepare

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/record"
	"github.com/jouncebot/jouncebot/deploy/step"
)

// Resolver finds out what the changes a request names are, from Gerrit
// and the staging checkouts: each change, where it lands, its
// dependencies, and whether the checkouts are ready for it.
type Resolver struct {
	Gerrit step.Gerrit
	Git    step.Git
	// StagingDir is the staging checkout of the config repository,
	// holding php-<version> checkouts of core.
	StagingDir string
	// ConfigProject and ConfigBranch name the config repository and its
	// deploy branch; CoreProject is MediaWiki core.
	ConfigProject, ConfigBranch, CoreProject string
	Log                                      *slog.Logger
}

// Numbers are the changes' numbers.
func Numbers(cs []record.Change) []int {
	out := make([]int, len(cs))
	for i, c := range cs {
		out[i] = c.Number
	}
	return out
}

// ReposOf lists the staging checkouts the changes land in.
func ReposOf(cs []record.Change) []record.Repo {
	var out []record.Repo
	seen := map[string]bool{}
	for _, c := range cs {
		if seen[c.Repo] {
			continue
		}
		seen[c.Repo] = true
		out = append(out, record.Repo{Dir: c.Repo, Branch: c.Branch})
	}
	slices.SortFunc(out, func(x, y record.Repo) int { return strings.Compare(x.Dir, y.Dir) })
	return out
}

// Problems collects everything wrong with a request, to report at once.
type Problems []string

// Add adds a problem.
func (p *Problems) Add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// Err is the sentence that reports the problems, nil when there are none.
func (p Problems) Err() error {
	switch len(p) {
	case 0:
		return nil
	case 1:
		return step.Sentence(p[0])
	}
	return step.Sentence("Cannot deploy:\n- " + strings.Join(p, "\n- "))
}

// withPrivate adds details for the security destination only to a
// refusal: the public sentence says they were sent.
func withPrivate(err error, private []string) error {
	if err == nil || len(private) == 0 {
		return err
	}
	return &step.Failure{Msg: err.Error(), Private: strings.Join(private, " ")}
}

// Resolve reads every change from Gerrit and checks that the batch is
// deployable: each change open (or merged), ready, on a deployable branch,
// with its dependencies merged or in the batch and no cycles; with strict,
// also that the staging checkouts exist and are clean. Every problem is
// reported in one error. The changes come back in dependency order.
func (a *Resolver) Resolve(ctx context.Context, specs []string, strict bool) ([]record.Change, error) {
	var probs Problems
	var refs []Ref
	for _, s := range specs {
		r, err := ParseChange(s)
		if err != nil {
			probs.Add("%s", err.Error())
			continue
		}
		if msg := r.OtherGerrit(s, a.Gerrit.ChangeURL(r.Number)); msg != "" {
			probs.Add("%s", msg)
			continue
		}
		if !slices.ContainsFunc(refs, func(x Ref) bool { return x.Number == r.Number }) {
			refs = append(refs, r)
		}
	}
	if len(probs) > 0 {
		return nil, probs.Err()
	}
	got := map[int]*gerrit.Change{}
	var out []record.Change
	for _, r := range refs {
		ch, err := a.Gerrit.Change(ctx, r.Number)
		if err != nil {
			if gerrit.IsNotFound(err) {
				probs.Add("Change %d was not found in Gerrit.", r.Number)
				continue
			}
			return nil, step.Sentence(step.UserText(err))
		}
		got[ch.Number] = ch
		c, problem := a.Classify(ch, r)
		if problem != "" {
			probs.Add("%s", problem)
			continue
		}
		out = append(out, c)
	}
	if len(probs) > 0 {
		return nil, probs.Err()
	}
	edges, err := a.dependencies(ctx, got, &probs)
	if err != nil {
		return nil, err
	}
	order, cycle := topoSort(Numbers(out), edges)
	if cycle != nil {
		probs.Add("Changes %s depend on each other in a cycle; the gate can never merge them.", cycleText(cycle))
	}
	var private []string
	if strict {
		private = a.checkStaging(ctx, out, &probs)
		a.checkAlreadyDeployed(ctx, out, &probs)
	}
	if len(probs) > 0 {
		return nil, withPrivate(probs.Err(), private)
	}
	sorted := make([]record.Change, 0, len(out))
	for _, n := range order {
		i := slices.IndexFunc(out, func(c record.Change) bool { return c.Number == n })
		sorted = append(sorted, out[i])
	}
	return sorted, nil
}

// Classify checks one change and says where it lands.
func (a *Resolver) Classify(ch *gerrit.Change, r Ref) (record.Change, string) {
	c := record.Change{Number: ch.Number, Project: ch.Project, Branch: ch.Branch, ChangeID: ch.ChangeID, Subject: ch.PublicSubject(),
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
		n, ch.Project, ch.Branch, a.ConfigProject, a.ConfigBranch, a.CoreProject)
	switch {
	case ch.Project == a.ConfigProject && ch.Branch == a.ConfigBranch:
		c.Kind, c.Repo = record.KindConfig, ""
	case ch.Project == a.CoreProject && isWMF:
		c.Kind, c.Repo = record.KindCore, "php-"+version
	case (strings.HasPrefix(ch.Project, "mediawiki/extensions/") || strings.HasPrefix(ch.Project, "mediawiki/skins/")) && isWMF:
		c.Kind, c.Repo = record.KindSubmodule, "php-"+version
	default:
		return c, notDeployable
	}
	if c.Repo != "" {
		if _, err := os.Stat(filepath.Join(a.StagingDir, c.Repo)); err != nil {
			return c, fmt.Sprintf("Change %d is on %s, which has no %s checkout in staging; it is not deployable to production.", n, ch.Branch, c.Repo)
		}
	}
	if c.Kind == record.KindSubmodule {
		path, ok := SubmodulePath(filepath.Join(a.StagingDir, c.Repo), ch.Project)
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

// SubmodulePath finds where project is checked out in the core checkout
// core, from its .gitmodules: where a change to an extension or skin
// lands (the readiness check asks the same).
func SubmodulePath(core, project string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(core, ".gitmodules"))
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
// merged first; missing dependencies become Problems.
func (a *Resolver) dependencies(ctx context.Context, batch map[int]*gerrit.Change, probs *Problems) (map[int][]int, error) {
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
		chain, err := a.Gerrit.SubmittedTogether(ctx, n)
		if err != nil {
			return nil, step.Sentence(step.UserText(err))
		}
		for _, o := range chain {
			if o.Merged() {
				continue
			}
			if _, in := batch[o.Number]; in {
				edges[n] = append(edges[n], o.Number)
				continue
			}
			probs.Add("Change %d depends on %d (%q), which is not merged; deploy both together: `deploy %d %d`.", n, o.Number, o.PublicSubject(), o.Number, n)
		}
		for _, id := range c.DependsOn {
			if !isChangeID(id) {
				// Never pasted into a query: "I… OR is:merged" would pass.
				probs.Add("Change %d has Depends-On: %q, which is not a Change-Id (I and 40 hex digits); fix the footer in Gerrit.", n, id)
				continue
			}
			if in := byID[id]; len(in) > 0 {
				edges[n] = append(edges[n], in...)
				continue
			}
			found, err := a.Gerrit.Query(ctx, "change:"+id)
			if err != nil {
				return nil, step.Sentence(step.UserText(err))
			}
			switch {
			case len(found) == 0:
				probs.Add("Change %d has Depends-On: %s, which Gerrit does not know.", n, id)
			case !slices.ContainsFunc(found, (*gerrit.Change).Merged):
				probs.Add("Change %d has Depends-On: %s (change %d, %q), which is not merged and not in this deploy.", n, id, found[0].Number, found[0].PublicSubject())
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
