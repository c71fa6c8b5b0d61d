package image

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/jouncebot/jouncebot/deploy/release"
)

// manifest is a manifest of "path" (a file, object 1) or "path=mode:object"
// entries, sorted.
func manifest(paths ...string) *release.Manifest {
	m := &release.Manifest{}
	for _, p := range paths {
		e := release.Entry{Path: p, Mode: "100644", Object: "1"}
		if p, mo, ok := strings.Cut(p, "="); ok {
			e.Path = p
			e.Mode, e.Object, _ = strings.Cut(mo, ":")
		}
		m.Entries = append(m.Entries, e)
	}
	return m
}

func TestChanges(t *testing.T) {
	for _, tc := range []struct {
		name       string
		prev, next *release.Manifest
		add, gone  []string
	}{
		{"one file changed", manifest("a/x", "a/y"), manifest("a/x", "a/y=100644:2"), []string{"a/y"}, nil},
		{"mode changed", manifest("a/x"), manifest("a/x=100755:1"), []string{"a/x"}, nil},
		{"file added in a new directory", manifest("a/x"), manifest("a/x", "b/c/y"), []string{"b/c/y"}, nil},
		{"file removed", manifest("a/x", "a/y"), manifest("a/x"), nil, []string{"a/y"}},
		{"directory removed, once at its top", manifest("a/b/c", "a/b/d/e", "a/x"), manifest("a/x"), nil, []string{"a/b"}},
		{"top-level directory removed", manifest("a/b/c", "z"), manifest("z"), nil, []string{"a"}},
		{"file becomes a directory", manifest("a/b"), manifest("a/b/c"), []string{"a/b/c"}, nil},
		{"directory becomes a file", manifest("a/b/c", "a/b/d"), manifest("a/b"), []string{"a/b"}, nil},
		{"nothing changed", manifest("a/x"), manifest("a/x"), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			add, gone := changes(tc.prev, tc.next)
			var paths []string
			for _, e := range add {
				paths = append(paths, e.Path)
			}
			if d := cmp.Diff(tc.add, paths); d != "" {
				t.Errorf("add (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.gone, gone); d != "" {
				t.Errorf("gone (-want +got):\n%s", d)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *release.Manifest
		want [][]string
	}{
		{"one layer per top-level directory, top-level files last",
			manifest(".gitignore", "php-1.0/a", "php-1.0/b", "wmf-config/c"),
			[][]string{{"php-1.0/a", "php-1.0/b"}, {"wmf-config/c"}, {".gitignore"}}},
		{"the smallest directories share the last layer",
			manifest("a/1", "b/1", "b/2", "c/1", "c/2", "d/1", "d/2", "e/1", "e/2", "f/1", "f/2", "g/1", "g/2", "h/1", "h/2", "z"),
			[][]string{{"b/1", "b/2"}, {"c/1", "c/2"}, {"d/1", "d/2"}, {"e/1", "e/2"}, {"f/1", "f/2"}, {"g/1", "g/2"}, {"h/1", "h/2"}, {"a/1", "z"}}},
		{"no top-level file", manifest("a/1"), [][]string{{"a/1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [][]string
			for _, es := range split(tc.m) {
				var ps []string
				for _, e := range es {
					ps = append(ps, e.Path)
				}
				got = append(got, ps)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("layers (-want +got):\n%s", d)
			}
		})
	}
}

// A file named like a whiteout would delete a path in the container: it
// is refused, not written.
func TestWhiteoutNamedFileRefused(t *testing.T) {
	tree := t.TempDir()
	if err := os.WriteFile(filepath.Join(tree, ".wh.index.php"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := writeLayer(context.Background(), t.TempDir(), tree, "srv", []release.Entry{{Path: ".wh.index.php", Mode: "100644", Object: "1"}}, nil, false)
	if err == nil || !strings.Contains(err.Error(), "named like an OCI whiteout") {
		t.Errorf("writeLayer = %v", err)
	}
}
