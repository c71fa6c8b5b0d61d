// Package release freezes the tree a deploy ships into an immutable
// release on the deployment host, and keeps the last few to roll back to.
// It is a deploy's release place: its steps (Snapshot, Freeze, steps.go)
// freeze the tree the hosts hold before the update and the release to
// deploy after it.
//
// A release is built from git objects, not from the staging checkout's
// working tree: its manifest lists every file of the config checkout, of
// each php-<version> checkout and of their submodules, at given commits,
// with mode and git object id, plus the untracked files the Store is told
// to freeze (private settings, l10n caches), hashed the way git hashes a
// blob; the release id is a hash of that manifest. Tracked files are
// written from the object database (git cat-file --batch), a file already
// present in the release it is built against is hard linked from it, so a
// release of a 20,000-file tree costs little more than the files that
// changed. Modes come from the manifest, never from the umask. An edit in
// staging after the freeze cannot reach a release:
//
//	s := &release.Store{Dir: "/srv/jouncebot/releases", Keep: 3, Untracked: []string{"private/"}}
//	m, _ := release.Read(ctx, "/srv/mediawiki-staging", nil) // HEAD of every checkout
//	r, _ := s.Freeze(ctx, staging, m, base)                  // base: a release to link from, or nil
//	st.Method = &release.Marked{Method: rsync, Release: r, Store: s, FileLimit: 100}
//
// A release is complete once its completion record is written, last; a
// directory without one (a freeze or a prune cut short) is removed the
// first time the Store is used. Each release's tree carries the host
// marker (hostsync.MarkerName and hostsync.ClaimDir): a host holds the
// release exactly when its marker names it. Marked delivers a release to
// a host in one transfer, marker included, sending only what differs from
// the release the host is known to hold.
package release

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/step"
)

// Entry is one file of a release.
type Entry struct {
	Path   string // slash-separated, relative to the tree
	Mode   string // git's mode: 100644, 100755 or 120000 (a symlink)
	Object string // git blob id
	// Repo is the checkout the object is read from, relative to staging.
	Repo string `json:",omitempty"`
	// Untracked is a file git does not track (Store.Untracked), copied
	// from staging's working tree; Object is its git blob hash.
	Untracked bool `json:",omitempty"`
}

// Manifest is a release's files, sorted by path, and the commits they come
// from.
type Manifest struct {
	Entries []Entry
	// Commits are the commits frozen, by checkout (relative to staging).
	Commits map[string]string
}

// ID is the release's content hash: the same files with the same modes
// give the same id, whatever checkouts they came from.
func (m *Manifest) ID() string {
	h := sha256.New()
	for _, e := range m.Entries {
		fmt.Fprintf(h, "%s %s %s\x00", e.Mode, e.Object, e.Path)
	}
	return hex.EncodeToString(h.Sum(nil))[:20]
}

// Diff lists the paths whose content or mode differ between a and b,
// including paths present in only one of them, sorted. A nil a means
// everything differs: Diff returns nil (the whole tree).
func Diff(a, b *Manifest) []string {
	if a == nil || b == nil {
		return nil
	}
	out := []string{}
	i, j := 0, 0
	for i < len(a.Entries) || j < len(b.Entries) {
		switch {
		case j == len(b.Entries) || (i < len(a.Entries) && a.Entries[i].Path < b.Entries[j].Path):
			out = append(out, a.Entries[i].Path)
			i++
		case i == len(a.Entries) || b.Entries[j].Path < a.Entries[i].Path:
			out = append(out, b.Entries[j].Path)
			j++
		default:
			if a.Entries[i].Mode != b.Entries[j].Mode || a.Entries[i].Object != b.Entries[j].Object {
				out = append(out, a.Entries[i].Path)
			}
			i, j = i+1, j+1
		}
	}
	return out
}

