package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/jouncebot/jouncebot/deploy/image"
	"github.com/jouncebot/jouncebot/deploy/release"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// The registry of these tests is go-containerregistry's pkg/registry,
// served in process over real HTTP (httptest): it implements the same
// distribution API (blob uploads, manifests, HEAD, cross-repository
// mounts) as the distribution binary, which would add about 6 CPU-minutes
// of build to CI for no more coverage of this package. It is wrapped to
// count what it receives, to require basic auth, and to lose everything
// (a registry wiped or replaced).
type testRegistry struct {
	t    testing.TB
	srv  *httptest.Server
	Host string

	reg       atomic.Pointer[http.Handler]
	user, pwd string // basic auth required when set
	// before, when set, sees each request before the registry does (and
	// may hold it).
	before atomic.Pointer[func(*http.Request)]

	mu        sync.Mutex
	committed []string // digests of the blob uploads committed
	bytes     int64    // bytes of blob upload bodies
}

func newRegistry(t testing.TB) *testRegistry {
	r := &testRegistry{t: t}
	r.Lose()
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	r.Host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// Lose replaces the registry with an empty one at the same address.
func (r *testRegistry) Lose() {
	h := registry.New(registry.WithBlobHandler(registry.NewDiskBlobHandler(r.t.TempDir())), registry.Logger(log.New(io.Discard, "", 0)))
	r.reg.Store(&h)
}

func (r *testRegistry) serve(w http.ResponseWriter, req *http.Request) {
	if f := r.before.Load(); f != nil {
		(*f)(req)
	}
	if r.user != "" {
		if u, p, ok := req.BasicAuth(); !ok || u != r.user || p != r.pwd {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
	}
	upload := strings.Contains(req.URL.Path, "/blobs/uploads/")
	if upload && req.Body != nil {
		req.Body = &countingBody{ReadCloser: req.Body, r: r}
	}
	sw := &statusWriter{ResponseWriter: w}
	(*r.reg.Load()).ServeHTTP(sw, req)
	if d := req.URL.Query().Get("digest"); upload && d != "" && sw.status == http.StatusCreated {
		r.mu.Lock()
		r.committed = append(r.committed, d)
		r.mu.Unlock()
	}
}

// Received returns the digests of the blobs uploaded and the bytes sent
// in uploads since the last call.
func (r *testRegistry) Received() ([]string, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, n := r.committed, r.bytes
	r.committed, r.bytes = nil, 0
	slices.Sort(c)
	return c, n
}

type countingBody struct {
	io.ReadCloser
	r *testRegistry
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.r.mu.Lock()
	b.r.bytes += int64(n)
	b.r.mu.Unlock()
	return n, err
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// remoteImage reads an image back from the registry, as a puller would.
func (r *testRegistry) remoteImage(t testing.TB, ref string, auth ...remote.Option) v1.Image {
	t.Helper()
	n, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(n, auth...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func git(t testing.TB, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func write(t testing.TB, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// world is a staging tree the way the engine has it (a config checkout
// with a php-<version> checkout inside) and the release store it freezes
// into.
type world struct {
	t       testing.TB
	staging string
	store   *release.Store
}

func newWorld(t testing.TB) *world {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		testenv.Missing(t, "git is not installed")
	}
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "master")
	write(t, filepath.Join(dir, ".gitignore"), "/php-*\n", 0o644)
	write(t, filepath.Join(dir, "wmf-config/Settings.php"), "<?php\n$a = 1;\n", 0o644)
	write(t, filepath.Join(dir, "wmf-config/old/Legacy.php"), "<?php\n// legacy\n", 0o644)
	write(t, filepath.Join(dir, "wmf-config/CommonSettings.php"), "<?php\n", 0o644)
	write(t, filepath.Join(dir, "docroot/index.html"), "<html></html>\n", 0o644)
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "config")
	core := filepath.Join(dir, "php-1.0")
	git(t, dir, "init", "-q", "-b", "wmf/1.0", core)
	write(t, filepath.Join(core, "includes/Hooks.php"), "<?php\n", 0o644)
	write(t, filepath.Join(core, "bin/run"), "#!/bin/sh\n", 0o755)
	write(t, filepath.Join(core, "resources/café à.css"), "body{}\n", 0o644)
	if err := os.Symlink("includes/Hooks.php", filepath.Join(core, "Hooks.php")); err != nil {
		t.Fatal(err)
	}
	git(t, core, "add", ".")
	git(t, core, "commit", "-q", "-m", "core")
	return &world{t: t, staging: dir, store: &release.Store{Dir: filepath.Join(t.TempDir(), "releases"), Keep: 100}}
}

// freeze freezes staging's HEADs, linked from base.
func (w *world) freeze(base *release.Release) *release.Release {
	w.t.Helper()
	ctx := context.Background()
	m, err := release.Read(ctx, w.staging, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	r, err := w.store.Freeze(ctx, w.staging, m, base)
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// commit writes files (path, content pairs, in order; content ""
// removes the path) in the checkout repo of staging and commits them.
func (w *world) commit(repo string, files ...string) {
	w.t.Helper()
	dir := filepath.Join(w.staging, repo)
	for i := 0; i+1 < len(files); i += 2 {
		p, c := files[i], files[i+1]
		if c == "" {
			if err := os.RemoveAll(filepath.Join(dir, p)); err != nil {
				w.t.Fatal(err)
			}
			continue
		}
		write(w.t, filepath.Join(dir, p), c, 0o644)
	}
	git(w.t, dir, "add", "-A")
	git(w.t, dir, "commit", "-q", "-m", "change")
}

func (w *world) builder(c image.Config) *image.Builder {
	w.t.Helper()
	b, err := image.New(c, w.store.Dir)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

// node is one path of a flattened image filesystem.
type node struct {
	Type    byte
	Mode    int64
	Content string // a file's content, a symlink's target
}

// flatten is the filesystem a container of the image sees.
func flatten(t testing.TB, img v1.Image) map[string]node {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string]node{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
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
		out[strings.TrimSuffix(path.Clean(h.Name), "/")] = n
	}
}

// want is the filesystem a release's image must show under root: every
// file of the manifest with its mode and content, and its directories.
func want(t testing.TB, r *release.Release, root string) map[string]node {
	t.Helper()
	out := map[string]node{}
	root = strings.TrimPrefix(root, "/")
	for d := root; d != "."; d = path.Dir(d) {
		out[d] = node{Type: tar.TypeDir, Mode: 0o755}
	}
	for _, e := range r.Manifest.Entries {
		p := filepath.Join(r.Tree(), filepath.FromSlash(e.Path))
		n := node{Type: tar.TypeReg, Mode: 0o644}
		switch e.Mode {
		case "120000":
			target, err := os.Readlink(p)
			if err != nil {
				t.Fatal(err)
			}
			n = node{Type: tar.TypeSymlink, Mode: 0o777, Content: target}
		case "100755":
			n.Mode = 0o755
			fallthrough
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			n.Content = string(b)
		}
		out[path.Join(root, e.Path)] = n
		for d := path.Dir(e.Path); d != "."; d = path.Dir(d) {
			out[path.Join(root, d)] = node{Type: tar.TypeDir, Mode: 0o755}
		}
	}
	return out
}

func layerDigests(t testing.TB, img v1.Image) []string {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range m.Layers {
		out = append(out, l.Digest.String())
	}
	return out
}

// A full image is an OCI linux/amd64 image whose filesystem is exactly
// the release: paths, contents, modes from the manifest (not the umask),
// symlinks as symlinks.
func TestFullImageIsTheRelease(t *testing.T) {
	reg := newRegistry(t)
	w := newWorld(t)
	r1 := w.freeze(nil)
	b := w.builder(image.Config{Repository: reg.Host + "/mediawiki/app", Insecure: true})
	got, err := b.Image(context.Background(), r1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Built || !got.Full || got.Ref != reg.Host+"/mediawiki/app@"+got.Digest || !strings.HasPrefix(got.Digest, "sha256:") {
		t.Errorf("image = %+v", got)
	}
	img := reg.remoteImage(t, got.Ref)
	if d := cmp.Diff(want(t, r1, image.DefaultRoot), flatten(t, img)); d != "" {
		t.Errorf("image filesystem (-want +got):\n%s", d)
	}
	m, _ := img.Manifest()
	cfg, _ := img.ConfigFile()
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.Config.MediaType != "application/vnd.oci.image.config.v1+json" ||
		cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("manifest %s, config %s, platform %s/%s", m.MediaType, m.Config.MediaType, cfg.OS, cfg.Architecture)
	}
	for _, l := range m.Layers {
		if l.MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
			t.Errorf("layer media type %s", l.MediaType)
		}
	}
	// Split by top-level directory: docroot, php-1.0, wmf-config, and
	// the rest (.gitignore).
	if len(m.Layers) != 4 || got.LayersPushed != 4 || got.Layers != 4 {
		t.Errorf("%d layers, %d pushed, %d counted; want 4", len(m.Layers), got.LayersPushed, got.Layers)
	}
	received, n := reg.Received()
	if len(received) != 5 || got.BytesPushed < n {
		t.Errorf("registry received %d blobs, %d bytes; builder says %d bytes", len(received), n, got.BytesPushed)
	}
	if m.Annotations["org.jouncebot.release"] != r1.ID {
		t.Errorf("annotations %v", m.Annotations)
	}
}

// A one-file change is the previous image plus one layer: the registry
// receives that layer and the config, nothing else.
func TestOneFileChangePushesOneLayer(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	w := newWorld(t)
	b := w.builder(image.Config{Repository: reg.Host + "/mediawiki/app", Insecure: true})
	r1 := w.freeze(nil)
	i1, err := b.Image(ctx, r1, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg.Received()
	w.commit("php-1.0", "includes/Hooks.php", "<?php\n// v2\n")
	r2 := w.freeze(r1)
	i2, err := b.Image(ctx, r2, r1)
	if err != nil {
		t.Fatal(err)
	}
	if i2.Full || i2.LayersPushed != 1 || i2.Layers != 5 || i2.Digest == i1.Digest {
		t.Errorf("second image = %+v", i2)
	}
	img := reg.remoteImage(t, i2.Ref)
	layers := layerDigests(t, img)
	if d := cmp.Diff(layerDigests(t, reg.remoteImage(t, i1.Ref)), layers[:len(layers)-1]); d != "" {
		t.Errorf("the previous image's layers are not reused (-want +got):\n%s", d)
	}
	m, _ := img.Manifest()
	received, n := reg.Received()
	if d := cmp.Diff(sorted(layers[len(layers)-1], m.Config.Digest.String()), received); d != "" {
		t.Errorf("blobs received (-want +got):\n%s", d)
	}
	if n > 4096 || i2.BytesPushed > 4096 {
		t.Errorf("a one-file change sent %d bytes (builder says %d)", n, i2.BytesPushed)
	}
	if d := cmp.Diff(want(t, r2, image.DefaultRoot), flatten(t, img)); d != "" {
		t.Errorf("image filesystem (-want +got):\n%s", d)
	}
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

// Removed files and directories are OCI whiteouts in the new layer; a
// directory replaced by a file, and a file by a directory, come out
// right.
func TestDeletionsAreWhiteouts(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	w := newWorld(t)
	const root = "/srv/app"
	b := w.builder(image.Config{Repository: reg.Host + "/mediawiki/app", Root: root, Insecure: true})
	r1 := w.freeze(nil)
	if _, err := b.Image(ctx, r1, nil); err != nil {
		t.Fatal(err)
	}
	w.commit("",
		"wmf-config/old", "", // a whole directory
		"docroot/index.html", "", // the last file of a top-level directory
		"wmf-config/Settings.php", "")
	w.commit("php-1.0",
		"bin", "", // a directory becomes a file
		"bin", "#!/bin/sh\n",
		"includes/Hooks.php", "", // a file becomes a directory
		"includes/Hooks.php/a.php", "<?php\n",
		"resources/new/deep/x.json", "{}\n")
	r2 := w.freeze(r1)
	i2, err := b.Image(ctx, r2, r1)
	if err != nil {
		t.Fatal(err)
	}
	if i2.Full {
		t.Fatalf("not built on the previous image: %s", i2.Why)
	}
	img := reg.remoteImage(t, i2.Ref)
	if d := cmp.Diff(want(t, r2, root), flatten(t, img)); d != "" {
		t.Errorf("image filesystem (-want +got):\n%s", d)
	}
	ls, _ := img.Layers()
	top := tarNames(t, ls[len(ls)-1])
	for _, wh := range []string{"srv/app/wmf-config/.wh.old", "srv/app/.wh.docroot", "srv/app/wmf-config/.wh.Settings.php"} {
		if !slices.Contains(top, wh) {
			t.Errorf("the new layer has no whiteout %s: %q", wh, top)
		}
	}
	if slices.Contains(top, "srv/app/docroot/.wh.index.html") {
		t.Error("a file of a removed directory has a whiteout of its own")
	}
}

func tarNames(t testing.TB, l v1.Layer) []string {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var out []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.TrimSuffix(h.Name, "/"))
	}
}

// pushBase pushes a small base image to repository base/os of reg and
// returns its reference by digest and its layer's digest.
func pushBase(t testing.TB, reg *testRegistry) (byDigest, layer string) {
	t.Helper()
	tag := reg.Host + "/base/os:1.0"
	img := baseImage(t, map[string]string{"etc/os-release": "ID=test\n"})
	ref, _ := name.ParseReference(tag, name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	ls := layerDigests(t, img)
	reg.Received()
	return reg.Host + "/base/os@" + d.String(), ls[0]
}

// baseImage is an OCI linux/amd64 image of one layer holding files,
// with an environment variable in its config.
func baseImage(t testing.TB, files map[string]string) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if d := path.Dir(p); d != "." {
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755})
		}
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: 0o644, Size: int64(len(files[p]))})
		tw.Write([]byte(files[p]))
	}
	tw.Close()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "linux", Architecture: "amd64",
		RootFS: v1.RootFS{Type: "layers"}, Config: v1.Config{Env: []string{"BASE=1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.AppendLayers(img, l); err != nil {
		t.Fatal(err)
	}
	return mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
}

// A base named by digest is under the release tree: its files and its
// config stay, its layers are the image's first.
func TestBaseImageByDigest(t *testing.T) {
	reg := newRegistry(t)
	w := newWorld(t)
	base, baseLayer := pushBase(t, reg)
	b := w.builder(image.Config{Repository: reg.Host + "/mediawiki/app", Base: base, Insecure: true})
	r1 := w.freeze(nil)
	got, err := b.Image(context.Background(), r1, nil)
	if err != nil {
		t.Fatal(err)
	}
	img := reg.remoteImage(t, got.Ref)
	wantFS := want(t, r1, image.DefaultRoot)
	wantFS["etc"] = node{Type: tar.TypeDir, Mode: 0o755}
	wantFS["etc/os-release"] = node{Type: tar.TypeReg, Mode: 0o644, Content: "ID=test\n"}
	if d := cmp.Diff(wantFS, flatten(t, img)); d != "" {
		t.Errorf("image filesystem (-want +got):\n%s", d)
	}
	if ls := layerDigests(t, img); ls[0] != baseLayer || len(ls) != 5 {
		t.Errorf("layers %v, want the base's %s first", ls, baseLayer)
	}
	cfg, _ := img.ConfigFile()
	if !slices.Contains(cfg.Config.Env, "BASE=1") {
		t.Errorf("the base's config is lost: %+v", cfg.Config)
	}
	m, _ := img.Manifest()
	if m.Annotations["org.opencontainers.image.base.digest"] != strings.SplitN(base, "@", 2)[1] {
		t.Errorf("annotations %v", m.Annotations)
	}
	if got.LayersPushed != 4 {
		t.Errorf("%d layers pushed; the base's is already in the registry", got.LayersPushed)
	}
}

// Configurations that cannot give a reproducible image, or name no
// repository, are refused with a sentence saying what to write instead.
func TestConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		c    image.Config
		want string
	}{
		{image.Config{Repository: "registry.example.org/app", Base: "registry.example.org/php:8.3"},
			`the base image "registry.example.org/php:8.3" is named by a tag, which can point to another image tomorrow: name it by digest (repo@sha256:…)`},
		{image.Config{Repository: "registry.example.org/app", Base: "registry.example.org/php"}, "is named by a tag"},
		{image.Config{Repository: "registry.example.org/app", Base: "registry.example.org/php@sha256:abc"}, "not repo@sha256:… with a valid digest"},
		{image.Config{Repository: "registry.example.org/app:latest"}, "without a tag or digest"},
		{image.Config{Repository: ""}, "is not a repository name"},
		{image.Config{Repository: "registry.example.org/app", Root: "srv"}, "must be an absolute directory"},
		{image.Config{Repository: "registry.example.org/app", AuthFile: "/nonexistent/auth.json"}, "cannot be read"},
	} {
		_, err := image.New(tc.c, t.TempDir())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.c, err, tc.want)
		}
	}
}

