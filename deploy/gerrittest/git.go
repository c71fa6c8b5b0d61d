package gerrittest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// GitEnv is the environment every git command started by this package gets:
// no user or system configuration, no prompts, a fixed locale.
func GitEnv() []string {
	return append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C",
		"GIT_AUTHOR_NAME=Gerrit Code Review", "GIT_AUTHOR_EMAIL=gerrit@example.org",
		"GIT_COMMITTER_NAME=Gerrit Code Review", "GIT_COMMITTER_EMAIL=gerrit@example.org")
}

// git runs git in dir with extra environment and returns trimmed stdout.
func git(dir string, env []string, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(GitEnv(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(out.String()), fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// repo is one bare repository on the server.
type repo struct {
	dir string
}

func (r repo) git(env []string, stdin string, args ...string) (string, error) {
	return git(r.dir, append([]string{"GIT_DIR=" + r.dir}, env...), stdin, args...)
}

func (r repo) resolve(ref string) string {
	out, err := r.git(nil, "", "rev-parse", "--verify", "-q", ref+"^{commit}")
	if err != nil {
		return ""
	}
	return out
}

func (r repo) updateRef(ref, sha string) error {
	_, err := r.git(nil, "", "update-ref", ref, sha)
	return err
}

// File is one file in a commit. Mode 160000 with Content a commit id makes a
// submodule pointer (gitlink); Delete removes the path.
type File struct {
	Path    string
	Content string
	Mode    string // default 100644
	Delete  bool
}

// Person is the author of a commit.
type Person struct{ Name, Email string }

// commit writes a commit whose tree is parent's tree with files applied.
func (r repo) commit(parent string, files []File, msg string, author Person, when time.Time) (string, error) {
	idx, err := os.CreateTemp("", "gerrittest-index-*")
	if err != nil {
		return "", err
	}
	idx.Close()
	os.Remove(idx.Name())
	defer os.Remove(idx.Name())
	env := []string{"GIT_INDEX_FILE=" + idx.Name()}
	if parent != "" {
		if _, err := r.git(env, "", "read-tree", parent); err != nil {
			return "", err
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	for _, f := range files {
		if f.Delete {
			// --force-remove needs a work tree; mode 0 removes the
			// entry from the index alone, as a bare repository needs.
			if _, err := r.git(env, "0 "+strings.Repeat("0", 40)+"\t"+f.Path+"\x00", "update-index", "-z", "--index-info"); err != nil {
				return "", err
			}
			continue
		}
		mode, obj := f.Mode, f.Content
		if mode == "" {
			mode = "100644"
		}
		if mode != "160000" {
			if obj, err = r.git(nil, f.Content, "hash-object", "-w", "--stdin"); err != nil {
				return "", err
			}
		}
		if _, err := r.git(env, "", "update-index", "--add", "--cacheinfo", mode+","+obj+","+f.Path); err != nil {
			return "", err
		}
	}
	tree, err := r.git(env, "", "write-tree")
	if err != nil {
		return "", err
	}
	return r.commitTree(tree, parent, msg, author, when)
}

func (r repo) commitTree(tree, parent, msg string, author Person, when time.Time) (string, error) {
	date := fmt.Sprintf("%d +0000", when.Unix())
	env := []string{"GIT_AUTHOR_NAME=" + author.Name, "GIT_AUTHOR_EMAIL=" + author.Email, "GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date}
	args := []string{"commit-tree", tree}
	if parent != "" {
		args = append(args, "-p", parent)
	}
	return r.git(env, msg, args...)
}

// cherryPick applies commit onto base (as Gerrit's "rebase if necessary"
// does) and returns the new commit, or ok=false on a conflict.
func (r repo) cherryPick(commit, base string, when time.Time) (string, bool, error) {
	// A real merge of base and commit: their merge base is the change's
	// parent (an ancestor of base), so this is the cherry-pick. Git 2.39
	// has no merge-tree --merge-base.
	tree, err := r.git(nil, "", "merge-tree", "--write-tree", base, commit)
	if err != nil {
		return "", false, nil // merge-tree exits 1 on conflicts
	}
	tree, _, _ = strings.Cut(tree, "\n")
	info, err := r.git(nil, "", "log", "-1", "--format=%an%x00%ae%x00%B", commit)
	if err != nil {
		return "", false, err
	}
	parts := strings.SplitN(info, "\x00", 3)
	sha, err := r.commitTree(tree, base, parts[2]+"\n", Person{parts[0], parts[1]}, when)
	return sha, err == nil, err
}

// mergeable reports whether commit applies cleanly on base.
func (r repo) mergeable(commit, base string) bool {
	if base == "" {
		return true
	}
	// A real merge, so a change on top of another open change (a relation
	// chain) is judged with its ancestors, as Gerrit does.
	_, err := r.git(nil, "", "merge-tree", "--write-tree", base, commit)
	return err == nil
}

// readFile returns the content of path at rev.
func (r repo) readFile(rev, path string) (string, error) {
	return r.git(nil, "", "show", rev+":"+path)
}

func initBare(dir string) (repo, error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return repo{}, err
	}
	if _, err := git(filepath.Dir(dir), nil, "", "init", "-q", "--bare", "-b", "master", dir); err != nil {
		return repo{}, err
	}
	r := repo{dir: dir}
	// Let clients fetch any sha (submodule updates fetch by commit id).
	if _, err := r.git(nil, "", "config", "uploadpack.allowAnySHA1InWant", "true"); err != nil {
		return repo{}, err
	}
	return r, nil
}

// Check reports whether the git this package needs is installed: git 2.38
// or newer (for merge-tree --write-tree) with git-http-backend.
func Check() error {
	out, err := git("", nil, "", "version")
	if err != nil {
		return fmt.Errorf("git is not installed (scripts/install/git.sh installs it): %w", err)
	}
	var major, minor int
	if _, err := fmt.Sscanf(out, "git version %d.%d", &major, &minor); err != nil || major < 2 || (major == 2 && minor < 38) {
		return fmt.Errorf("%s is too old; gerrittest needs git 2.38 or newer", out)
	}
	if _, err := os.Stat(httpBackend()); err != nil {
		return fmt.Errorf("git-http-backend is missing: %w", err)
	}
	return nil
}

// httpBackend is the path of git-http-backend, found through git itself.
func httpBackend() string {
	dir, err := git("", nil, "", "--exec-path")
	if err != nil || dir == "" {
		dir = "/usr/lib/git-core"
	}
	return filepath.Join(dir, "git-http-backend")
}
