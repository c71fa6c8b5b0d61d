package release_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/hostsync/hostsynctest"
	"github.com/jouncebot/jouncebot/deploy/release"
)

// benchReleases freezes two releases of a staging tree of n files that
// differ in one file.
func benchReleases(b *testing.B, n int) (*release.Store, *release.Release, *release.Release) {
	b.Helper()
	if _, err := exec.LookPath("rsync"); err != nil {
		b.Skip("rsync is not installed")
	}
	ctx := context.Background()
	dir := stagingTree(b, n)
	s := &release.Store{Dir: filepath.Join(b.TempDir(), "releases"), Keep: 10}
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
	return s, r1, r2
}

// copies makes n copies of tree under root named prefix00…, hard linked
// (rsync replaces files, never writes into them).
func copies(b *testing.B, tree, root, prefix string, n int) []string {
	b.Helper()
	var out []string
	for i := range n {
		d := filepath.Join(root, fmt.Sprintf("%s%02d", prefix, i))
		if o, err := exec.Command("cp", "-al", tree, d).CombinedOutput(); err != nil {
			b.Fatalf("cp -al: %v: %s", err, o)
		}
		out = append(out, d)
	}
	return out
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// childCPU is the user and system time of this process (the engine's
// own work) and of all its finished child processes.
func childCPU(b *testing.B) time.Duration {
	var t time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if err := syscall.Getrusage(who, &ru); err != nil {
			b.Fatal(err)
		}
		t += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return t
}

// BenchmarkDeliver is the sync stage exactly as the engine runs it: a
// release with one changed file to 50 hosts, each host's marker checked
// and written in the same transfer (release.Marked over hostsync.Rsync,
// with the default protected paths), against the floor: xargs -P running
// plain rsync --files-from of that file (scap's options) at the same
// concurrency. Over ssh to a local sshd ("ssh") and to local directories
// ("local"); each side has its own 50 targets, flipped between the two
// releases every run, and each iteration runs both in a rotating order.
// *-cpu-s counts the CPU of the engine itself, rsync, ssh and the sshd
// sessions, *-self-cpu-s the Go process's own share of it; ratio and
// cpu-ratio are the engine over the floor (goal: ≤ 1.1).
//
// plain-stage-s is hostsync's Stage syncing the changed file with plain
// rsync, no marker: what the Go side adds to the floor by itself.
//
// "new-host" is a host with no marker: the engine sends it the whole
// release; the floor is rsync -a of the tree into an empty directory.
func BenchmarkDeliver(b *testing.B) {
	s, r1, r2 := benchReleases(b, 5000)
	srv := hostsynctest.SSHD(b)
	const hosts, conc = 50, 50
	changed := release.Diff(r1.Manifest, r2.Manifest)
	list := filepath.Join(b.TempDir(), "files-from")
	write(b, list, strings.Join(changed, "\x00")+"\x00", 0o644)
	for _, where := range []string{"ssh", "local"} {
		b.Run(where, func(b *testing.B) {
			root := b.TempDir()
			engineDirs := copies(b, r1.Tree(), root, "e", hosts)
			floorDirs := copies(b, r1.Tree(), root, "f", hosts)
			plainDirs := copies(b, r1.Tree(), root, "p", hosts)
			rs := &hostsync.Rsync{Protect: config.DefaultProtected}
			dest, e := func(d string) string { return d }, ""
			if where == "ssh" {
				rs.Rsh = srv.Rsh
				dest, e = func(d string) string { return "127.0.0.1:" + d }, "-e "+quote(srv.Rsh)+" "
			}
			var hs []hostsync.Host
			for _, d := range engineDirs {
				hs = append(hs, hostsync.Host{Name: filepath.Base(d), Dest: dest(d)})
			}
			st := &hostsync.Stage{Name: "bench", Hosts: hs, Concurrency: conc, Timeout: 10 * time.Minute}
			var phs []hostsync.Host
			for _, d := range plainDirs {
				phs = append(phs, hostsync.Host{Name: filepath.Base(d), Dest: dest(d)})
			}
			plain := &hostsync.Stage{Name: "bench", Hosts: phs, Concurrency: conc, Timeout: 10 * time.Minute, Method: &hostsync.Rsync{Rsh: rs.Rsh}}
			deliver := func(r *release.Release) error {
				st.Method = &release.Marked{Method: rs, Release: r, Store: s, FileLimit: 100}
				_, err := st.Sync(b.Context(), hostsync.Job{Source: r.Tree()})
				return err
			}
			if err := deliver(r1); err != nil { // the store learns what the hosts hold
				b.Fatal(err)
			}
			floor := func(r *release.Release) error {
				dst := "{}/"
				if where == "ssh" {
					dst = "127.0.0.1:{}/"
				}
				line := fmt.Sprintf("xargs -P %d -I{} rsync --archive --delete-delay --delay-updates --exclude=**/.git %s--files-from=%s --from0 --relative --recursive --timeout=600 -- %s/ %s",
					conc, e, quote(list), quote(r.Tree()), dst)
				cmd := exec.Command("/bin/sh", "-c", line)
				cmd.Stdin = strings.NewReader(strings.Join(floorDirs, "\n") + "\n")
				if out, err := cmd.CombinedOutput(); err != nil {
					return fmt.Errorf("%v: %s", err, out)
				}
				return nil
			}
			engineAt, floorAt, plainAt := r1, r1, r1
			other := func(r *release.Release) *release.Release {
				if r == r1 {
					return r2
				}
				return r1
			}
			variants := []struct {
				metric string
				run    func() error
			}{
				{"engine-s", func() error { engineAt = other(engineAt); return deliver(engineAt) }},
				{"floor-s", func() error { floorAt = other(floorAt); return floor(floorAt) }},
				{"plain-stage-s", func() error {
					plainAt = other(plainAt)
					_, err := plain.Sync(b.Context(), hostsync.Job{Source: plainAt.Tree(), Paths: changed})
					return err
				}},
			}
			wall := make([]time.Duration, len(variants))
			cpu := make([]time.Duration, len(variants))
			self := make([]time.Duration, len(variants))
			n := 0
			for b.Loop() {
				for k := range variants {
					i := (k + n) % len(variants)
					start, c0 := time.Now(), childCPU(b)+srv.ChildCPU()
					s0 := selfCPU(b)
					if err := variants[i].run(); err != nil {
						b.Fatalf("%s: %v", variants[i].metric, err)
					}
					self[i] += selfCPU(b) - s0
					wall[i] += time.Since(start)
					cpu[i] += childCPU(b) + srv.ChildCPU() - c0
				}
				n++
			}
			for i, v := range variants {
				b.ReportMetric(wall[i].Seconds()/float64(n), v.metric)
				b.ReportMetric(cpu[i].Seconds()/float64(n), strings.TrimSuffix(v.metric, "-s")+"-cpu-s")
				b.ReportMetric(self[i].Seconds()/float64(n), strings.TrimSuffix(v.metric, "-s")+"-self-cpu-s")
			}
			b.ReportMetric(wall[0].Seconds()/wall[1].Seconds(), "ratio")
			b.ReportMetric(cpu[0].Seconds()/cpu[1].Seconds(), "cpu-ratio")
			for _, d := range engineDirs { // every host holds exactly the release
				if l, _ := os.Readlink(filepath.Join(d, release.MarkerName)); l != engineAt.ID {
					b.Fatalf("%s: marker %q, want %s", d, l, engineAt.ID)
				}
			}
		})
	}
	b.Run("new-host", func(b *testing.B) {
		rs := &hostsync.Rsync{Rsh: srv.Rsh, Protect: config.DefaultProtected}
		root := b.TempDir()
		wall := make([]time.Duration, 2)
		cpu := make([]time.Duration, 2)
		n := 0
		for b.Loop() {
			for k := range 2 {
				i := (k + n) % 2
				d := filepath.Join(root, fmt.Sprintf("new%d-%d", n, i))
				start, c0 := time.Now(), childCPU(b)+srv.ChildCPU()
				var err error
				if i == 0 {
					m := &release.Marked{Method: rs, Release: r1, Store: s, FileLimit: 100}
					err = m.Sync(b.Context(), hostsync.Host{Name: "new", Dest: "127.0.0.1:" + d}, "", nil)
				} else {
					var out []byte
					out, err = exec.Command("rsync", "-a", "-e", srv.Rsh, r1.Tree()+"/", "127.0.0.1:"+d+"/").CombinedOutput()
					if err != nil {
						err = fmt.Errorf("%v: %s", err, out)
					}
				}
				if err != nil {
					b.Fatal(err)
				}
				wall[i] += time.Since(start)
				cpu[i] += childCPU(b) + srv.ChildCPU() - c0
				os.RemoveAll(d)
			}
			n++
		}
		b.ReportMetric(wall[0].Seconds()/float64(n), "engine-s")
		b.ReportMetric(wall[1].Seconds()/float64(n), "rsync-a-s")
		b.ReportMetric(cpu[0].Seconds()/float64(n), "engine-cpu-s")
		b.ReportMetric(cpu[1].Seconds()/float64(n), "rsync-a-cpu-s")
		b.ReportMetric(wall[0].Seconds()/wall[1].Seconds(), "ratio")
		b.ReportMetric(cpu[0].Seconds()/cpu[1].Seconds(), "cpu-ratio")
	})
}

// nopDeliverer transfers nothing and reports what a host holding the
// expected release would: the old claim deleted.
type nopDeliverer struct{}

func (nopDeliverer) Sync(context.Context, hostsync.Host, string, []string) error { return nil }

func (nopDeliverer) Deliver(_ context.Context, _ hostsync.Host, _ string, t hostsync.Transfer) ([]string, error) {
	for _, f := range t.Filters {
		// "+ /~jouncebot/<held>" is the second rule.
		if id, ok := strings.CutPrefix(f, "+ /"+hostsync.ClaimDir+"/"); ok && f != t.Filters[0] {
			return []string{"*deleting   " + hostsync.ClaimDir + "/" + id}, nil
		}
	}
	return nil, nil
}

// BenchmarkEngineCost is the engine's own cost per host of delivering a
// one-file release (what it knows of each host, the difference, the
// marker's check, the stage) with a transfer that does nothing, at 100,
// 1,000 and 5,000 hosts. Goal: flat, under 1 ms per host.
func BenchmarkEngineCost(b *testing.B) {
	s, r1, r2 := benchReleases(b, 5000)
	for _, n := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			var hs []hostsync.Host
			for i := range n {
				hs = append(hs, hostsync.Host{Name: fmt.Sprintf("mw%05d", i), Dest: fmt.Sprintf("mw%05d.eqiad.wmnet:/srv/mediawiki/", i)})
			}
			st := &hostsync.Stage{Name: "bench", Hosts: hs, Concurrency: 80, Timeout: time.Minute}
			cur := r1
			deliver := func(r *release.Release) {
				st.Method = &release.Marked{Method: nopDeliverer{}, Release: r, Store: s, FileLimit: 100}
				if _, err := st.Sync(b.Context(), hostsync.Job{Source: r.Tree()}); err != nil {
					b.Fatal(err)
				}
			}
			deliver(cur)
			for b.Loop() {
				if cur == r1 {
					cur = r2
				} else {
					cur = r1
				}
				deliver(cur)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/host")
		})
	}
}

// selfCPU is the user and system time of this process alone: the Go
// side of the engine, without rsync, ssh or the sshd sessions.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
