package release_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/release"
)

// BenchmarkResumeCheck compares what a restart costs with what a small
// deploy costs, on 50 local hosts at the same concurrency: "check" reads
// the release marker of 50 hosts that already hold the release (what a
// resumed deploy does before believing its record); "sync-one-file" is
// the engine's sync of a one-file change to the same 50 hosts (the file
// and the marker in one transfer); "rsync-one-file" is a bare rsync of
// that one file, the floor. Goal: check < 2× sync-one-file.
func BenchmarkResumeCheck(b *testing.B) {
	if _, err := exec.LookPath("rsync"); err != nil {
		b.Skip("rsync is not installed")
	}
	ctx := context.Background()
	dir := stagingTree(b, 500)
	s := &release.Store{Dir: filepath.Join(b.TempDir(), "releases")}
	m1, err := release.Read(ctx, dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	r1, err := s.Freeze(ctx, dir, m1, nil)
	if err != nil {
		b.Fatal(err)
	}
	write(b, filepath.Join(dir, "php-1.0/includes/Hooks.php"), "<?php\n// v2\n", 0o644)
	git(b, filepath.Join(dir, "php-1.0"), "commit", "-q", "-am", "v2")
	m2, _ := release.Read(ctx, dir, nil)
	r2, err := s.Freeze(ctx, dir, m2, r1)
	if err != nil {
		b.Fatal(err)
	}
	files := release.Diff(r1.Manifest, r2.Manifest)
	root := b.TempDir()
	var hosts []hostsync.Host
	for i := range 50 {
		hosts = append(hosts, hostsync.Host{Name: fmt.Sprintf("mw%02d", i), Dest: filepath.Join(root, fmt.Sprintf("mw%02d", i))})
	}
	rs := &hostsync.Rsync{}
	stage := func(m hostsync.Method) *hostsync.Stage {
		return &hostsync.Stage{Name: "bench", Hosts: hosts, Method: m, Concurrency: 16, Timeout: 10 * time.Minute}
	}
	if rep, err := stage(&release.Marked{Method: rs, Release: r1, Store: s}).Sync(ctx, hostsync.Job{Source: r1.Tree()}); err != nil {
		b.Fatal(err, rep.Failed())
	}
	// Each sync iteration flips the hosts between r1 and r2, so there is
	// always one changed file to send.
	cur := r1
	flip := func() *release.Release {
		if cur == r1 {
			cur = r2
		} else {
			cur = r1
		}
		return cur
	}
	b.Run("sync-one-file", func(b *testing.B) {
		for b.Loop() {
			r := flip()
			if _, err := stage(&release.Marked{Method: rs, Release: r, Store: s}).Sync(ctx, hostsync.Job{Source: r.Tree(), Paths: files}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rsync-one-file", func(b *testing.B) {
		for b.Loop() {
			r := flip()
			if _, err := stage(rs).Sync(ctx, hostsync.Job{Source: r.Tree(), Paths: files}); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The hosts' markers name the release of the last marked sync.
	if _, err := stage(&release.Marked{Method: rs, Release: cur, Store: s}).Sync(ctx, hostsync.Job{Source: cur.Tree(), Paths: files}); err != nil {
		b.Fatal(err)
	}
	b.Run("check", func(b *testing.B) {
		check := stage(&release.HoldsMethod{Verify: &hostsync.Verify{}, Release: cur})
		for b.Loop() {
			if _, err := check.Sync(ctx, hostsync.Job{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// stagingTree is staging with n more files in core.
func stagingTree(b *testing.B, n int) string {
	dir := staging(b)
	core := filepath.Join(dir, "php-1.0")
	for i := range n {
		write(b, filepath.Join(core, fmt.Sprintf("includes/f%03d/file%d.php", i/100, i)), fmt.Sprintf("<?php\n// file %d\n", i), 0o644)
	}
	git(b, core, "add", ".")
	git(b, core, "commit", "-q", "-m", "many files")
	return dir
}
