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
					out[j.change] = mergeResult{merge: Merge{Err: err.Error()}}
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
	head     string   // staging's HEAD, with its local patches
	upstream string   // the branch as staging fetched it, without them
	local    []string // subjects of the local (security) patches
}

func (d *dryRepo) run(ctx context.Context, args ...string) (string, error) {
	return d.g.Git.Run(ctx, d.tmp, args...)
}

// setup reads staging (read-only commands) and makes the throwaway repository.
func (d *dryRepo) setup(ctx context.Context, branch string) error {
	gitDir, err := d.g.Git.Run(ctx, d.dir, "rev-parse", "--path-format=absolute", "--git-common-dir")
	if err != nil {
		return err
	}
	if d.head, err = d.g.Git.Run(ctx, d.dir, "rev-parse", "--verify", "HEAD^{commit}"); err != nil {
		return err
	}
	d.upstream = d.head
	if up, err := d.g.Git.Run(ctx, d.dir, "rev-parse", "--verify", "-q", "refs/remotes/origin/"+branch+"^{commit}"); err == nil && up != "" {
		d.upstream = up
		subjects, err := d.g.Git.Run(ctx, d.dir, "log", "--format=%s", d.head, "^"+up)
		if err != nil {
			return err
		}
		if subjects != "" {
			d.local = strings.Split(subjects, "\n")
		}
	}
	if _, err := d.g.Git.Run(ctx, filepath.Dir(d.tmp), "init", "-q", "--bare", d.tmp); err != nil {
		return err
	}
	alt := filepath.Join(d.tmp, "objects", "info", "alternates")
	if err := os.WriteFile(alt, []byte(filepath.Join(gitDir, "objects")+"\n"), 0o644); err != nil {
		return fmt.Errorf("readiness: alternates: %w", err)
	}
	// Refs to what staging has, so the fetch sends only the patches.
	for ref, sha := range map[string]string{"refs/staging/head": d.head, "refs/staging/upstream": d.upstream} {
		if _, err := d.run(ctx, "update-ref", ref, sha); err != nil {
			return err
		}
	}
	return nil
}

func changeRef(n, ps int) string { return fmt.Sprintf("refs/changes/%02d/%d/%d", n%100, n, ps) }

// merge merges the jobs of one directory, in order, and records results.
func (d *dryRepo) merge(ctx context.Context, jobs []mergeJob, out map[int]mergeResult) error {
	if err := d.setup(ctx, jobs[0].ch.Branch); err != nil {
		return err
	}
	url, err := d.remote(ctx, jobs[0].ch.Project)
	if err != nil {
		return err
	}
	args := []string{"fetch", "-q", "--no-tags", "--no-write-fetch-head", url}
	for _, j := range jobs {
		ref := changeRef(j.change, j.ch.PatchSet)
		args = append(args, "+"+ref+":"+ref)
	}
	if _, err := d.run(ctx, args...); err != nil {
		return err
	}
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
		tree, conflicts, err := d.mergeTree(ctx, d.head, rev)
		switch {
		case err != nil:
			return err
		case conflicts != nil:
			res.merge.Files = conflicts
			_, upConflicts, err := d.mergeTree(ctx, d.upstream, rev)
			if err != nil {
				return err
			}
			if upConflicts == nil && len(d.local) > 0 {
				res.merge.Conflict = "security"
				res.merge.Private = fmt.Sprintf("Change %d conflicts with the local security patch %s in %s (%s).",
					j.change, quoteAll(d.local), d.name(), strings.Join(conflicts, ", "))
			} else {
				res.merge.Conflict = "upstream"
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
			res.merge.Conflict, res.merge.Files = "queue", cconf
			for _, a := range done {
				if _, c, err := d.mergeTree(ctx, a.alone, rev); err == nil && c != nil {
					res.merge.With, res.merge.Files = a.change, c
					break
				}
			}
		}
		out[j.change] = res
	}
	return nil
}

// remote is where the patches are fetched from: GitURL, else the staging
// directory's origin, the remote the deploy fetches from.
func (d *dryRepo) remote(ctx context.Context, project string) (string, error) {
	if d.g.GitURL != nil {
		return d.g.GitURL(project), nil
	}
	return d.g.Git.Run(ctx, d.dir, "remote", "get-url", "origin")
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
