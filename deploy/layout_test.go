package deploy_test

import (
	"os"
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