// Read builds the manifest of the staging tree: the checkout at staging
// and every top-level directory of it that is a git checkout of its own
// (php-<version>), each at the commit revs names for it (relative
// directory → commit; HEAD when absent), with their submodules at the
// commits their superproject records.
func Read(ctx context.Context, staging string, revs map[string]string) (*Manifest, error) {
	repos := []string{""}
	entries, err := os.ReadDir(staging)
	if err != nil {
		return nil, fmt.Errorf("release: read staging: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() && e.Name() != ".git" && exists(filepath.Join(staging, e.Name(), ".git")) {
			repos = append(repos, e.Name())
		}
	}
	m := &Manifest{Commits: map[string]string{}}
	for _, r := range repos {
		if _, ok := m.Commits[r]; ok {
			continue // a submodule of the config checkout, read with it
		}
		rev := revs[r]
		if rev == "" {
			rev = "HEAD"
		}
		sha, err := gitOut(ctx, filepath.Join(staging, r), "rev-parse", "--verify", "-q", rev+"^{commit}")
		if err != nil {
			return nil, fmt.Errorf("release: checkout %s has no commit %s: %w", step.RepoName(r), rev, err)
		}
		sha = strings.TrimSpace(sha)
		m.Commits[r] = sha
		if err := m.add(ctx, staging, r, sha); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(m.Entries, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	return m, nil
}

// add lists the files of the checkout repo (relative to staging) at
// commit, recursing into submodules.
func (m *Manifest) add(ctx context.Context, staging, repo, commit string) error {
	out, err := gitOut(ctx, filepath.Join(staging, repo), "ls-tree", "-r", "-z", "--full-tree", commit)
	if err != nil {
		return fmt.Errorf("release: list %s at %s: %w", step.RepoName(repo), commit, err)
	}
	for _, rec := range strings.Split(out, "\x00") {
		meta, p, ok := strings.Cut(rec, "\t")
		if !ok {
			continue
		}
		f := strings.Fields(meta)
		if len(f) != 3 {
			return fmt.Errorf("release: unexpected ls-tree line %q", rec)
		}
		full := path.Join(repo, p)
		switch f[1] {
		case "blob":
			m.Entries = append(m.Entries, Entry{Path: full, Mode: f[0], Object: f[2], Repo: repo})
		case "commit":
			if err := m.add(ctx, staging, full, f[2]); err != nil {
				return fmt.Errorf("release: submodule %s: %w", full, err)
			}
			m.Commits[full] = f[2]
		}
	}
	return nil
}

// Release is a frozen tree on the deployment host.
type Release struct {
	ID       string
	Dir      string
	Manifest *Manifest
}

// Tree is the directory holding the release's files, the source of every
// sync.
func (r *Release) Tree() string { return filepath.Join(r.Dir, "tree") }

// MarkerName is the link on each host that names the release it holds
// (see hostsync.MarkerName for the whole marker).
const MarkerName = hostsync.MarkerName

// markerPaths are the marker's entries in a release tree.
var markerPaths = []string{hostsync.MarkerName, hostsync.ClaimDir}

// completeName is the completion record, written last into a release.
const completeName = "complete"

// Store keeps releases in a directory, one subdirectory per release id.
type Store struct {
	Dir string
	// Keep is how many releases are kept besides those in use (default 3).
	Keep int
	// Untracked are path patterns of staging that git does not track but
	// every release freezes (config's deploy.sync.untracked).
	Untracked []string

	clean sync.Once
	mu    sync.Mutex
	open  map[string]*Release // releases opened, by id (they never change)
	held  heldLog             // what each host holds (see Held)
}

// tidy removes, once, what a crash left: directories of freezes cut
// short and releases without their completion record (a release of the
// format from before completion records is upgraded instead, see
// upgrade).
func (s *Store) tidy() {
	s.clean.Do(func() {
		entries, err := os.ReadDir(s.Dir)
		if err != nil {
			return
		}
		for _, e := range entries {
			name := e.Name()
			switch {
			case !e.IsDir():
			case strings.HasPrefix(name, ".new-"):
				os.RemoveAll(filepath.Join(s.Dir, name))
			case validID(name) && !exists(filepath.Join(s.Dir, name, completeName)):
				// A release of the format from before completion
				// records is kept once its tree checks out; anything
				// else is a freeze or a prune cut short.
				if err := upgrade(filepath.Join(s.Dir, name), name); err != nil {
					os.RemoveAll(filepath.Join(s.Dir, name))
				}
			}
		}
	})
}

// Open returns the kept release id.
func (s *Store) Open(id string) (*Release, error) {
	if !validID(id) {
		return nil, fmt.Errorf("release: bad id %q", id)
	}
	s.tidy()
	dir := filepath.Join(s.Dir, id)
	if _, err := os.Stat(filepath.Join(dir, completeName)); err != nil {
		return nil, fmt.Errorf("release %s is not complete: %w", id, err)
	}
	s.mu.Lock()
	r := s.open[id]
	s.mu.Unlock()
	if r != nil {
		return r, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", id, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("release %s: manifest: %w", id, err)
	}
	r = &Release{ID: id, Dir: dir, Manifest: &m}
	s.mu.Lock()
	if s.open == nil {
		s.open = map[string]*Release{}
	}
	s.open[id] = r
	s.mu.Unlock()
	return r, nil
}

func validID(id string) bool {
	if len(id) != 20 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// Freeze writes the files of m from staging's git objects into a new
// release, hard linking those that base (which may be nil) already holds,
// and returns it. A release with the same id that already exists is
// returned as it is: releases never change once made.
//
// The files Store.Untracked names are added to m first, as they are in
// staging's working tree now.
func (s *Store) Freeze(ctx context.Context, staging string, m *Manifest, base *Release) (*Release, error) {
	if err := m.addUntracked(staging, s.Untracked); err != nil {
		return nil, err
	}
	id := m.ID()
	if r, err := s.Open(id); err == nil {
		return r, nil
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	tmp := filepath.Join(s.Dir, ".new-"+id)
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	r := &Release{ID: id, Dir: tmp, Manifest: m}
	if err := r.write(ctx, staging, base); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	dst := filepath.Join(s.Dir, id)
	if err := os.Rename(tmp, dst); err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	r.Dir = dst
	// The directory's mtime orders releases for pruning.
	now := time.Now()
	_ = os.Chtimes(dst, now, now)
	return r, nil
}

func (r *Release) write(ctx context.Context, staging string, base *Release) error {
	tree := r.Tree()
	dirs := dirMaker{}
	if err := dirs.make(tree); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	have := map[string]Entry{}
	if base != nil {
		for _, e := range base.Manifest.Entries {
			have[e.Path] = e
		}
	}
	byRepo := map[string][]Entry{}
	for _, e := range r.Manifest.Entries {
		dst := filepath.Join(tree, filepath.FromSlash(e.Path))
		if err := dirs.make(filepath.Dir(dst)); err != nil {
			return fmt.Errorf("release: %w", err)
		}
		if b, ok := have[e.Path]; ok && b.Mode == e.Mode && b.Object == e.Object {
			if err := os.Link(filepath.Join(base.Tree(), filepath.FromSlash(e.Path)), dst); err == nil {
				continue
			}
		}
		if e.Untracked {
			if err := copyUntracked(staging, tree, e); err != nil {
				return fmt.Errorf("release: %w", err)
			}
			continue
		}
		byRepo[e.Repo] = append(byRepo[e.Repo], e)
	}
	for repo, es := range byRepo {
		if err := catFiles(ctx, filepath.Join(staging, repo), tree, es); err != nil {
			return fmt.Errorf("release: write files of %s: %w", step.RepoName(repo), err)
		}
	}
	// The host marker: the link names the release, the claim directory
	// holds its claim and nothing else (see hostsync.MarkerName).
	if err := os.Symlink(r.ID, filepath.Join(tree, hostsync.MarkerName)); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	if err := dirs.make(filepath.Join(tree, hostsync.ClaimDir)); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	if err := writeFile(filepath.Join(tree, hostsync.ClaimDir, r.ID), nil, 0o644); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	b, err := json.Marshal(r.Manifest)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(r.Dir, "manifest.json"), b, 0o644); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	// Last: only now is the release complete.
	if err := writeFile(filepath.Join(r.Dir, completeName), []byte(r.ID+"\n"), 0o644); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	return nil
}

// dirMaker makes directories with mode 0755 whatever the umask, each
// once.
type dirMaker map[string]bool

func (d dirMaker) make(dir string) error {
	if d[dir] {
		return nil
	}
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		if err := d.make(filepath.Dir(dir)); err != nil {
			return err
		}
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			return err
		}
	}
	d[dir] = true
	return nil
}

// writeFile writes a file with exactly perm, whatever the umask.
func writeFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// setMtime gives a release file a modification time derived from its
// content (its object id). rsync's quick check compares size and time, so
// two releases must never give different content the same size and time
// (which freezes within one second would), and the same content always
// gets the same time, whichever release a host got it from.
func setMtime(path, object string) error {
	b, err := hex.DecodeString(object)
	if err != nil || len(b) < 4 {
		return fmt.Errorf("release: bad object id %q", object)
	}
	// 2001-09-09 plus up to about 31 years, in whole seconds.
	t := time.Unix(1_000_000_000+int64(binary.BigEndian.Uint32(b)%1_000_000_000), 0)
	return os.Chtimes(path, t, t)
}

// filePerm is the permission bits of a git mode.
func filePerm(mode string) os.FileMode {
	if mode == "100755" {
		return 0o755
	}
	return 0o644
}

// catFiles writes the objects of es, read from the repository at dir,
// into tree.
func catFiles(ctx context.Context, dir, tree string, es []Entry) error {
	cmd := exec.CommandContext(ctx, "git", "cat-file", "--batch")
	cmd.Dir = dir
	cmd.Env = gitEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() {
		w := bufio.NewWriter(in)
		for _, e := range es {
			fmt.Fprintln(w, e.Object)
		}
		w.Flush()
		in.Close()
	}()
	out := bufio.NewReaderSize(outPipe, 1<<16)
	var werr error
	for _, e := range es {
		if werr = writeObject(out, tree, e); werr != nil {
			break
		}
	}
	if werr != nil {
		cmd.Process.Kill()
	}
	io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil && werr == nil {
		werr = fmt.Errorf("git cat-file: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return werr
}

func writeObject(out *bufio.Reader, tree string, e Entry) error {
	header, err := out.ReadString('\n')
	if err != nil {
		return fmt.Errorf("read %s: %w", e.Path, err)
	}
	f := strings.Fields(header)
	if len(f) != 3 || f[0] != e.Object || f[1] != "blob" {
		return fmt.Errorf("object %s of %s is missing (%s)", e.Object, e.Path, strings.TrimSpace(header))
	}
	size, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return fmt.Errorf("object %s: bad size %q", e.Object, f[2])
	}
	dst := filepath.Join(tree, filepath.FromSlash(e.Path))
	if e.Mode == "120000" {
		target := make([]byte, size)
		if _, err := io.ReadFull(out, target); err != nil {
			return err
		}
		if err := os.Symlink(string(target), dst); err != nil {
			return err
		}
	} else {
		perm := filePerm(e.Mode)
		w, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
		if err != nil {
			return err
		}
		_, err = io.CopyN(w, out, size)
		if err == nil {
			err = w.Chmod(perm) // the umask does not decide
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = setMtime(dst, e.Object)
		}
		if err != nil {
			return err
		}
	}
	if b, err := out.ReadByte(); err != nil || b != '\n' {
		return fmt.Errorf("object %s: no newline after its content", e.Object)
	}
	return nil
}

// List returns the ids of the kept releases, oldest first.
func (s *Store) List() ([]string, error) {
	s.tidy()
	ids, err := hostsync.DirsByAge(s.Dir, validID)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("releases: %w", err)
	}
	return ids, nil
}

// Prune removes the oldest releases beyond Keep, never one of inUse.
func (s *Store) Prune(inUse ...string) error {
	keep := s.Keep
	if keep <= 0 {
		keep = 3
	}
	ids, err := s.List()
	if err != nil {
		return err
	}
	for i, id := range ids {
		if len(ids)-i <= keep {
			break
		}
		if slices.Contains(inUse, id) {
			continue
		}
		// The completion record goes first: a prune cut short leaves a
		// directory that is no longer taken for a release.
		if err := os.Remove(filepath.Join(s.Dir, id, completeName)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("releases: remove %s: %w", id, err)
		}
		if err := os.RemoveAll(filepath.Join(s.Dir, id)); err != nil {
			return fmt.Errorf("releases: remove %s: %w", id, err)
		}
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func gitEnv() []string {
	return append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "LC_ALL=C", "GIT_CONFIG_NOSYSTEM=1")
}

// gitOut runs git in dir and returns its output.
func gitOut(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}
