package readiness_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/deploy/gerrittest"
)

// benchFiles is the size of the MediaWiki-shaped tree, as in the hostsync
// benchmarks (deploy/hostsync/bench_test.go), whose generator this follows.
const benchFiles = 21000

// makeBenchTree writes benchFiles files shaped like MediaWiki (many small
// PHP files, one in fifty large) under dir/includes/big.
func makeBenchTree(b *testing.B, dir string) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 2<<20)
	for i := range buf {
		buf[i] = byte(' ' + r.IntN(95))
	}
	for i := range benchFiles {
		size := 2000 + r.IntN(10000)
		if i%50 == 0 {
			size = 100_000 + r.IntN(200_000)
		}
		p := filepath.Join(dir, benchPath(i))
		must(b, os.MkdirAll(filepath.Dir(p), 0o755))
		off := r.IntN(len(buf) - size)
		must(b, os.WriteFile(p, buf[off:off+size], 0o644))
	}
}

func benchPath(i int) string {
	return fmt.Sprintf("includes/big/Ext%03d/sub%d/File%05d.php", i%300, i%7, i)
}

// BenchmarkCheckWindow checks a window of n core patches on a live branch
// whose tree has 21,000 files (about 200 MB), with a local security patch in
// staging, against the fake Gerrit: each iteration is one whole check
// (Gerrit reads, the fetch of the patches, the dry merges).
func BenchmarkCheckWindow(b *testing.B) {
	w := newWorld(b, func(bare string) {
		work := b.TempDir()
		run(b, "", "clone", "-q", "-b", CoreBranch4, bare, work)
		// 21,000 new objects would start a detached "git gc --auto"
		// after the commit, still writing here when the benchmark's
		// temporary directory is removed.
		run(b, work, "config", "gc.auto", "0")
		makeBenchTree(b, work)
		run(b, work, "add", "-A")
		run(b, work, "commit", "-q", "-m", "A MediaWiki-sized tree")
		run(b, work, "push", "-q", "origin", "HEAD:refs/heads/"+CoreBranch4)
	})
	core4 := filepath.Join(w.sb.Staging, "php-"+Version4)
	must(b, os.WriteFile(filepath.Join(core4, benchPath(7)), []byte("<?php\n// SECURITY: local fix\n"), 0o644))
	run(b, core4, "commit", "-q", "-am", "SECURITY: local fix (T9002)")
	var changes []int
	for i := range 12 {
		changes = append(changes, w.upload("bob", CoreBranch4, fmt.Sprintf("Fix %d", i),
			gerrittest.File{Path: benchPath(1000 + i*97), Content: fmt.Sprintf("<?php\n// fix %d\n", i)}))
	}
	for _, n := range []int{1, 3, 6, 12} {
		b.Run(fmt.Sprintf("patches=%d", n), func(b *testing.B) {
			for _, c := range changes {
				w.book.Dequeue(c, "bob", w.now)
			}
			w.queue(w.win, "bob", changes[:n]...)
			b.ResetTimer()
			for b.Loop() {
				res, err := w.checker.Check(context.Background(), w.win)
				if err != nil {
					b.Fatal(err)
				}
				if _, blocked := res.Count(); blocked > 0 {
					b.Fatalf("blocked: %+v", res)
				}
			}
		})
	}
}

// BenchmarkStalledFetch checks a window whose fetch hangs, with a git
// timeout of 1 s: each iteration is the whole check, up to the report of
// the timeout (it should take little more than the timeout).
func BenchmarkStalledFetch(b *testing.B) {
	w := newWorld(b)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	b.Cleanup(srv.Close)
	w.checker.Gatherer.GitURL = func(p string) string { return srv.URL + "/" + p }
	w.checker.Gatherer.GitTimeout = time.Second
	n := w.sb.Changes["core"]
	w.queue(w.win, "bob", n)
	for b.Loop() {
		res, err := w.checker.Check(context.Background(), w.win)
		if err != nil {
			b.Fatal(err)
		}
		if p, _ := res.Patch(n); p.Status != "blocked" || p.Findings[len(p.Findings)-1].Kind != "timeout" {
			b.Fatalf("not reported as a timeout: %+v", p)
		}
	}
}
