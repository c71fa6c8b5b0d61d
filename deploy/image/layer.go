package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"

	"github.com/jouncebot/jouncebot/deploy/release"
)

// mtime is every entry's modification time: the same tree must give the
// same layer, whenever and wherever it is built.
var mtime = time.Unix(1_000_000_000, 0)

// whiteout is the OCI marker that deletes a path of the layers below.
const whiteout = ".wh."

// fullLayers is how many layers a full image's release tree is split
// into, at most: one per big top-level directory (php-<version>,
// wmf-config, …), so a later full rebuild shares those that did not
// change, and one for the rest.
const fullLayers = 8

// split groups a manifest's entries for a full image: the fullLayers-1
// top-level directories with the most files get a layer each, in name
// order, and everything else (smaller directories, top-level files) one
// last layer.
func split(m *release.Manifest) [][]release.Entry {
	by := map[string][]release.Entry{}
	for _, e := range m.Entries {
		top, _, ok := strings.Cut(e.Path, "/")
		if !ok {
			top = ""
		}
		by[top] = append(by[top], e)
	}
	var tops []string
	for t := range by {
		if t != "" {
			tops = append(tops, t)
		}
	}
	// Most files first, then by name, so the choice is deterministic.
	slices.SortFunc(tops, func(a, b string) int {
		if d := len(by[b]) - len(by[a]); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	own := tops[:min(len(tops), fullLayers-1)]
	rest := slices.Clone(by[""])
	for _, t := range tops[len(own):] {
		rest = append(rest, by[t]...)
	}
	slices.Sort(own)
	var out [][]release.Entry
	for _, t := range own {
		out = append(out, by[t])
	}
	if len(rest) > 0 {
		slices.SortFunc(rest, func(a, b release.Entry) int { return strings.Compare(a.Path, b.Path) })
		out = append(out, rest)
	}
	return out
}

// changes is what a layer on top of prev's image must hold to make it
// next's tree: the entries of next that are new or differ, and the paths
// to delete (files and whole directories that next no longer has, each
// deletion once, at its topmost path), sorted.
func changes(prev, next *release.Manifest) (add []release.Entry, gone []string) {
	inNext := make(map[string]release.Entry, len(next.Entries))
	for _, e := range next.Entries {
		inNext[e.Path] = e
	}
	prevDirs, nextDirs := dirs(prev), dirs(next)
	var cand []string
	for _, p := range release.Diff(prev, next) {
		if e, ok := inNext[p]; ok {
			add = append(add, e)
		} else if !nextDirs[p] {
			cand = append(cand, p)
		}
	}
	for d := range prevDirs {
		if _, ok := inNext[d]; !ok && !nextDirs[d] {
			cand = append(cand, d)
		}
	}
	// A path under a directory that goes (deleted, or replaced by a
	// file) goes with it.
	for _, p := range cand {
		covered := false
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if prevDirs[d] && !nextDirs[d] {
				covered = true
				break
			}
		}
		if !covered {
			gone = append(gone, p)
		}
	}
	slices.Sort(gone)
	return add, gone
}

// dirs is the set of directories of a manifest's tree.
func dirs(m *release.Manifest) map[string]bool {
	out := map[string]bool{}
	for _, e := range m.Entries {
		for d := path.Dir(e.Path); d != "." && !out[d]; d = path.Dir(d) {
			out[d] = true
		}
	}
	return out
}

// fileLayer is a gzip-compressed layer written to a file, with its
// digests computed while it was written (once: 200 MB are not compressed
// twice).
type fileLayer struct {
	file           string
	digest, diffID v1.Hash
	size           int64
}

func (l *fileLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *fileLayer) Size() (int64, error)                { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.file) }

func (l *fileLayer) Uncompressed() (io.ReadCloser, error) {
	f, err := os.Open(l.file)
	if err != nil {
		return nil, err
	}
	z, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{z, f}, nil
}

// layerWriter writes the tar of one layer: the release's files under
// root (a slash path without the leading slash), read from tree, with
// their modes from the manifest.
type layerWriter struct {
	tree, root string
	tw         *tar.Writer
	dirs       map[string]bool // directories written to this layer
}

// opaque is the OCI marker that hides everything the layers below have
// in its directory.
const opaque = whiteout + whiteout + ".opq"

