package readiness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/git"
)

// mergeJob is one patch to merge dry into the staging directory dir.
type mergeJob struct {
	change int
	ch     *gerrit.Change
	dir    string
}

type mergeResult struct {
	merge Merge
	files []string
}

// dryMerges merges the patches, grouped by staging directory and in queue
// order, each onto staging's HEAD and onto the patches before it. Nothing
// in staging changes: each directory gets a throwaway bare repository that
// borrows its objects (objects/info/alternates), fetches the patches from
// Gerrit into itself, and merges with git merge-tree, which needs no
// working tree.
func (g *Gatherer) dryMerges(ctx context.Context, jobs []mergeJob) map[int]mergeResult {
	out := map[int]mergeResult{}
	var order []string
	groups := map[string][]mergeJob{}
	for _, j := range jobs {
		if _, ok := groups[j.dir]; !ok {
			order = append(order, j.dir)
		}
		groups[j.dir] = append(groups[j.dir], j)
	}
	tmp, err := os.MkdirTemp(g.TempDir, "jouncebot-readiness-*")
	if err != nil {
		g.Log.Error("readiness: temp dir", "err", err)
		return out
	}
	defer os.RemoveAll(tmp)
	for i, dir := range order {
		d := &dryRepo{g: g, dir: dir, tmp: filepath.Join(tmp, fmt.Sprint(i))}
		if err := d.merge(ctx, groups[dir], out); err != nil {
			g.Log.Warn("readiness: dry merge", "dir", dir, "err", err)
			for _, j := range groups[dir] {
				if _, done := out[j.change]; !done {
					out[j.change] = mergeResult{merge: Merge{Err: err.Error(), Timeout: timedOut(j.change, err)}}
				}
			}
		}
	}
	return out
}

// dryRepo is the throwaway repository for one staging directory.
type dryRepo struct {
	g        *Gatherer
	dir, tmp string
	head     string // staging's HEAD, with its local patches
	// upstream is the branch as staging has it, without the local
	// patches: refs/remotes/origin/<branch>, else where HEAD leaves the
	// branch in Gerrit; "" when neither can tell.
	upstream string
	local    []string // subjects of the local (security) patches
	// private are the paths the local patches and the uncommitted
	// changes touch: never named in public.
	private map[string]bool
	// dirty is git status of the uncommitted changes ("" when clean).
	dirty string
}

func (d *dryRepo) run(ctx context.Context, args ...string) (string, error) {
	return d.g.git(ctx, d.tmp, args...)
}