// The registry's credentials come from the auth file, in either form
// docker writes; without them the registry refuses, and no error ever
// carries the password.
func TestAuthFile(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	reg.user, reg.pwd = "deploy", "s3cret-Pa55"
	w := newWorld(t)
	r1 := w.freeze(nil)
	repo := reg.Host + "/mediawiki/app"
	authFile := func(entry string) string {
		p := filepath.Join(t.TempDir(), "auth.json")
		write(t, p, fmt.Sprintf(`{"auths": {%q: %s}}`, reg.Host, entry), 0o600)
		return p
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	for _, file := range []string{"", authFile(fmt.Sprintf(`{"auth": %q}`, b64("deploy:wrong-"+reg.pwd)))} {
		_, err := w.builder(image.Config{Repository: repo, AuthFile: file, Insecure: true}).Image(ctx, r1, nil)
		if err == nil {
			t.Fatalf("pushed with auth file %q", file)
		}
		if !strings.Contains(err.Error(), "registry "+reg.Host+" refused access to repository mediawiki/app") || strings.Contains(err.Error(), reg.pwd) {
			t.Errorf("error = %v", err)
		}
	}
	for _, entry := range []string{
		fmt.Sprintf(`{"auth": %q}`, b64("deploy:"+reg.pwd)),
		fmt.Sprintf(`{"username": "deploy", "password": %q}`, reg.pwd),
	} {
		w.store.Dir = filepath.Join(t.TempDir(), "releases") // no recorded image
		r := w.freeze(nil)
		got, err := w.builder(image.Config{Repository: repo, AuthFile: authFile(entry), Insecure: true}).Image(ctx, r, nil)
		if err != nil || !got.Built {
			t.Errorf("with %s: %+v, %v", entry, got, err)
		}
	}
	// A file that is not a docker config is refused without quoting it.
	bad := filepath.Join(t.TempDir(), "auth.json")
	write(t, bad, `{"auths": {"`+reg.Host+`": {"auth": "`+reg.pwd+`"}}}`, 0o600)
	if _, err := image.New(image.Config{Repository: repo, AuthFile: bad}, t.TempDir()); err == nil || strings.Contains(err.Error(), reg.pwd) {
		t.Errorf("New with a bad auth file = %v", err)
	}
}

// A release's recorded image is reused once the registry confirms it has
// it; when the registry lost it, the same image is built and pushed again.
func TestRecordedImageReused(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	w := newWorld(t)
	r1 := w.freeze(nil)
	c := image.Config{Repository: reg.Host + "/mediawiki/app", Insecure: true}
	first, err := w.builder(c).Image(ctx, r1, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg.Received()
	// A new builder (a restart, or the next stage) reads the record.
	again, err := w.builder(c).Image(ctx, r1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if received, _ := reg.Received(); again.Built || again.Ref != first.Ref || len(received) != 0 {
		t.Errorf("second call = %+v, registry received %v", again, received)
	}
	reg.Lose()
	rebuilt, err := w.builder(c).Image(ctx, r1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if received, _ := reg.Received(); !rebuilt.Built || len(received) == 0 {
		t.Errorf("after the registry lost it: %+v, registry received %v", rebuilt, received)
	}
	if rebuilt.Digest != first.Digest {
		t.Errorf("the same release gave image %s, then %s", first.Digest, rebuilt.Digest)
	}
	// The next release's previous image is gone too: a full image.
	w.commit("php-1.0", "includes/Hooks.php", "<?php\n// v2\n")
	r2 := w.freeze(r1)
	reg.Lose()
	got, err := w.builder(c).Image(ctx, r2, r1)
	if err != nil || !got.Full || !strings.Contains(got.Why, "cannot be read from the registry") {
		t.Errorf("over a lost previous image: %+v, %v", got, err)
	}
}

// After maxLayers release layers stacked, the next image is full again.
func TestLayersDoNotStackForever(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	w := newWorld(t)
	b := w.builder(image.Config{Repository: reg.Host + "/mediawiki/app", Insecure: true})
	prev := w.freeze(nil)
	img, err := b.Image(ctx, prev, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; !img.Full || i == 0; i++ {
		if i > 40 {
			t.Fatal("layers stack forever")
		}
		w.commit("php-1.0", "includes/Hooks.php", fmt.Sprintf("<?php\n// v%d\n", i))
		r := w.freeze(prev)
		if img, err = b.Image(ctx, r, prev); err != nil {
			t.Fatal(err)
		}
		if !img.Full && img.Layers > 30 {
			t.Fatalf("%d release layers", img.Layers)
		}
		prev = r
	}
	if !strings.Contains(img.Why, "already stacks 30 release layers") {
		t.Errorf("full image because %q", img.Why)
	}
}
