package release_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/release"
)

// unreplaceable makes the file p impossible to replace (rsync's rename
// fails): immutable for root, a read-only directory for anyone else.
func unreplaceable(t *testing.T, p string) {
	t.Helper()
	if os.Geteuid() != 0 {
		dir := filepath.Dir(p)
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		return
	}
	if out, err := exec.Command("chattr", "+i", p).CombinedOutput(); err != nil {
		t.Skipf("cannot make a file immutable here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", p).Run() })
}

// twoReleases freezes a staging checkout into a new store (r1), then,
// after a commit of v2 of core's includes/Hooks.php, freezes it again
// on top of r1 (r2).
func twoReleases(t *testing.T) (s *release.Store, r1, r2 *release.Release) {
	t.Helper()
	ctx := context.Background()
	dir := staging(t)
	s = &release.Store{Dir: filepath.Join(t.TempDir(), "releases")}
	m1, err := release.Read(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r1, err = s.Freeze(ctx, dir, m1, nil); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "php-1.0/includes/Hooks.php"), "<?php\n// v2\n", 0o644)
	git(t, filepath.Join(dir, "php-1.0"), "commit", "-q", "-am", "v2")
	m2, _ := release.Read(ctx, dir, nil)
	if r2, err = s.Freeze(ctx, dir, m2, r1); err != nil {
		t.Fatal(err)
	}
	return s, r1, r2
}

// A transfer that fails part way (rsync exit 23: a file could not be
// replaced) must not leave the host's marker naming the new release:
// rsync still lands its other delayed updates, the claim among them.
func TestFailedTransferLeavesNoMarker(t *testing.T) {
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("rsync is not installed")
	}
	ctx := context.Background()
	s, r1, r2 := twoReleases(t)
	verify := &hostsync.Verify{}
	for _, known := range []bool{true, false} {
		h := hostsync.Host{Name: "mw1", Dest: filepath.Join(t.TempDir(), "mw1")}
		if err := (&release.Marked{Method: &hostsync.Rsync{}, Release: r1, Store: s}).Sync(ctx, h, "", nil); err != nil {
			t.Fatal(err)
		}
		if !known {
			os.RemoveAll(filepath.Join(s.Dir, "hosts")) // a whole-release transfer
			s = &release.Store{Dir: s.Dir}
		}
		unreplaceable(t, filepath.Join(h.Dest, "php-1.0/includes/Hooks.php"))
		err := (&release.Marked{Method: &hostsync.Rsync{}, Release: r2, Store: s}).Sync(ctx, h, "", nil)
		if err == nil {
			t.Fatalf("known %v: the transfer did not fail", known)
		}
		if release.Holds(ctx, verify, h, r2) == nil {
			b, _ := os.ReadFile(filepath.Join(h.Dest, "php-1.0/includes/Hooks.php"))
			t.Errorf("known %v: after a failed transfer (%v) the host's marker names release %s, yet Hooks.php is %q", known, err, r2.ID, b)
		}
	}
}
