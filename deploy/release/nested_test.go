package release_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jouncebot/jouncebot/deploy/release"
)

// A top-level submodule of the config checkout with a submodule of its
// own: each file is frozen once, with its content, and both commits are
// recorded.
func TestFreezeNestedTopLevelSubmodule(t *testing.T) {
	ctx := context.Background()
	dir := staging(t)
	inner := filepath.Join(t.TempDir(), "inner")
	os.MkdirAll(inner, 0o755)
	git(t, inner, "init", "-q", "-b", "master")
	write(t, filepath.Join(inner, "wikis.json"), "{}\n", 0o644)
	git(t, inner, "add", ".")
	git(t, inner, "commit", "-q", "-m", "inner")
	outer := filepath.Join(t.TempDir(), "dblists")
	os.MkdirAll(outer, 0o755)
	git(t, outer, "init", "-q", "-b", "master")
	write(t, filepath.Join(outer, "all.dblist"), "enwiki\n", 0o644)
	git(t, outer, "-c", "protocol.file.allow=always", "submodule", "add", "-q", inner, "inner")
	git(t, outer, "add", ".")
	git(t, outer, "commit", "-q", "-m", "dblists")
	git(t, dir, "-c", "protocol.file.allow=always", "submodule", "add", "-q", outer, "dblists")
	git(t, dir, "-c", "protocol.file.allow=always", "submodule", "update", "-q", "--init", "--recursive")
	git(t, dir, "commit", "-q", "-m", "add dblists")
	m, err := release.Read(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := (&release.Store{Dir: filepath.Join(t.TempDir(), "releases")}).Freeze(ctx, dir, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"dblists/all.dblist": "enwiki\n", "dblists/inner/wikis.json": "{}\n"} {
		if b, _ := os.ReadFile(filepath.Join(r.Tree(), p)); string(b) != want {
			t.Errorf("%s = %q, want %q", p, b, want)
		}
	}
	if m.Commits["dblists"] == "" || m.Commits["dblists/inner"] == "" {
		t.Errorf("commits = %v", m.Commits)
	}
	if got, err := release.Changes(ctx, dir, m); err != nil || len(got) != 0 {
		t.Errorf("an untouched staging shows changes %q, %v", got, err)
	}
}
