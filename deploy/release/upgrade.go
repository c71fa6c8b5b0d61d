package release

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/jouncebot/jouncebot/deploy/hostsync"
)

// oldMarkerDir is where releases made before completion records kept
// their host marker (a file naming the release, synced after the tree).
const oldMarkerDir = "marker"

// upgrade turns a release in the format from before completion records
// (manifest.json, a tree without the host marker, the marker file in
// marker/) into a complete release, once its tree is checked against its
// manifest: every file there with the content and mode it lists. Such a
// release may be the one a deploy in flight across the upgrade syncs, or
// rolls back to. Modes and times are set as a release made now has them.
// A directory that is not such a release, or whose tree does not match
// (a prune cut short), is an error: the caller removes it.
func upgrade(dir, id string) error {
	if fi, err := os.Stat(filepath.Join(dir, oldMarkerDir)); err != nil || !fi.IsDir() {
		return errors.New("not a release of the old format")
	}
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if m.ID() != id {
		return fmt.Errorf("manifest is not that of release %s", id)
	}
	tree := filepath.Join(dir, "tree")
	for _, e := range m.Entries {
		p := filepath.Join(tree, filepath.FromSlash(e.Path))
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		var data []byte
		switch {
		case e.Mode == "120000" && fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			data = []byte(t)
		case e.Mode != "120000" && fi.Mode().IsRegular():
			if data, err = os.ReadFile(p); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s is not a %s", e.Path, e.Mode)
		}
		if blobID(data) != e.Object {
			return fmt.Errorf("%s differs from the manifest", e.Path)
		}
		if e.Mode == "120000" {
			continue
		}
		if err := os.Chmod(p, filePerm(e.Mode)); err != nil {
			return err
		}
		if err := setMtime(p, e.Object); err != nil {
			return err
		}
	}
	// Its directories were made under the umask.
	err = filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			err = os.Chmod(p, 0o755)
		}
		return err
	})
	if err != nil {
		return err
	}
	link := filepath.Join(tree, hostsync.MarkerName)
	if err := os.RemoveAll(link); err != nil {
		return err
	}
	if err := os.Symlink(id, link); err != nil {
		return err
	}
	claims := filepath.Join(tree, hostsync.ClaimDir)
	if err := os.RemoveAll(claims); err != nil {
		return err
	}
	if err := (dirMaker{}).make(claims); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(claims, id), nil, 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(dir, oldMarkerDir)); err != nil {
		return err
	}
	// Last: only now is the release complete.
	return writeFile(filepath.Join(dir, completeName), []byte(id+"\n"), 0o644)
}
