package release_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/jouncebot/jouncebot/deploy/release"
)

// A top-level submodule of the config checkout (operations/mediawiki-
// config has had them) is frozen once, with its files.
func TestFreezeTopLevelSubmodule(t *testing.T) {
	ctx := context.Background()
	dir := staging(t)
	sub := filepath.Join(t.TempDir(), "dblists")
	os.MkdirAll(sub, 0o755)
	git(t, sub, "init", "-q", "-b", "master")
	write(t, filepath.Join(sub, "all.dblist"), "enwiki\n", 0o644)
	git(t, sub, "add", ".")
	git(t, sub, "commit", "-q", "-m", "dblists")
	git(t, dir, "-c", "protocol.file.allow=always", "submodule", "add", "-q", sub, "dblists")
	git(t, dir, "commit", "-q", "-m", "add dblists")
	m, err := release.Read(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &release.Store{Dir: filepath.Join(t.TempDir(), "releases")}
	r, err := s.Freeze(ctx, dir, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(r.Tree(), "dblists/all.dblist")); string(b) != "enwiki\n" {
		t.Errorf("dblists/all.dblist = %q", b)
	}
	n := 0
	for _, e := range m.Entries {
		if e.Path == "dblists/all.dblist" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the submodule's file is in the manifest %d times", n)
	}
}

// Modes come from the manifest, whatever the umask.
func TestFreezeModesIgnoreUmask(t *testing.T) {
	ctx := context.Background()
	dir := staging(t)
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	m, err := release.Read(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &release.Store{Dir: filepath.Join(t.TempDir(), "releases")}
	r, err := s.Freeze(ctx, dir, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{
		"wmf-config/Settings.php": 0o644,
		"php-1.0/bin/run":         0o755,
		"wmf-config":              0o755 | os.ModeDir,
	} {
		st, err := os.Stat(filepath.Join(r.Tree(), p))
		if err != nil || st.Mode() != want {
			t.Errorf("%s: mode %v, %v; want %v", p, st.Mode(), err, want)
		}
	}
}

// Untracked paths are frozen, with the mode git would give them, and
// hashed into the manifest.
func TestFreezeUntracked(t *testing.T) {
	ctx := context.Background()
	dir := staging(t)
	write(t, filepath.Join(dir, "private/PrivateSettings.php"), "<?php\n$secret = 1;\n", 0o600)
	m, err := release.Read(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &release.Store{Dir: filepath.Join(t.TempDir(), "releases"), Untracked: []string{"private/", "php-*/cache/l10n/"}}
	r, err := s.Freeze(ctx, dir, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{"private/PrivateSettings.php": 0o644} {
		st, err := os.Stat(filepath.Join(r.Tree(), p))
		if err != nil || st.Mode() != want {
			t.Errorf("%s: mode %v, %v; want %v", p, st.Mode(), err, want)
		}
	}
	// The untracked file is part of the release's identity.
	write(t, filepath.Join(dir, "private/PrivateSettings.php"), "<?php\n$secret = 2;\n", 0o600)
	m2, _ := release.Read(ctx, dir, nil)
	r2, err := s.Freeze(ctx, dir, m2, r)
	if err != nil {
		t.Fatal(err)
	}
	if r2.ID == r.ID {
		t.Error("a changed untracked file gave the same release")
	}
	if d := release.Diff(r.Manifest, r2.Manifest); len(d) != 1 || d[0] != "private/PrivateSettings.php" {
		t.Errorf("diff = %q", d)
	}
}

// A release directory without its completion record (a freeze or prune
// cut short) and a .new- directory are removed when the store is first
// used, and never opened as a release.
func TestStoreRemovesPartialReleases(t *testing.T) {
	ctx := context.Background()
	dir := staging(t)
	root := filepath.Join(t.TempDir(), "releases")
	s := &release.Store{Dir: root}
	m, _ := release.Read(ctx, dir, nil)
	r, err := s.Freeze(ctx, dir, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(r.Dir, "complete"))                                  // a prune cut short
	os.MkdirAll(filepath.Join(root, ".new-0123456789abcdef0123", "tree"), 0o755) // a freeze cut short
	s2 := &release.Store{Dir: root}
	if _, err := s2.Open(r.ID); err == nil {
		t.Error("a release without its completion record was opened")
	}
	if ids, _ := s2.List(); len(ids) != 0 {
		t.Errorf("releases = %v", ids)
	}
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		t.Errorf("left behind: %s", e.Name())
	}
}
