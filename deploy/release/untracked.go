package release

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// addUntracked adds to m the files of staging that patterns name and git
// does not track (a tracked file keeps its git entry), hashed as git
// hashes a blob. A pattern is a slash-separated path relative to staging
// in which "*" matches within one name; it names a file or a directory
// (then everything below it, .git directories excepted). A pattern that
// matches nothing adds nothing.
func (m *Manifest) addUntracked(staging string, patterns []string) error {
	if len(patterns) == 0 {
		return nil
	}
	known := make(map[string]bool, len(m.Entries))
	for _, e := range m.Entries {
		known[e.Path] = true
	}
	added := false
	for _, pat := range patterns {
		matches, err := filepath.Glob(filepath.Join(staging, filepath.FromSlash(strings.Trim(pat, "/"))))
		if err != nil {
			return fmt.Errorf("release: untracked path %q: %w", pat, err)
		}
		for _, match := range matches {
			err := filepath.WalkDir(match, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.IsDir() {
					if d.Name() == ".git" {
						return filepath.SkipDir
					}
					return nil
				}
				rel, err := filepath.Rel(staging, p)
				if err != nil {
					return err
				}
				rel = filepath.ToSlash(rel)
				if known[rel] || !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
					return nil
				}
				e, err := untrackedEntry(staging, rel)
				if err != nil {
					return err
				}
				known[rel] = true
				m.Entries = append(m.Entries, e)
				added = true
				return nil
			})
			if err != nil {
				return fmt.Errorf("release: read untracked files: %w", err)
			}
		}
	}
	if added {
		slices.SortFunc(m.Entries, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	}
	return nil
}

// untrackedEntry reads the file rel of staging into a manifest entry.
func untrackedEntry(staging, rel string) (Entry, error) {
	mode, data, err := readUntracked(staging, rel)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Path: rel, Mode: mode, Object: blobID(data), Untracked: true}, nil
}

// readUntracked returns the git mode and content (a link's target) of the
// file rel of staging.
func readUntracked(staging, rel string) (string, []byte, error) {
	p := filepath.Join(staging, filepath.FromSlash(rel))
	fi, err := os.Lstat(p)
	if err != nil {
		return "", nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		t, err := os.Readlink(p)
		return "120000", []byte(t), err
	}
	if !fi.Mode().IsRegular() {
		return "", nil, fmt.Errorf("%s is not a file", rel)
	}
	data, err := os.ReadFile(p)
	mode := "100644"
	if fi.Mode().Perm()&0o111 != 0 {
		mode = "100755"
	}
	return mode, data, err
}

// blobID is git's object id of a blob holding data.
func blobID(data []byte) string {
	h := sha1.New()
	h.Write([]byte("blob " + strconv.Itoa(len(data)) + "\x00"))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// copyUntracked writes the untracked file e from staging into tree,
// refusing a file that changed since its manifest entry was made.
func copyUntracked(staging, tree string, e Entry) error {
	mode, data, err := readUntracked(staging, e.Path)
	if err != nil {
		return err
	}
	if mode != e.Mode || blobID(data) != e.Object {
		return errors.New(e.Path + " changed in staging while it was frozen")
	}
	dst := filepath.Join(tree, filepath.FromSlash(e.Path))
	if mode == "120000" {
		return os.Symlink(string(data), dst)
	}
	if err := writeFile(dst, data, filePerm(mode)); err != nil {
		return err
	}
	return setMtime(dst, e.Object)
}
