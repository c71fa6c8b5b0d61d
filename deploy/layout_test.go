package deploy_test

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's map of deploy/'s files by place names files that exist,
// and every file of the package's own code is on it: a file renamed,
// added or split shows up here until the map says where it belongs.
func TestReadmeMapsEveryFile(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, text, ok := strings.Cut(string(readme), "`deploy/`'s files by place")
	if !ok {
		t.Fatal("the README has no map of deploy/'s files by place")
	}
	text, _, _ = strings.Cut(text, "\n\n")
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`([a-z]+\\.go)`").FindAllStringSubmatch(text, -1) {
		named[m[1]] = true
	}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") {
			have[n] = true
		}
	}
	for n := range named {
		if !have[n] {
			t.Errorf("the README's map names %s, which deploy/ does not have", n)
		}
	}
	for n := range have {
		if !named[n] {
			t.Errorf("deploy/%s is not on the README's map of deploy/'s files by place", n)
		}
	}
}

// The README's Layout names every package under deploy/ (the places and
// what they use), and each package it names exists.
func TestReadmeNamesEveryPackage(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, layout, ok := strings.Cut(string(readme), "\n## Layout\n")
	if !ok {
		t.Fatal("the README has no Layout section")
	}
	layout, _, _ = strings.Cut(layout, "\n## ")
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`(deploy/[a-z/]+?)/?`").FindAllStringSubmatch(layout, -1) {
		named[m[1]] = true
	}
	have := map[string]bool{}
	err = filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || p == "." {
			return err
		}
		if d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if gos, _ := filepath.Glob(filepath.Join(p, "*.go")); len(gos) > 0 {
			have["deploy/"+filepath.ToSlash(p)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for n := range named {
		if !have[n] {
			t.Errorf("the README's Layout names %s, which is no package", n)
		}
	}
	for n := range have {
		// A test helper inside a package may go by its name alone
		// ("`promtest` runs a real Prometheus").
		if !named[n] && !(named[path.Dir(n)] && strings.Contains(layout, "`"+path.Base(n)+"`")) {
			t.Errorf("%s is not named in the README's Layout", n)
		}
	}
}