// setup reads staging (read-only commands) and makes the throwaway repository.
func (d *dryRepo) setup(ctx context.Context) (gitDir string, err error) {
	if gitDir, err = d.g.git(ctx, d.dir, "rev-parse", "--path-format=absolute", "--git-common-dir"); err != nil {
		return "", err
	}
	if d.head, err = d.g.git(ctx, d.dir, "rev-parse", "--verify", "HEAD^{commit}"); err != nil {
		return "", err
	}
	// --no-optional-locks: status must not refresh staging's index.
	if d.dirty, err = d.g.git(ctx, d.dir, "--no-optional-locks", "status", "--porcelain"); err != nil {
		return "", err
	}
	d.private = map[string]bool{}
	for _, l := range splitLines(d.dirty) {
		if len(l) > 3 {
			for _, p := range strings.Split(l[3:], " -> ") {
				d.private[strings.Trim(p, `"`)] = true
			}
		}
	}
	if _, err := d.g.git(ctx, filepath.Dir(d.tmp), "init", "-q", "--bare", d.tmp); err != nil {
		return "", err
	}
	alt := filepath.Join(d.tmp, "objects", "info", "alternates")
	if err := os.WriteFile(alt, []byte(filepath.Join(gitDir, "objects")+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("readiness: alternates: %w", err)
	}
	// A ref to what staging has, so the fetch sends only the patches.
	if _, err := d.run(ctx, "update-ref", "refs/staging/head", d.head); err != nil {
		return "", err
	}
	return gitDir, nil
}

// findUpstream finds the branch as staging has it and what the local
// patches are: commits in staging that are not upstream. gerritTip is the
// branch in Gerrit ("" when it could not be fetched).
func (d *dryRepo) findUpstream(ctx context.Context, branch, gerritTip string) error {
	if up, err := d.g.git(ctx, d.dir, "rev-parse", "--verify", "-q", "refs/remotes/origin/"+branch+"^{commit}"); err == nil && up != "" {
		d.upstream = up
	} else if gerritTip != "" {
		if base, err := d.run(ctx, "merge-base", d.head, gerritTip); err == nil {
			d.upstream = base
		}
	}
	if d.upstream == "" {
		return nil
	}
	if _, err := d.run(ctx, "update-ref", "refs/staging/upstream", d.upstream); err != nil {
		return err
	}
	subjects, err := d.run(ctx, "log", "--format=%s", d.head, "^"+d.upstream)
	if err != nil {
		return err
	}
	d.local = splitLines(subjects)
	files, err := d.run(ctx, "diff", "--name-only", "--no-renames", d.upstream, d.head)
	if err != nil {
		return err
	}
	for _, f := range splitLines(files) {
		d.private[f] = true
	}
	return nil
}

func changeRef(n, ps int) string { return fmt.Sprintf("refs/changes/%02d/%d/%d", n%100, n, ps) }

// merge merges the jobs of one directory, in order, and records results.
func (d *dryRepo) merge(ctx context.Context, jobs []mergeJob, out map[int]mergeResult) error {
	if _, err := d.setup(ctx); err != nil {
		return err
	}
	url, err := d.remote(ctx, jobs[0].ch.Project)
	if err != nil {
		return err
	}
	branch := jobs[0].ch.Branch
	args := []string{"fetch", "-q", "--no-tags", "--no-write-fetch-head", url}
	for _, j := range jobs {
		ref := changeRef(j.change, j.ch.PatchSet)
		args = append(args, "+"+ref+":"+ref)
	}
	// The branch too: without refs/remotes/origin/<branch> in staging, it
	// tells the local patches from upstream.
	args = append(args, "+refs/heads/"+branch+":refs/gerrit/branch")
	d.g.step(ctx, "fetching "+strings.Join(changeNumbers(jobs), ", ")+" from "+jobs[0].ch.Project)
	if _, err := d.run(ctx, args...); err != nil {
		return err
	}
	tip, _ := d.run(ctx, "rev-parse", "--verify", "-q", "refs/gerrit/branch^{commit}")
	if err := d.findUpstream(ctx, branch, tip); err != nil {
		return err
	}
	d.g.step(ctx, "merging "+strings.Join(changeNumbers(jobs), ", ")+" in "+d.name())
	type applied struct {
		change int
		alone  string // HEAD with only this patch merged
	}
	var done []applied
	cum := d.head
	for _, j := range jobs {
		rev := j.ch.Revision
		files, err := d.run(ctx, "diff-tree", "-r", "--name-only", "--no-commit-id", rev)
		if err != nil {
			return err
		}
		res := mergeResult{files: splitLines(files), merge: Merge{Checked: true}}
		if d.dirty != "" {
			res.merge.Dirty = d.name()
			res.merge.DirtyPrivate = fmt.Sprintf("The checkout %s has uncommitted changes: %s.", d.name(), strings.Join(splitLines(d.dirty), ", "))
		}
		tree, conflicts, err := d.mergeTree(ctx, d.head, rev)
		switch {
		case err != nil:
			return err
		case conflicts != nil:
			if err := d.classify(ctx, j, rev, conflicts, &res.merge); err != nil {
				return err
			}
		default:
			alone, err := d.commit(ctx, tree, d.head, rev)
			if err != nil {
				return err
			}
			ctree, cconf, err := d.mergeTree(ctx, cum, rev)
			if err != nil {
				return err
			}
			if cconf == nil {
				if cum, err = d.commit(ctx, ctree, cum, rev); err != nil {
					return err
				}
				done = append(done, applied{j.change, alone})
				break
			}
			res.merge.Conflict, res.merge.Files = "queue", d.public(cconf)
			for _, a := range done {
				if _, c, err := d.mergeTree(ctx, a.alone, rev); err == nil && c != nil {
					res.merge.With, res.merge.Files = a.change, d.public(c)
					break
				}
			}
		}
		out[j.change] = res
	}
	return nil
}

// classify says what a patch that does not merge onto staging's HEAD
// conflicts with. A conflict in a path a local patch or an uncommitted
// change touches, one that goes away without the local patches, and any
// conflict when upstream cannot be told from the local patches, is a
// security conflict: its files are named only in the private details.
// Conflicts with upstream alone are named in public.
func (d *dryRepo) classify(ctx context.Context, j mergeJob, rev string, conflicts []string, m *Merge) error {
	var upConflicts []string
	if d.upstream != "" && d.upstream != d.head {
		_, c, err := d.mergeTree(ctx, d.upstream, rev)
		if err != nil {
			return err
		}
		upConflicts = c
	} else if d.upstream != "" {
		upConflicts = conflicts
	}
	secret := d.upstream == "" || (upConflicts == nil && len(d.local) > 0)
	for _, f := range conflicts {
		secret = secret || d.private[f]
	}
	if !secret {
		m.Conflict, m.Files = "upstream", conflicts
		return nil
	}
	m.Conflict = "security"
	m.Files = d.public(upConflicts) // upstream's own conflicts, said in public
	what := "the local security patch " + quoteAll(d.local)
	switch {
	case d.upstream == "":
		what = "the branch in staging, where the local security patches could not be told from upstream (no refs/remotes/origin/" + j.ch.Branch + " and Gerrit's branch could not be read)"
	case len(d.local) == 0:
		what = "uncommitted changes"
	case len(d.local) > 1:
		what = "the local security patches " + quoteAll(d.local)
	}
	m.Private = fmt.Sprintf("Change %d conflicts with %s in %s (%s).", j.change, what, d.name(), strings.Join(conflicts, ", "))
	return nil
}

// public drops the paths that are private from a list of files.
func (d *dryRepo) public(files []string) []string {
	var out []string
	for _, f := range files {
		if !d.private[f] {
			out = append(out, f)
		}
	}
	return out
}

func changeNumbers(jobs []mergeJob) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = fmt.Sprint(j.change)
	}
	return out
}