// writeLayer writes a layer holding the whiteouts of gone and the files
// of add into a new file in dir. With hideBelow, the layer first hides
// all the layers below have under root (the base image's own files
// there are not the release's).
func writeLayer(ctx context.Context, dir, tree, root string, add []release.Entry, gone []string, hideBelow bool) (*fileLayer, error) {
	f, err := os.CreateTemp(dir, "layer-")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zsum, tsum := sha256.New(), sha256.New()
	counted := &countWriter{w: io.MultiWriter(f, zsum)}
	z, err := gzip.NewWriterLevel(counted, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	lw := &layerWriter{tree: tree, root: root, tw: tar.NewWriter(io.MultiWriter(z, tsum)), dirs: map[string]bool{}}
	if hideBelow {
		if err := lw.dir(root); err != nil {
			return nil, err
		}
		if err := lw.tw.WriteHeader(header(tar.TypeReg, path.Join(root, opaque), 0o644)); err != nil {
			return nil, err
		}
	}
	for _, p := range gone {
		if err := lw.whiteout(p); err != nil {
			return nil, err
		}
	}
	for i, e := range add {
		if i%256 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err := lw.entry(e); err != nil {
			return nil, err
		}
	}
	if err := lw.tw.Close(); err != nil {
		return nil, err
	}
	if err := z.Close(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return &fileLayer{file: f.Name(), digest: sum(zsum), diffID: sum(tsum), size: counted.n}, nil
}

func sum(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// header is a tar header with the fixed owner and time every entry has.
func header(typ byte, name string, mode int64) *tar.Header {
	return &tar.Header{Typeflag: typ, Name: name, Mode: mode, ModTime: mtime, Format: tar.FormatPAX}
}

// dir writes the directory d (a path in the image) and its parents, once
// each.
func (lw *layerWriter) dir(d string) error {
	if d == "." || d == "" || lw.dirs[d] {
		return nil
	}
	if err := lw.dir(path.Dir(d)); err != nil {
		return err
	}
	lw.dirs[d] = true
	return lw.tw.WriteHeader(header(tar.TypeDir, d+"/", 0o755))
}

func (lw *layerWriter) whiteout(p string) error {
	if err := checkPath(p); err != nil {
		return err
	}
	name := path.Join(lw.root, p)
	if err := lw.dir(path.Dir(name)); err != nil {
		return err
	}
	return lw.tw.WriteHeader(header(tar.TypeReg, path.Join(path.Dir(name), whiteout+path.Base(name)), 0o644))
}

// checkPath refuses a release path that would not land where it says
// under the root: one leaving the tree (a damaged manifest), or one with
// a file or directory named like an OCI whiteout, which a runtime would
// take for the deletion of a lower path.
func checkPath(p string) error {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") {
		return fmt.Errorf("%q is not a path inside the release tree", p)
	}
	for _, c := range strings.Split(p, "/") {
		if strings.HasPrefix(c, whiteout) {
			return fmt.Errorf("%s is named like an OCI whiteout (%s…), which an image cannot hold as a file or directory", p, whiteout)
		}
	}
	return nil
}

func (lw *layerWriter) entry(e release.Entry) error {
	if err := checkPath(e.Path); err != nil {
		return err
	}
	name := path.Join(lw.root, e.Path)
	if err := lw.dir(path.Dir(name)); err != nil {
		return err
	}
	src := filepath.Join(lw.tree, filepath.FromSlash(e.Path))
	switch e.Mode {
	case "120000":
		target, err := os.Readlink(src)
		if err != nil {
			return fmt.Errorf("symlink %s: %w", e.Path, err)
		}
		h := header(tar.TypeSymlink, name, 0o777)
		h.Linkname = target
		return lw.tw.WriteHeader(h)
	case "100644", "100755":
		mode := int64(0o644)
		if e.Mode == "100755" {
			mode = 0o755
		}
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file in the release tree", e.Path)
		}
		h := header(tar.TypeReg, name, mode)
		h.Size = st.Size()
		if err := lw.tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.CopyN(lw.tw, f, st.Size()); err != nil {
			return fmt.Errorf("read %s: %w", e.Path, err)
		}
		return nil
	default:
		return fmt.Errorf("%s has git mode %s, which an image cannot hold", e.Path, e.Mode)
	}
}
