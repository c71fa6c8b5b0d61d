package hostsync

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Releases keeps copies of the trees that were deployed, on the deploy
// host, to roll back to. Each copy is made with rsync --link-dest against
// the newest one, so unchanged files are hard links and a copy of a
// MediaWiki tree costs little more than the files that changed. Copies are
// never modified after they are made, so sharing inodes between them is
// safe.
type Releases struct {
	// Dir holds one directory per release.
	Dir string
	// Keep is how many releases are kept (default 3).
	Keep int
	// Rsync is the rsync binary (default "rsync").
	Rsync string
}

// Save copies the tree at src (without .git) as the release name and
// returns its path. An existing release of that name is replaced. Older
// releases beyond Keep are removed.
func (r *Releases) Save(ctx context.Context, src, name string) (string, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return "", fmt.Errorf("release name %q is not usable as a directory name", name)
	}
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return "", fmt.Errorf("releases: %w", err)
	}
	tmp := filepath.Join(r.Dir, ".new-"+name)
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("releases: %w", err)
	}
	args := []string{"--archive", "--delete", "--exclude=**/.git"}
	if prev, err := r.List(); err == nil && len(prev) > 0 {
		args = append(args, "--link-dest="+r.Path(prev[len(prev)-1]))
	}
	rs := &Rsync{Path: r.Rsync, Args: args}
	if _, err := rs.run(ctx, nil, Host{Name: "releases", Dest: tmp}, src, nil); err != nil {
		return "", fmt.Errorf("releases: copy %s: %w", src, err)
	}
	dst := r.Path(name)
	if err := os.RemoveAll(dst); err != nil {
		return "", fmt.Errorf("releases: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", fmt.Errorf("releases: %w", err)
	}
	// The directory's mtime orders releases; rsync set it to src's.
	now := time.Now()
	if err := os.Chtimes(dst, now, now); err != nil {
		return "", fmt.Errorf("releases: %w", err)
	}
	return dst, r.prune(name)
}

// Path returns the directory of the release name.
func (r *Releases) Path(name string) string { return filepath.Join(r.Dir, name) }

// List returns the releases, oldest first.
func (r *Releases) List() ([]string, error) {
	names, err := DirsByAge(r.Dir, func(name string) bool { return !strings.HasPrefix(name, ".") })
	if err != nil {
		return nil, fmt.Errorf("releases: %w", err)
	}
	return names, nil
}

// DirsByAge lists the directories in dir whose names keep accepts, oldest
// (by modification time) first: the order releases were made in.
func DirsByAge(dir string, keep func(name string) bool) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type rel struct {
		name string
		t    time.Time
	}
	var rels []rel
	for _, e := range entries {
		if !e.IsDir() || !keep(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		rels = append(rels, rel{e.Name(), info.ModTime()})
	}
	slices.SortStableFunc(rels, func(a, b rel) int { return a.t.Compare(b.t) })
	names := make([]string, len(rels))
	for i, x := range rels {
		names[i] = x.name
	}
	return names, nil
}

func (r *Releases) prune(keepName string) error {
	keep := r.Keep
	if keep <= 0 {
		keep = 3
	}
	names, err := r.List()
	if err != nil {
		return err
	}
	for len(names) > keep {
		if names[0] != keepName {
			if err := os.RemoveAll(r.Path(names[0])); err != nil {
				return fmt.Errorf("releases: remove %s: %w", names[0], err)
			}
		}
		names = names[1:]
	}
	return nil
}
