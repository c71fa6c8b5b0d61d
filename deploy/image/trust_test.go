package image_test

import (
	"archive/tar"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/jouncebot/jouncebot/deploy/image"
	"github.com/jouncebot/jouncebot/deploy/release"
)

// editRecord rewrites the image recorded for repo next to a release, the
// way a hand edit, a restore from backup or another tool would.
func editRecord(t testing.TB, r *release.Release, repo string, edit func(rec map[string]string)) {
	t.Helper()
	p := filepath.Join(r.Dir, "image.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m[repo] == nil {
		t.Fatalf("no record of %s in %s", repo, b)
	}
	edit(m[repo])
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	write(t, p, string(b), 0o644)
}

// pushBaseFiles pushes a base image holding files to repository base/os
// of reg and returns its reference by digest.
func pushBaseFiles(t testing.TB, reg *testRegistry, tag string, files map[string]string) string {
	t.Helper()
	img := baseImage(t, files)
	ref, _ := name.ParseReference(reg.Host+"/base/os:"+tag, name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	reg.Received()
	return reg.Host + "/base/os@" + d.String()
}

// A recorded digest is trusted only when the image it names says it holds
// that release: a record naming another release's image (edited, restored
// from another release's directory) gets the release built, never the
// other release's image returned.
func TestRecordNamingAnotherImageNotTrusted(t *testing.T) {
	ctx := context.Background()
	reg, w := newRegistry(t), newWorld(t)
	c := appConfig(reg)
	r1 := w.freeze(nil)
	i1, err := w.builder(c).Image(ctx, r1, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.commit("php-1.0", "includes/Hooks.php", "<?php\n// v2\n")
	r2 := w.freeze(r1)
	if _, err := w.builder(c).Image(ctx, r2, r1); err != nil {
		t.Fatal(err)
	}
	editRecord(t, r2, c.Repository, func(rec map[string]string) { rec["digest"] = i1.Digest })
	got, err := w.builder(c).Image(ctx, r2, r1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest == i1.Digest {
		t.Fatalf("release %s got the image of release %s", r2.ID, r1.ID)
	}
	if d := cmp.Diff(want(t, r2, image.DefaultRoot), flatten(t, reg.remoteImage(t, got.Ref))); d != "" {
		t.Errorf("image filesystem (-want +got):\n%s", d)
	}
}

// The previous release's image is built on only when it says it was
// built on this base: a record that claims the base (edited) but names an
// image on another base gives a full image on the configured base.
func TestPreviousImageOnAnotherBaseNotReused(t *testing.T) {
	ctx := context.Background()
	reg, w := newRegistry(t), newWorld(t)
	base1 := pushBaseFiles(t, reg, "1", map[string]string{"etc/os-release": "ID=one\n"})
	base2 := pushBaseFiles(t, reg, "2", map[string]string{"etc/os-release": "ID=two\n"})
	repo := reg.Host + "/mediawiki/app"
	r1 := w.freeze(nil)
	if _, err := w.builder(image.Config{Repository: repo, Base: base1, Insecure: true}).Image(ctx, r1, nil); err != nil {
		t.Fatal(err)
	}
	editRecord(t, r1, repo, func(rec map[string]string) { rec["base"] = base2 })
	w.commit("php-1.0", "includes/Hooks.php", "<?php\n// v2\n")
	r2 := w.freeze(r1)
	got, err := w.builder(image.Config{Repository: repo, Base: base2, Insecure: true}).Image(ctx, r2, r1)
	if err != nil {
		t.Fatal(err)
	}
	wantFS := want(t, r2, image.DefaultRoot)
	wantFS["etc"] = node{Type: tar.TypeDir, Mode: 0o755}
	wantFS["etc/os-release"] = node{Type: tar.TypeReg, Mode: 0o644, Content: "ID=two\n"}
	if d := cmp.Diff(wantFS, flatten(t, reg.remoteImage(t, got.Ref))); d != "" {
		t.Errorf("image filesystem (-want +got):\n%s", d)
	}
	if !got.Full {
		t.Errorf("built on an image of another base: %+v", got)
	}
}

// The base image's own files under the root are not part of the release:
// the release tree replaces the root directory whole.
func TestBaseFilesUnderRootHidden(t *testing.T) {
	ctx := context.Background()
	reg, w := newRegistry(t), newWorld(t)
	base := pushBaseFiles(t, reg, "1", map[string]string{
		"etc/os-release":                     "ID=test\n",
		"srv/mediawiki/stale.php":            "<?php // from the base\n",
		"srv/mediawiki/wmf-config/Local.php": "<?php // from the base\n",
	})
	c := image.Config{Repository: reg.Host + "/mediawiki/app", Base: base, Insecure: true}
	r1 := w.freeze(nil)
	i1, err := w.builder(c).Image(ctx, r1, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.commit("php-1.0", "includes/Hooks.php", "<?php\n// v2\n")
	r2 := w.freeze(r1)
	i2, err := w.builder(c).Image(ctx, r2, r1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		img image.Image
		rel *release.Release
	}{{i1, r1}, {i2, r2}} {
		wantFS := want(t, tc.rel, image.DefaultRoot)
		wantFS["etc"] = node{Type: tar.TypeDir, Mode: 0o755}
		wantFS["etc/os-release"] = node{Type: tar.TypeReg, Mode: 0o644, Content: "ID=test\n"}
		if d := cmp.Diff(wantFS, flatten(t, reg.remoteImage(t, tc.img.Ref))); d != "" {
			t.Errorf("image of %s (-want +got):\n%s", tc.rel.ID, d)
		}
	}
	if i2.Full {
		t.Errorf("second image not built on the first: %s", i2.Why)
	}
}

// A directory named like a whiteout would delete a path of the layers
// below instead of holding files: the release is refused, as a file so
// named is.
func TestWhiteoutNamedDirectoryRefused(t *testing.T) {
	reg, w := newRegistry(t), newWorld(t)
	w.commit("", "docroot/.wh.cache/x.html", "<html></html>\n")
	r1 := w.freeze(nil)
	_, err := w.builder(appConfig(reg)).Image(context.Background(), r1, nil)
	if err == nil || !strings.Contains(err.Error(), "docroot/.wh.cache/x.html") {
		t.Fatalf("Image = %v, want the path refused", err)
	}
}

// A release whose manifest names a path outside its tree (a damaged or
// edited manifest.json) is refused: its files would land outside the root
// and be read from outside the tree.
func TestManifestPathOutsideTreeRefused(t *testing.T) {
	reg, w := newRegistry(t), newWorld(t)
	r1 := w.freeze(nil)
	write(t, filepath.Join(r1.Dir, "outside"), "not the release\n", 0o644)
	m := *r1.Manifest
	m.Entries = append(m.Entries, release.Entry{Path: "../outside", Mode: "100644", Object: "1"})
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(r1.Dir, "manifest.json"), string(b), 0o644)
	r, err := (&release.Store{Dir: w.store.Dir}).Open(r1.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.builder(appConfig(reg)).Image(context.Background(), r, nil)
	if err == nil || !strings.Contains(err.Error(), "../outside") {
		t.Fatalf("Image = %v, want the path refused", err)
	}
}

// A repository or base written as a URL with credentials is refused
// without quoting the password.
func TestConfigCredentialsNotQuoted(t *testing.T) {
	const pwd = "s3cret-Pa55"
	for _, c := range []image.Config{
		{Repository: "deploy:" + pwd + "@registry.example.org/app"},
		{Repository: "https://deploy:" + pwd + "@registry.example.org/app"},
		{Repository: "registry.example.org/app", Base: "deploy:" + pwd + "@registry.example.org/php@sha256:" + strings.Repeat("a", 64)},
		{Repository: "registry.example.org/app", Base: "https://deploy:" + pwd + "@registry.example.org/php:8.3"},
	} {
		_, err := image.New(c, t.TempDir())
		if err == nil || strings.Contains(err.Error(), pwd) || !strings.Contains(err.Error(), "auth file") {
			t.Errorf("New(%s, %s) = %v", c.Repository, c.Base, err)
		}
	}
}

// The layers a build left when its process died are removed by the next
// New, even when the new process has the same process id (a container's
// first process always does).
func TestLeftoversOfSamePidRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "releases")
	left := filepath.Join(dir, fmt.Sprintf(".image-%d-123", os.Getpid()))
	write(t, filepath.Join(left, "layer-1"), strings.Repeat("x", 4096), 0o644)
	if _, err := image.New(image.Config{Repository: "registry.example.org/app"}, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("%s is still there (%v)", left, err)
	}
}

// TestHelperNew is the second process of TestOtherProcessKeepsBuild: it
// makes a Builder on the releases directory it is given.
func TestHelperNew(t *testing.T) {
	dir := os.Getenv("JOUNCEBOT_IMAGE_HELPER_DIR")
	if dir == "" {
		t.Skip("run by TestOtherProcessKeepsBuild")
	}
	repo := os.Getenv("JOUNCEBOT_IMAGE_HELPER_REPO")
	if repo == "" {
		repo = "registry.example.org/app"
	}
	b, err := image.New(image.Config{Repository: repo, Insecure: true}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if id := os.Getenv("JOUNCEBOT_IMAGE_HELPER_BUILD"); id != "" {
		r, err := (&release.Store{Dir: dir}).Open(id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Image(context.Background(), r, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// The layers of a build whose process was killed are removed when the
// next Builder is made on the releases directory.
func TestKilledBuildLeftoversRemoved(t *testing.T) {
	reg, w := newRegistry(t), newWorld(t)
	r1 := w.freeze(nil)
	started, release := holdUploads(reg)
	defer close(release)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperNew$", "-test.count=1")
	cmd.Env = append(os.Environ(), "JOUNCEBOT_IMAGE_HELPER_DIR="+w.store.Dir, "JOUNCEBOT_IMAGE_HELPER_BUILD="+r1.ID,
		"JOUNCEBOT_IMAGE_HELPER_REPO="+reg.Host+"/mediawiki/app")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-started:
	case err := <-exited:
		t.Fatalf("the build process ended before pushing: %v\n%s", err, out.String())
	}
	left, _ := filepath.Glob(filepath.Join(w.store.Dir, ".image-*"))
	if len(left) == 0 {
		t.Fatal("the build wrote no layers in the releases directory")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	w.builder(appConfig(reg))
	if left, _ := filepath.Glob(filepath.Join(w.store.Dir, ".image-*")); len(left) != 0 {
		t.Errorf("left by the killed build: %q", left)
	}
}

// appConfig is the configuration of a Builder pushing to reg's
// mediawiki/app.
func appConfig(reg *testRegistry) image.Config {
	return image.Config{Repository: reg.Host + "/mediawiki/app", Insecure: true}
}

// onUpload calls f (once) when the first blob upload reaches reg, before
// reg sees it.
func onUpload(reg *testRegistry, f func()) {
	var once sync.Once
	hold := func(req *http.Request) {
		if req.Method == http.MethodPost && strings.Contains(req.URL.Path, "/blobs/uploads/") {
			once.Do(f)
		}
	}
	reg.before.Store(&hold)
}

// holdUploads holds every blob upload to reg until release is closed;
// started is closed when the first one arrives.
func holdUploads(reg *testRegistry) (started, release chan struct{}) {
	started, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	hold := func(req *http.Request) {
		if req.Method == http.MethodPost && strings.Contains(req.URL.Path, "/blobs/uploads/") {
			once.Do(func() { close(started) })
			<-release
		}
	}
	reg.before.Store(&hold)
	return started, release
}

// A second process starting on the same releases directory (another
// jouncebot, a command-line build) while a build pushes does not remove
// that build's layers.
func TestOtherProcessKeepsBuild(t *testing.T) {
	ctx := context.Background()
	reg, w := newRegistry(t), newWorld(t)
	r1 := w.freeze(nil)
	b := w.builder(appConfig(reg))
	started, release := holdUploads(reg)
	type result struct {
		img image.Image
		err error
	}
	done := make(chan result, 1)
	go func() {
		img, err := b.Image(ctx, r1, nil)
		done <- result{img, err}
	}()
	<-started
	// Another Builder of this process, then another process.
	w.builder(image.Config{Repository: reg.Host + "/mediawiki/other", Insecure: true})
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperNew$", "-test.count=1")
	cmd.Env = append(os.Environ(), "JOUNCEBOT_IMAGE_HELPER_DIR="+w.store.Dir)
	out, err := cmd.CombinedOutput()
	close(release)
	if err != nil {
		t.Fatalf("second process: %v\n%s", err, out)
	}
	res := <-done
	if res.err != nil {
		t.Fatalf("the build failed after another process started: %v", res.err)
	}
	if d := cmp.Diff(want(t, r1, image.DefaultRoot), flatten(t, reg.remoteImage(t, res.img.Ref))); d != "" {
		t.Errorf("image filesystem (-want +got):\n%s", d)
	}
}

// applyOCI is the filesystem a runtime following the OCI image spec
// builds from an image's layers, bottom first: a layer's whiteouts
// (.wh.<name>, and .wh..wh..opq for a directory's lower contents) apply
// to the layers below it only; an entry replaces what a path held unless
// both are directories; an entry under a path that is not a directory
// is an error. It does not share go-containerregistry's mutate.Extract's
// shortcuts (which reads layers top first).
func applyOCI(t testing.TB, img v1.Image) map[string]node {
	t.Helper()
	fs := map[string]node{}
	drop := func(p string, self bool) {
		for k := range fs {
			if (self && k == p) || strings.HasPrefix(k, p+"/") {
				delete(fs, k)
			}
		}
	}
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range ls {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		type entry struct {
			name string
			n    node
		}
		var entries []entry
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			n := node{Type: h.Typeflag, Mode: h.Mode & 0o7777, Content: h.Linkname}
			if h.Typeflag == tar.TypeReg {
				b, err := io.ReadAll(tr)
				if err != nil {
					t.Fatal(err)
				}
				n.Content = string(b)
			}
			entries = append(entries, entry{path.Clean(h.Name), n})
		}
		rc.Close()
		for _, e := range entries {
			switch base := path.Base(e.name); {
			case base == ".wh..wh..opq":
				drop(path.Dir(e.name), false)
			case strings.HasPrefix(base, ".wh."):
				drop(path.Join(path.Dir(e.name), strings.TrimPrefix(base, ".wh.")), true)
			}
		}
		for _, e := range entries {
			if strings.HasPrefix(path.Base(e.name), ".wh.") {
				continue
			}
			for d := path.Dir(e.name); d != "."; d = path.Dir(d) {
				if p, ok := fs[d]; ok && p.Type != tar.TypeDir {
					t.Errorf("layer %d: %s is under %s, which is not a directory", i, e.name, d)
				}
			}
			if old, ok := fs[e.name]; ok && !(old.Type == tar.TypeDir && e.n.Type == tar.TypeDir) {
				drop(e.name, true)
			}
			fs[e.name] = e.n
		}
	}
	return fs
}

// symlink replaces p (under the checkout repo of staging) by a symlink
// to target.
func (w *world) symlink(repo, p, target string) {
	w.t.Helper()
	full := filepath.Join(w.staging, repo, p)
	if err := os.RemoveAll(full); err != nil {
		w.t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Symlink(target, full); err != nil {
		w.t.Fatal(err)
	}
}

// A chain of releases, each built on the previous one's image, through
// every change of a path's kind and back (directory, file, symlink),
// removals and re-additions: each image, applied the way the OCI spec
// says, is exactly its release.
func TestChainOfKindChanges(t *testing.T) {
	ctx := context.Background()
	reg, w := newRegistry(t), newWorld(t)
	b := w.builder(appConfig(reg))
	steps := []func(){
		func() {},
		func() { // directory → symlink, directory → file, file → directory, a directory removed
			w.symlink("", "wmf-config/old", "../docroot")
			w.commit("", "docroot", "")
			w.commit("php-1.0", "bin", "", "bin", "#!/bin/sh\n", "includes/Hooks.php", "", "includes/Hooks.php/a.php", "<?php\n")
		},
		func() { // and back: symlink → directory, file → directory, directory → file, a directory re-added
			if err := os.Remove(filepath.Join(w.staging, "wmf-config/old")); err != nil {
				t.Fatal(err)
			}
			w.commit("", "wmf-config/old/New.php", "<?php\n// new\n", "docroot/other.html", "<html></html>\n")
			w.commit("php-1.0", "bin", "", "bin/run2", "#!/bin/sh\n", "includes/Hooks.php", "", "includes/Hooks.php", "<?php\n// back\n")
		},
		func() { // a file removed from a directory that stays, a file → symlink
			w.commit("", "wmf-config/Settings.php", "")
			w.symlink("php-1.0", "resources/café à.css", "../includes/Hooks.php")
			git(t, filepath.Join(w.staging, "php-1.0"), "add", "-A")
			git(t, filepath.Join(w.staging, "php-1.0"), "commit", "-q", "-m", "link")
		},
		func() { // the file re-added where it was whited out, the symlink a file again
			w.commit("", "wmf-config/Settings.php", "<?php\n$a = 2;\n")
			w.commit("php-1.0", "resources/café à.css", "", "resources/café à.css", "body{color:red}\n")
		},
		func() { // a symlink → directory holding a symlink
			w.symlink("php-1.0", "Hooks.php", "includes/Hooks.php")
			w.commit("php-1.0", "Hooks.php", "", "Hooks.php/x.php", "<?php\n")
			w.symlink("php-1.0", "Hooks.php/y.php", "x.php")
			git(t, filepath.Join(w.staging, "php-1.0"), "add", "-A")
			git(t, filepath.Join(w.staging, "php-1.0"), "commit", "-q", "-m", "dir")
		},
	}
	var prev *release.Release
	for i, step := range steps {
		step()
		git(t, w.staging, "add", "-A")
		git(t, w.staging, "commit", "-q", "--allow-empty", "-m", "step")
		r := w.freeze(prev)
		got, err := b.Image(ctx, r, prev)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if i > 0 && got.Full {
			t.Errorf("step %d: full image: %s", i, got.Why)
		}
		if d := cmp.Diff(want(t, r, image.DefaultRoot), applyOCI(t, reg.remoteImage(t, got.Ref))); d != "" {
			t.Errorf("step %d: image filesystem (-want +got):\n%s", i, d)
		}
		prev = r
	}
}

// The same tree gives the same image, whichever store froze it and
// whenever: two stagings with the same files (other commits, other
// times, other directories) give one digest.
func TestSameTreeSameDigest(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	var digests []string
	for range 2 {
		w := newWorld(t)
		r := w.freeze(nil)
		got, err := w.builder(appConfig(reg)).Image(ctx, r, nil)
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, got.Digest)
	}
	if digests[0] != digests[1] {
		t.Errorf("one tree, two images: %v", digests)
	}
}

// A call waiting for another build of the same Builder gives up when its
// context ends (a stage aborted), without waiting for that build.
func TestWaitingCallCancelled(t *testing.T) {
	reg, w := newRegistry(t), newWorld(t)
	r1 := w.freeze(nil)
	b := w.builder(appConfig(reg))
	started, release := holdUploads(reg)
	first := make(chan error, 1)
	go func() {
		_, err := b.Image(context.Background(), r1, nil)
		first <- err
	}()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := b.Image(ctx, r1, nil)
	close(release)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call = %v, want context.Canceled", err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

// A build whose context ends while it pushes leaves no layers behind.
func TestCancelledBuildLeavesNoLayers(t *testing.T) {
	reg, w := newRegistry(t), newWorld(t)
	r1 := w.freeze(nil)
	b := w.builder(appConfig(reg))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	onUpload(reg, cancel)
	if _, err := b.Image(ctx, r1, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Image = %v, want context.Canceled", err)
	}
	if left, _ := filepath.Glob(filepath.Join(w.store.Dir, ".image-*")); len(left) != 0 {
		t.Errorf("left by the cancelled build: %q", left)
	}
	if _, err := os.Stat(filepath.Join(r1.Dir, "image.json")); !os.IsNotExist(err) {
		t.Errorf("a cancelled build recorded an image (%v)", err)
	}
}

// A root with a directory named like a whiteout would delete a path of
// the base image instead of holding the release: refused.
func TestWhiteoutNamedRootRefused(t *testing.T) {
	_, err := image.New(image.Config{Repository: "registry.example.org/app", Root: "/srv/.wh.mediawiki"}, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "/srv/.wh.mediawiki") {
		t.Errorf("New = %v, want the root refused", err)
	}
}

// Odd but legal names (dots, a newline, a backslash, a leading dash, a
// path longer than a tar header holds, bytes that are not UTF-8) land
// where the release has them, in a full image and in a layer of changes.
func TestOddNames(t *testing.T) {
	ctx := context.Background()
	reg, w := newRegistry(t), newWorld(t)
	b := w.builder(appConfig(reg))
	long := strings.Repeat("d", 90) + "/" + strings.Repeat("e", 90) + "/" + strings.Repeat("f", 120) + ".php"
	odd := []string{"docroot/...", "docroot/..hidden", "docroot/.wh", "docroot/a\nb", `docroot/back\slash`, "docroot/-rf", "docroot/" + long, "docroot/latin1-\xe9.txt"}
	var files []string
	for _, p := range odd {
		files = append(files, p, "x "+p+"\n")
	}
	w.commit("", files...)
	r1 := w.freeze(nil)
	have := map[string]bool{}
	for _, e := range r1.Manifest.Entries {
		have[e.Path] = true
	}
	for _, p := range odd {
		if !have[p] {
			t.Fatalf("%q is not in the release", p)
		}
	}
	i1, err := b.Image(ctx, r1, nil)
	if err != nil {
		t.Fatal(err)
	}
	files = files[:0]
	for _, p := range odd {
		files = append(files, p, "y "+p+"\n")
	}
	w.commit("", files...)
	w.commit("", "docroot/...", "")
	r2 := w.freeze(r1)
	i2, err := b.Image(ctx, r2, r1)
	if err != nil {
		t.Fatal(err)
	}
	if i2.Full {
		t.Errorf("second image is full: %s", i2.Why)
	}
	for _, tc := range []struct {
		img image.Image
		rel *release.Release
	}{{i1, r1}, {i2, r2}} {
		if d := cmp.Diff(want(t, tc.rel, image.DefaultRoot), applyOCI(t, reg.remoteImage(t, tc.img.Ref))); d != "" {
			t.Errorf("image of %s (-want +got):\n%s", tc.rel.ID, d)
		}
	}
}

// A registry (or a proxy in front of it) whose refusal echoes the
// request's credentials does not get them into the error.
func TestEchoedCredentialsNotInError(t *testing.T) {
	const user, pwd = "deploy", "s3cret-Pa55"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodHead {
			http.NotFound(w, req) // nothing there yet: the push goes on to its uploads
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusUnauthorized)
		u, p, _ := req.BasicAuth()
		fmt.Fprintf(w, "<html>denied: Authorization: %s (user %s, password %s)</html>", req.Header.Get("Authorization"), u, p)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	authFile := filepath.Join(t.TempDir(), "auth.json")
	write(t, authFile, fmt.Sprintf(`{"auths": {%q: {"username": %q, "password": %q}}}`, host, user, pwd), 0o600)
	w := newWorld(t)
	r1 := w.freeze(nil)
	_, err := w.builder(image.Config{Repository: host + "/mediawiki/app", AuthFile: authFile, Insecure: true}).Image(context.Background(), r1, nil)
	if err == nil {
		t.Fatal("pushed to a registry that refuses everything")
	}
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + pwd))
	if strings.Contains(err.Error(), pwd) || strings.Contains(err.Error(), basic) {
		t.Errorf("error = %v", err)
	}
	if !strings.Contains(err.Error(), "refused access") {
		t.Errorf("error = %v, want the refusal said", err)
	}
}