// remote is where the patches are fetched from: GitURL, else the staging
// directory's origin, the remote the deploy fetches from.
func (d *dryRepo) remote(ctx context.Context, project string) (string, error) {
	if d.g.GitURL != nil {
		return d.g.GitURL(project), nil
	}
	return d.g.git(ctx, d.dir, "remote", "get-url", "origin")
}

// name is the staging directory as people know it: "staging/php-1.46.0-wmf.3".
func (d *dryRepo) name() string {
	rel, err := filepath.Rel(filepath.Dir(d.g.Staging), d.dir)
	if err != nil {
		return d.dir
	}
	return rel
}

// mergeTree merges b into a without a working tree; conflicts lists the
// conflicted paths (nil when it merges cleanly).
func (d *dryRepo) mergeTree(ctx context.Context, a, b string) (tree string, conflicts []string, err error) {
	outp, err := d.run(ctx, "merge-tree", "--write-tree", "--name-only", "--no-messages", a, b)
	if err == nil {
		return strings.TrimSpace(outp), nil, nil
	}
	var ge *git.Error
	var ee *exec.ExitError
	if errors.As(err, &ge) && errors.As(err, &ee) && ee.ExitCode() == 1 {
		lines := splitLines(ge.Stdout)
		if len(lines) > 1 {
			return lines[0], lines[1:], nil
		}
		return "", []string{"(unknown files)"}, nil
	}
	return "", nil, err
}

func (d *dryRepo) commit(ctx context.Context, tree, p1, p2 string) (string, error) {
	return d.run(ctx, "-c", "user.name=jouncebot", "-c", "user.email=jouncebot@localhost",
		"commit-tree", tree, "-p", p1, "-p", p2, "-m", "readiness dry merge")
}

func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
