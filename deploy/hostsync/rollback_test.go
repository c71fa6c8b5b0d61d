package hostsync

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRollbackVerified(t *testing.T) {
	t.Parallel()
	needRsync(t)
	ctx := t.Context()
	src := t.TempDir()
	writeTree(t, src, baseTree)
	hosts := localHosts(t, 3)
	st := &Stage{Name: "canaries", Hosts: hosts, Method: &Rsync{}}
	if _, err := st.Sync(ctx, Job{Source: src}); err != nil {
		t.Fatal(err)
	}
	rel := &Releases{Dir: t.TempDir(), Keep: 2}
	prev, err := rel.Save(ctx, src, "deploy-1")
	if err != nil {
		t.Fatal(err)
	}
	v1 := withoutGit(baseTree)

	// Deploy a change: a file edited with the same size (rsync's quick
	// check would miss it), one added.
	edit(t, src, map[string]string{"index.php": "<?php // v2\n", "wmf-config/new.php": "<?php\n"})
	paths := []string{"index.php", "wmf-config/new.php"}
	if _, err := st.Sync(ctx, Job{Source: src, Paths: paths}); err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, hosts[0].Dest)["index.php"]; got != "<?php // v2\n" {
		t.Fatalf("deploy did not reach the host: index.php = %q", got)
	}

	// Roll back the changed paths from the saved release.
	if _, err := st.Sync(ctx, Job{Source: prev, Paths: paths}); err != nil {
		t.Fatal(err)
	}
	verify := &Stage{Name: "canaries", Hosts: hosts, Method: &Verify{}}
	if rep, err := verify.Sync(ctx, Job{Source: prev}); err != nil {
		t.Fatalf("verify after rollback: %v (%v)", err, rep.Failed())
	}
	for _, h := range hosts {
		if diff := cmp.Diff(v1, readTree(t, h.Dest)); diff != "" {
			t.Errorf("%s after rollback (-want +got):\n%s", h.Name, diff)
		}
	}

	// Verify catches a host that differs, even by content alone.
	writeTree(t, hosts[2].Dest, map[string]string{"index.php": "<?php // v9\n", "extra.txt": "x"})
	rep, err := verify.Sync(ctx, Job{Source: prev})
	if !errors.Is(err, ErrStageFailed) {
		t.Fatalf("verify of a tampered host: err = %v", err)
	}
	f := rep.Failed()
	var de *DiffError
	if len(f) != 1 || f[0].Host != hosts[2].Name || !errors.As(f[0].Err, &de) {
		t.Fatalf("failed = %v, want %s with a DiffError", f, hosts[2].Name)
	}
	if got, want := de.Error(), "differs from the release in 2 places: *deleting   extra.txt; >fc.T...... index.php"; got != want {
		t.Errorf("diff = %q, want %q", got, want)
	}
}

func TestReleasesHardLinkedAndPruned(t *testing.T) {
	t.Parallel()
	needRsync(t)
	ctx := t.Context()
	src := t.TempDir()
	writeTree(t, src, baseTree)
	rel := &Releases{Dir: t.TempDir(), Keep: 2}
	var paths []string
	for _, name := range []string{"r1", "r2", "r3"} {
		p, err := rel.Save(ctx, src, name)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		edit(t, src, map[string]string{"index.php": "<?php // after " + name + "\n"})
	}
	names, err := rel.List()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"r2", "r3"}, names); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	// Unchanged files share an inode; the changed one does not; .git is
	// not kept.
	ino := func(p string) uint64 {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	same := filepath.Join("static", "images", "logo.png")
	if ino(filepath.Join(paths[1], same)) != ino(filepath.Join(paths[2], same)) {
		t.Error("an unchanged file was copied instead of hard-linked")
	}
	if ino(filepath.Join(paths[1], "index.php")) == ino(filepath.Join(paths[2], "index.php")) {
		t.Error("a changed file shares its inode with the previous release")
	}
	if got := readTree(t, paths[1])["index.php"]; !strings.Contains(got, "after r1") {
		t.Errorf("r2's index.php = %q, want the tree as it was saved", got)
	}
	if _, err := os.Stat(filepath.Join(paths[2], ".git")); !os.IsNotExist(err) {
		t.Errorf(".git was kept in the release: %v", err)
	}
	if _, err := rel.Save(ctx, src, "../x"); err == nil {
		t.Error("a release name with a slash was accepted")
	}
}

// Verify compares permissions too, and a host's own protected files and
// release marker are not differences.
func TestVerifyModesProtectedAndMarker(t *testing.T) {
	t.Parallel()
	needRsync(t)
	ctx := t.Context()
	src := t.TempDir()
	writeTree(t, src, baseTree)
	hosts := localHosts(t, 1)
	rs := Rsync{Protect: []string{"private/"}}
	st := &Stage{Name: "canaries", Hosts: hosts, Method: &rs}
	if _, err := st.Sync(ctx, Job{Source: src}); err != nil {
		t.Fatal(err)
	}
	writeTree(t, hosts[0].Dest, map[string]string{"private/PrivateSettings.php": "<?php\n"})
	os.Symlink("0123456789abcdef0123", filepath.Join(hosts[0].Dest, MarkerName))
	writeTree(t, hosts[0].Dest, map[string]string{ClaimDir + "/0123456789abcdef0123": ""})
	verify := &Stage{Name: "canaries", Hosts: hosts, Method: &Verify{Rsync: rs}}
	if rep, err := verify.Sync(ctx, Job{Source: src}); err != nil {
		t.Fatalf("verify: %v (%v)", err, rep.Failed())
	}
	if err := os.Chmod(filepath.Join(hosts[0].Dest, "index.php"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Sync(ctx, Job{Source: src})
	var de *DiffError
	if err == nil || len(rep.Failed()) != 1 || !errors.As(rep.Failed()[0].Err, &de) || !strings.Contains(de.Error(), "index.php") {
		t.Fatalf("verify of a host with a changed mode: %v", err)
	}
}
