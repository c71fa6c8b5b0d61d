package image_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/jouncebot/jouncebot/deploy/image"
	"github.com/jouncebot/jouncebot/deploy/release"
)

// benchFiles is the size of the MediaWiki-shaped tree, as in the hostsync
// and readiness benchmarks, whose generator this follows.
const benchFiles = 21000

// benchWorld is a staging tree whose php-1.0 checkout holds benchFiles
// more files (about 215 MB: many small PHP files, one in fifty large),
// frozen as r1, then as r2 after a one-file commit.
func benchWorld(b *testing.B) (w *world, r1, r2 *release.Release) {
	w = newWorld(b)
	core := filepath.Join(w.staging, "php-1.0")
	// 21,000 new objects would start a detached "git gc --auto", still
	// writing when the benchmark's temporary directory is removed.
	git(b, core, "config", "gc.auto", "0")
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
		p := filepath.Join(core, fmt.Sprintf("extensions/Ext%03d/includes/sub%d/File%05d.php", i%300, i%7, i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		off := r.IntN(len(buf) - size)
		if err := os.WriteFile(p, buf[off:off+size], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	git(b, core, "-c", "core.looseCompression=1", "add", "-A")
	git(b, core, "commit", "-q", "-m", "A MediaWiki-sized tree")
	r1 = w.freeze(nil)
	w.commit("php-1.0", "extensions/Ext042/includes/sub0/File05142.php", "<?php // one change\n")
	r2 = w.freeze(r1)
	return w, r1, r2
}

// BenchmarkImageOneFileChange builds and pushes the image of a
// 21,000-file release whose previous release's image is in the registry,
// after a one-file change ("one-file": one small layer on top of the
// previous image), against building and pushing its full image ("full").
// Each reports the bytes and layers the registry received. The registry
// is go-containerregistry's, in process, with blobs on disk (see
// testRegistry); it is emptied before each iteration.
func BenchmarkImageOneFileChange(b *testing.B) {
	ctx := context.Background()
	w, r1, r2 := benchWorld(b)
	reg := newRegistry(b)
	builder, err := image.New(image.Config{Repository: reg.Host + "/mediawiki/app", Insecure: true}, w.store.Dir)
	if err != nil {
		b.Fatal(err)
	}
	report := func(b *testing.B, img image.Image) {
		b.ReportMetric(float64(img.BytesPushed), "pushed-bytes/op")
		b.ReportMetric(float64(img.LayersPushed), "pushed-layers/op")
	}
	b.Run("full", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			reg.Lose()
			b.StartTimer()
			img, err := builder.Image(ctx, r2, nil)
			if err != nil || !img.Full {
				b.Fatal(img, err)
			}
			report(b, img)
		}
	})
	b.Run("one-file", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			reg.Lose()
			if _, err := builder.Image(ctx, r1, nil); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			img, err := builder.Image(ctx, r2, r1)
			if err != nil || img.Full || img.LayersPushed != 1 {
				b.Fatal(img, err)
			}
			report(b, img)
		}
	})
}
