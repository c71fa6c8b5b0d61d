package hostsync

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The benchmark tree is MediaWiki-sized: 21,000 files and about 215 MB in
// a few hundred directories. It is made once under
// $TMPDIR/jouncebot-bench and reused; the 50 targets are hard-linked
// copies (cp -al), so they cost directories, not 10 GB. Only -bench builds
// it.
const (
	benchFiles   = 21000
	benchTargets = 50
)

func benchDir(b *testing.B) (tree string, targets []string) {
	b.Helper()
	needRsync(b)
	root := filepath.Join(os.TempDir(), "jouncebot-bench")
	tree = filepath.Join(root, "tree")
	// The tree and its targets are shared with any other run of this
	// benchmark on the machine (another checkout's test suite), and each
	// iteration changes them: one run at a time.
	if err := os.MkdirAll(root, 0o755); err != nil {
		b.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(root, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { lock.Close() })
	if _, err := os.Stat(filepath.Join(root, "tree.done")); err != nil {
		b.Logf("making a %d-file tree in %s (once)", benchFiles, tree)
		os.RemoveAll(tree)
		os.RemoveAll(filepath.Join(root, "targets"))
		makeBenchTree(b, tree)
		writeFile(b, filepath.Join(root, "tree.done"), "")
	}
	for i := range benchTargets {
		t := filepath.Join(root, "targets", fmt.Sprintf("mw%02d", i+1))
		targets = append(targets, t)
		if _, err := os.Stat(t + ".done"); err == nil {
			continue
		}
		os.RemoveAll(t)
		if err := os.MkdirAll(filepath.Dir(t), 0o755); err != nil {
			b.Fatal(err)
		}
		if out, err := exec.Command("cp", "-al", tree, t).CombinedOutput(); err != nil {
			b.Fatalf("cp -al: %v: %s", err, out)
		}
		writeFile(b, t+".done", "")
	}
	return tree, targets
}

// makeBenchTree writes a tree shaped like MediaWiki: many small PHP files,
// some large ones (i18n JSON, minified JS, images).
func makeBenchTree(b *testing.B, dir string) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 2<<20)
	for i := range buf {
		buf[i] = byte(' ' + r.IntN(95))
	}
	total := 0
	for i := range benchFiles {
		size := 2000 + r.IntN(10000)
		if i%50 == 0 {
			size = 100_000 + r.IntN(200_000)
		}
		p := filepath.Join(dir, fmt.Sprintf("extensions/Ext%03d/includes/sub%d/File%05d.php", i%300, i%7, i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		off := r.IntN(len(buf) - size)
		if err := os.WriteFile(p, buf[off:off+size], 0o644); err != nil {
			b.Fatal(err)
		}
		total += size
	}
	writeFile(b, filepath.Join(dir, ".git", "HEAD"), "ref: refs/heads/master\n")
	b.Logf("tree: %d files, %d MB", benchFiles, total>>20)
}

func writeFile(b *testing.B, p, s string) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		b.Fatal(err)
	}
}

// changeOneFile replaces one file with new content (a new inode, as git
// checkout does, so the hard-linked targets keep the old one).
func changeOneFile(b *testing.B, tree string, n int) string {
	rel := "extensions/Ext042/includes/sub0/File05142.php"
	p := filepath.Join(tree, rel)
	tmp := p + ".new"
	writeFile(b, tmp, fmt.Sprintf("<?php // change %d at %s\n", n, time.Now()))
	if err := os.Rename(tmp, p); err != nil {
		b.Fatal(err)
	}
	return rel
}

// BenchmarkSyncOneChange syncs a MediaWiki-sized tree with one changed
// file to 50 targets that hold the previous tree, four ways, and reports
// each as a metric in seconds:
//
//   - jouncebot-tree-s: Stage.Sync of the whole tree (each rsync walks all
//     21,000 files on both sides);
//   - jouncebot-file-s: Stage.Sync of the changed path only (the sync-file
//     case, what the engine does for a small change);
//   - xargs-tree-s: the same rsync commands run by xargs -P at the same
//     concurrency;
//   - sequential-tree-s: the same rsync commands one target after another.
//
// The machine is shared, so each iteration runs all four in a rotating
// order and load changes hit them alike, and the CPU time of the child
// processes is reported too (*-cpu-s): the work done, which load does not
// change.
func BenchmarkSyncOneChange(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 215 MB tree")
	}
	tree, targets := benchDir(b)
	hosts := make([]Host, len(targets))
	for i, t := range targets {
		hosts[i] = Host{Name: filepath.Base(t), Dest: t}
	}
	// Exactly the command Stage.Sync runs, --timeout from the stage's
	// host timeout included.
	args := append(append([]string{"rsync"}, scapArgs...), "--timeout=600")
	for _, conc := range []int{8, 50} {
		b.Run(fmt.Sprintf("c=%d", conc), func(b *testing.B) {
			st := &Stage{Name: "bench", Hosts: hosts, Method: &Rsync{}, Concurrency: conc, Timeout: 10 * time.Minute}
			xargs := fmt.Sprintf("xargs -P %d -I{} %s %s/ {}/", conc, shellJoin(args), tree)
			variants := []struct {
				metric string
				run    func(rel string) error
			}{
				{"jouncebot-tree-s", func(string) error {
					_, err := st.Sync(b.Context(), Job{Source: tree})
					return err
				}},
				{"jouncebot-file-s", func(rel string) error {
					_, err := st.Sync(b.Context(), Job{Source: tree, Paths: []string{rel}})
					return err
				}},
				{"xargs-tree-s", func(string) error {
					cmd := exec.Command("/bin/sh", "-c", xargs)
					cmd.Stdin = strings.NewReader(strings.Join(targets, "\n") + "\n")
					if out, err := cmd.CombinedOutput(); err != nil {
						return fmt.Errorf("%v: %s", err, out)
					}
					return nil
				}},
				{"sequential-tree-s", func(string) error {
					for _, t := range targets {
						if out, err := exec.Command(args[0], append(args[1:], tree+"/", t+"/")...).CombinedOutput(); err != nil {
							return fmt.Errorf("%v: %s", err, out)
						}
					}
					return nil
				}},
			}
			// Warm the inode cache so the first variant does not pay for it.
			if err := variants[2].run(""); err != nil {
				b.Fatal(err)
			}
			total := make([]time.Duration, len(variants))
			cpu := make([]time.Duration, len(variants))
			n := 0
			for b.Loop() {
				for k := range variants {
					i := (k + n) % len(variants)
					rel := changeOneFile(b, tree, n*len(variants)+k)
					start, startCPU := time.Now(), childCPU(b)
					if err := variants[i].run(rel); err != nil {
						b.Fatalf("%s: %v", variants[i].metric, err)
					}
					total[i] += time.Since(start)
					cpu[i] += childCPU(b) - startCPU
				}
				n++
			}
			for i, v := range variants {
				b.ReportMetric(total[i].Seconds()/float64(n), v.metric)
				b.ReportMetric(cpu[i].Seconds()/float64(n), strings.TrimSuffix(v.metric, "-s")+"-cpu-s")
			}
		})
	}
}

