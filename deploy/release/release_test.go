package release_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/deploy/release"
)

func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func write(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// staging makes a config checkout with a php-<version> checkout inside,
// holding a plain file, an executable, a symlink and a name with a space
// and an accent.
func staging(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "master")
	write(t, filepath.Join(dir, ".gitignore"), "/php-*\n", 0o644)
	write(t, filepath.Join(dir, "wmf-config/Settings.php"), "<?php\n$a = 1;\n", 0o644)
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "config")
	core := filepath.Join(dir, "php-1.0")
	os.MkdirAll(core, 0o755)
	git(t, core, "init", "-q", "-b", "wmf/1.0")
	write(t, filepath.Join(core, "includes/Hooks.php"), "<?php\n", 0o644)
	write(t, filepath.Join(core, "bin/run"), "#!/bin/sh\n", 0o755)
	write(t, filepath.Join(core, "resources/café à.css"), "body{}\n", 0o644)
	os.Symlink("includes/Hooks.php", filepath.Join(core, "Hooks.php"))
	git(t, core, "add", ".")
	git(t, core, "commit", "-q", "-m", "core")
	return dir
}

func TestFreezeFromGitObjects(t *testing.T) {
	ctx := context.Background()
	dir := staging(t)
	core := filepath.Join(dir, "php-1.0")
	s := &release.Store{Dir: filepath.Join(t.TempDir(), "releases"), Keep: 1}
	m1, err := release.Read(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := s.Freeze(ctx, dir, m1, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A second commit in core, then an uncommitted edit: the release
	// holds the commit, never the edit.
	write(t, filepath.Join(core, "includes/Hooks.php"), "<?php\n// v2\n", 0o644)
	git(t, core, "commit", "-q", "-am", "v2")
	write(t, filepath.Join(core, "includes/Hooks.php"), "<?php\nevil();\n", 0o644)
	m2, err := release.Read(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Freeze(ctx, dir, m2, r1)
	if err != nil {
		t.Fatal(err)
	}
	if r1.ID == r2.ID {
		t.Fatal("two different trees have the same release id")
	}
	if b, _ := os.ReadFile(filepath.Join(r2.Tree(), "php-1.0/includes/Hooks.php")); string(b) != "<?php\n// v2\n" {
		t.Errorf("release holds %q, want the committed v2", b)
	}
	if d := cmp.Diff([]string{"php-1.0/includes/Hooks.php"}, release.Diff(r1.Manifest, r2.Manifest)); d != "" {
		t.Errorf("diff (-want +got):\n%s", d)
	}
	if got, err := release.Changes(ctx, dir, r2.Manifest); err != nil || len(got) != 1 || got[0] != "staging/php-1.0: includes/Hooks.php" {
		t.Errorf("changes = %q, %v", got, err)
	}
	// Unchanged files are hard links to the base release.
	a, _ := os.Stat(filepath.Join(r1.Tree(), "wmf-config/Settings.php"))
	b, _ := os.Stat(filepath.Join(r2.Tree(), "wmf-config/Settings.php"))
	if a.Sys().(*syscall.Stat_t).Ino != b.Sys().(*syscall.Stat_t).Ino {
		t.Error("an unchanged file was copied, not linked")
	}
	if st, _ := os.Stat(filepath.Join(r2.Tree(), "php-1.0/bin/run")); st.Mode().Perm() != 0o755 {
		t.Errorf("executable mode = %v", st.Mode())
	}
	if l, _ := os.Readlink(filepath.Join(r2.Tree(), "php-1.0/Hooks.php")); l != "includes/Hooks.php" {
		t.Errorf("symlink = %q", l)
	}
	if b, _ := os.ReadFile(filepath.Join(r2.Tree(), "php-1.0/resources/café à.css")); string(b) != "body{}\n" {
		t.Errorf("file with a space and an accent = %q", b)
	}
	if _, err := os.Stat(filepath.Join(r2.Tree(), ".git")); err == nil {
		t.Error("the release holds .git")
	}
	// The same tree again is the same release; pruning keeps those in use.
	again, err := s.Freeze(ctx, dir, m2, r1)
	if err != nil || again.ID != r2.ID {
		t.Errorf("refreeze = %v, %v", again, err)
	}
	if err := s.Prune(r1.ID, r2.ID); err != nil {
		t.Fatal(err)
	}
	if ids, _ := s.List(); len(ids) != 2 {
		t.Errorf("releases in use were pruned: %v", ids)
	}
	if err := s.Prune(r2.ID); err != nil {
		t.Fatal(err)
	}
	if ids, _ := s.List(); len(ids) != 1 || ids[0] != r2.ID {
		t.Errorf("after pruning: %v", ids)
	}
}