// childCPU is the user and system time of all finished child processes
// (rsync, and xargs with its children): the work done, whatever else the
// shared machine is running.
func childCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// BenchmarkSyncOneFile is the small change of issue 11's benchmark (a):
// one changed file of the MediaWiki-sized tree to 50 targets, the bot's
// Stage.Sync next to the floor of the same work done by rsync alone,
// xargs -P running the commands at the same concurrency:
//
//   - jouncebot-s: Stage.Sync with the changed path (an existing file, so
//     the bot runs rsync --files-from, its list on stdin);
//   - xargs-files-from-s: the same rsync --files-from --relative commands
//     (the floor);
//   - xargs-rules-s: the include-rules command the bot runs instead when a
//     path is to be deleted or is a directory, for its cost.
//
// Each iteration runs the three in a rotating order, each after its own
// edit of the file, so the load of the shared machine hits them alike;
// *-cpu-s is the CPU time of the child processes (the work done, which
// load does not change). ratio is the bot's time over the floor's, and
// cpu-ratio the same for CPU time.
func BenchmarkSyncOneFile(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 215 MB tree")
	}
	tree, targets := benchDir(b)
	hosts := make([]Host, len(targets))
	for i, t := range targets {
		hosts[i] = Host{Name: filepath.Base(t), Dest: t}
	}
	rel := "extensions/Ext042/includes/sub0/File05142.php"
	lists := b.TempDir()
	filesFrom := filepath.Join(lists, "files-from")
	rules := filepath.Join(lists, "rules")
	writeFile(b, filesFrom, rel+"\x00")
	writeFile(b, rules, pathFilter([]string{rel}))
	base := append([]string{"rsync"}, scapArgs...)
	floor := func(conc int, extra ...string) string {
		args := append(append(append([]string{}, base...), extra...), "--timeout=600", "--", tree+"/")
		return fmt.Sprintf("xargs -P %d -I{} %s {}/", conc, shellJoin(args))
	}
	for _, conc := range []int{8, 50} {
		b.Run(fmt.Sprintf("c=%d", conc), func(b *testing.B) {
			st := &Stage{Name: "bench", Hosts: hosts, Method: &Rsync{}, Concurrency: conc, Timeout: 10 * time.Minute}
			xargs := func(line string) func() error {
				return func() error {
					cmd := exec.Command("/bin/sh", "-c", line)
					cmd.Stdin = strings.NewReader(strings.Join(targets, "\n") + "\n")
					if out, err := cmd.CombinedOutput(); err != nil {
						return fmt.Errorf("%v: %s", err, out)
					}
					return nil
				}
			}
			variants := []struct {
				metric string
				run    func() error
			}{
				{"jouncebot-s", func() error {
					_, err := st.Sync(b.Context(), Job{Source: tree, Paths: []string{rel}})
					return err
				}},
				{"xargs-files-from-s", xargs(floor(conc, "--files-from="+filesFrom, "--from0", "--relative", "--recursive"))},
				{"xargs-rules-s", xargs(floor(conc, "--recursive", "--delete", "--from0", "--include-from="+rules, "--exclude=*"))},
			}
			total := make([]time.Duration, len(variants))
			cpu := make([]time.Duration, len(variants))
			n := 0
			for b.Loop() {
				for k := range variants {
					i := (k + n) % len(variants)
					changeOneFile(b, tree, n*len(variants)+k)
					start, startCPU := time.Now(), childCPU(b)
					if err := variants[i].run(); err != nil {
						b.Fatalf("%s: %v", variants[i].metric, err)
					}
					total[i] += time.Since(start)
					cpu[i] += childCPU(b) - startCPU
				}
				n++
			}
			for i, v := range variants {
				b.ReportMetric(total[i].Seconds()/float64(n), v.metric)
				b.ReportMetric(cpu[i].Seconds()/float64(n), strings.TrimSuffix(v.metric, "-s")+"-cpu-s")
			}
			b.ReportMetric(total[0].Seconds()/total[1].Seconds(), "ratio")
			b.ReportMetric(cpu[0].Seconds()/cpu[1].Seconds(), "cpu-ratio")
		})
	}
}
