// Package image builds a frozen release into an OCI image and pushes it to
// a registry, without Docker.
//
// The image is the base image (by digest, or none) plus the release tree
// under Config.Root, with the modes of the release manifest and fixed
// owners and times, so the same tree on the same base always gives the
// same image. An image is built once per release and repository: its
// digest is recorded next to the release (image.json) and trusted again
// once the registry confirms it still has it. A release's image is the
// previous release's image plus one layer holding the files that differ
// and OCI whiteouts for those removed, so a one-file backport pushes one
// small layer; a release with no usable previous image (none recorded,
// another base, more than maxLayers release layers stacked) gets a full
// image, split by top-level directory.
//
//	b, err := image.New(image.Config{Repository: "registry.example.org/mediawiki/app",
//		Base: "docker-registry.example.org/php@sha256:…", AuthFile: "/etc/jouncebot/registry.json"}, store.Dir)
//	img, err := b.Image(ctx, rel, prev) // img.Ref is "registry.example.org/mediawiki/app@sha256:…"
package image

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/jouncebot/jouncebot/deploy/release"
)

// Config is where a release's images go and what they are built on.
type Config struct {
	// Repository is the image repository without a tag, e.g.
	// "registry.example.org:5000/mediawiki/app".
	Repository string
	// Base is the base image by digest ("repo@sha256:…"), or "" for an
	// image built from scratch.
	Base string
	// Root is the directory in the image that holds the release tree
	// (default "/srv/mediawiki").
	Root string
	// AuthFile is a docker-config-style JSON file with the registry's
	// credentials ("" = anonymous). It is the only source of credentials:
	// ~/.docker is never read.
	AuthFile string
	// Insecure talks plain HTTP to the registry (tests, localhost).
	Insecure bool
	// Exclude are paths of the release tree no layer holds, nor a
	// whiteout of: "dir/" is everything under dir, "p" the file or
	// directory p. The release store freezes private settings from
	// outside git, and anyone who can pull an image can read its layers.
	// An image built with other exclusions is never reused, so a release
	// layer is never stacked on layers that hold what is now excluded.
	Exclude []string
}

// DefaultRoot is Config.Root when empty.
const DefaultRoot = "/srv/mediawiki"

// maxLayers is how many release layers an image may stack before the
// next release gets a full image again.
const maxLayers = 30

// Annotations of the images' manifests: a previous image is reused only
// when they show it holds that release, on this base, under this root.
const (
	annRelease = "org.jouncebot.release"
	annRoot    = "org.jouncebot.root"
	annLayers  = "org.jouncebot.release-layers"
	annBase    = "org.opencontainers.image.base.name"
	annBaseDig = "org.opencontainers.image.base.digest"
	annExclude = "org.jouncebot.exclude"
)

// Builder builds a release's image and pushes it to one repository.
type Builder struct {
	c           Config
	repo        name.Repository
	base        *name.Digest // nil: scratch
	releasesDir string
	exclude     []string // clean paths, sorted

	// busy holds one token per build: a second call waits for it (or
	// for its context) and reuses the image.
	busy chan struct{}
}

// Image is a release's image in the registry.
type Image struct {
	Ref          string // repo@sha256:…
	Digest       string
	LayersPushed int
	BytesPushed  int64 // layers, config and manifest sent to the registry

	// Built is false when the recorded image was still in the registry.
	Built bool
	// Layers is how many release layers the image has (its base's not
	// counted); Full says it was built from the whole tree, and Why says
	// why the previous release's image could not be reused.
	Layers int
	Full   bool
	Why    string
}

// New returns a Builder for c; releasesDir is the release store's
// directory (temporary layer files are written there: it has room for a
// tree). Its errors are sentences about the configuration.
func New(c Config, releasesDir string) (*Builder, error) {
	if c.Root == "" {
		c.Root = DefaultRoot
	}
	if !path.IsAbs(c.Root) || path.Clean(c.Root) != c.Root || c.Root == "/" {
		return nil, fmt.Errorf("the image root %q must be an absolute directory other than /, such as %s", c.Root, DefaultRoot)
	}
	if err := checkPath(strings.TrimPrefix(c.Root, "/")); err != nil {
		return nil, fmt.Errorf("the image root %s cannot be used: %w", c.Root, err)
	}
	exclude, err := cleanExclude(c.Exclude)
	if err != nil {
		return nil, err
	}
	for _, ref := range []struct{ what, s string }{{"repository", c.Repository}, {"base image", c.Base}} {
		if r := redact(ref.s); r != ref.s {
			return nil, fmt.Errorf("the image %s %q holds a password: name it without credentials (registry/path…) and put them in the registry auth file", ref.what, r)
		}
	}
	var opts []name.Option
	if c.Insecure {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(c.Repository, opts...)
	if err != nil || strings.ContainsAny(c.Repository, "@") {
		return nil, fmt.Errorf("the image repository %q is not a repository name: give registry/path, without a tag or digest", c.Repository)
	}
	b := &Builder{c: c, repo: repo, releasesDir: releasesDir, exclude: exclude, busy: make(chan struct{}, 1)}
	if c.Base != "" {
		d, err := parseBase(c.Base, repo.Registry, c.Insecure)
		if err != nil {
			return nil, err
		}
		b.base = &d
	}
	if _, err := readAuthFile(c.AuthFile); err != nil {
		return nil, err
	}
	b.removeStale()
	return b, nil
}

// cleanExclude returns the excluded paths without their trailing
// slash, sorted.
func cleanExclude(xs []string) ([]string, error) {
	var out []string
	for _, x := range xs {
		p := strings.TrimSuffix(x, "/")
		if err := checkPath(p); err != nil || strings.Contains(p, "*") {
			return nil, fmt.Errorf("the excluded path %q is not a path prefix of the release tree, such as private/", x)
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// excluded reports whether the release path p is kept out of images.
func (b *Builder) excluded(p string) bool {
	for _, x := range b.exclude {
		if p == x || strings.HasPrefix(p, x+"/") {
			return true
		}
	}
	return false
}

// visible is m without the entries no image holds.
func (b *Builder) visible(m *release.Manifest) *release.Manifest {
	out := &release.Manifest{Commits: m.Commits, Entries: make([]release.Entry, 0, len(m.Entries))}
	for _, e := range m.Entries {
		if !b.excluded(e.Path) {
			out.Entries = append(out.Entries, e)
		}
	}
	return out
}

// redact hides the password of a reference written with credentials
// (user:password@registry/…, optionally after a scheme), which an error
// must not quote.
func redact(s string) string {
	scheme, rest := "", s
	if i := strings.Index(rest, "://"); i >= 0 {
		scheme, rest = rest[:i+3], rest[i+3:]
	}
	at := strings.Index(rest, "@")
	if at < 0 || strings.Contains(rest[:at], "/") {
		return s // repo@sha256:…: no credentials
	}
	if user, _, ok := strings.Cut(rest[:at], ":"); ok {
		return scheme + user + ":…@" + rest[at+1:]
	}
	return s
}

// parseBase parses a base image reference, which must name a digest: a
// tag can move between two builds of one release.
func parseBase(s string, reg name.Registry, insecure bool) (name.Digest, error) {
	if !strings.Contains(s, "@") {
		if _, err := name.NewTag(s); err == nil {
			return name.Digest{}, fmt.Errorf("the base image %q is named by a tag, which can point to another image tomorrow: name it by digest (repo@sha256:…)", s)
		}
		return name.Digest{}, fmt.Errorf("the base image %q is not an image reference: name it by digest (repo@sha256:…)", s)
	}
	d, err := name.NewDigest(s)
	if err != nil {
		return name.Digest{}, fmt.Errorf("the base image %q is not repo@sha256:… with a valid digest", s)
	}
	// Plain HTTP only for the registry Insecure was given for.
	if insecure && d.RegistryStr() == reg.RegistryStr() {
		d, _ = name.NewDigest(s, name.Insecure)
	}
	return d, nil
}

// Image returns the release's image, building and pushing it when the
// registry does not have it yet (the digest is recorded next to the
// release, so a second call is cheap). prev is the release the targets
// hold (nil when unknown): its image's layers are reused.
func (b *Builder) Image(ctx context.Context, rel, prev *release.Release) (_ Image, rerr error) {
	if rel == nil || rel.Manifest == nil {
		return Image{}, errors.New("image: no release to build")
	}
	select {
	case b.busy <- struct{}{}:
		defer func() { <-b.busy }()
	case <-ctx.Done():
		return Image{}, fmt.Errorf("image: release %s: waiting for another build: %w", rel.ID, ctx.Err())
	}
	// The auth file is read at each call: a rotated credential is used
	// without a restart.
	keys, err := readAuthFile(b.c.AuthFile)
	if err != nil {
		return Image{}, err
	}
	// A registry or proxy may echo the request's credentials in the body
	// of its refusal, which go-containerregistry's errors quote.
	defer func() {
		if rerr != nil {
			rerr = keys.scrub(rerr)
		}
	}()
	counter := &pushCounter{inner: remote.DefaultTransport, committed: map[string]bool{}}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(keys), remote.WithTransport(counter),
		remote.WithUserAgent("jouncebot")}
	if img, ok, err := b.recorded(rel, opts); err != nil || ok {
		return img, err
	}
	tmp, done, err := b.tempDir()
	if err != nil {
		return Image{}, fmt.Errorf("image: release %s: %w", rel.ID, err)
	}
	defer done()
	img, out, err := b.build(ctx, tmp, rel, prev, opts)
	if err != nil {
		return Image{}, err
	}
	if err := remote.Write(b.repo.Tag(rel.ID), img, opts...); err != nil {
		return Image{}, b.wrap(fmt.Sprintf("pushing the image of release %s", rel.ID), err)
	}
	dig, err := img.Digest()
	if err != nil {
		return Image{}, err
	}
	out.Digest, out.Ref, out.Built = dig.String(), b.c.Repository+"@"+dig.String(), true
	if err := counter.count(img, &out); err != nil {
		return Image{}, err
	}
	if err := store(rel.Dir, b.c.Repository, record{Digest: out.Digest, Base: b.c.Base, Root: b.c.Root}); err != nil {
		return Image{}, fmt.Errorf("image: the image of release %s was pushed but could not be recorded: %w", rel.ID, err)
	}
	return out, nil
}

// recorded returns the release's recorded image if the registry still
// has it.
func (b *Builder) recorded(rel *release.Release, opts []remote.Option) (Image, bool, error) {
	rec, ok := lookup(rel.Dir, b.c.Repository)
	if !ok || rec.Base != b.c.Base || rec.Root != b.c.Root {
		return Image{}, false, nil
	}
	// The manifest is read, not just asked for: go-containerregistry
	// checks that it has the digest asked for, and its annotations must
	// say it is this release's image on this base, under this root (a
	// record edited, or copied from another release, names another image).
	img, err := remote.Image(b.repo.Digest(rec.Digest), opts...)
	if isNotFound(err) {
		return Image{}, false, nil
	} else if err != nil {
		return Image{}, false, b.wrap(fmt.Sprintf("asking for the image of release %s", rel.ID), err)
	}
	m, err := img.Manifest()
	if err != nil {
		return Image{}, false, b.wrap(fmt.Sprintf("asking for the image of release %s", rel.ID), err)
	}
	if !b.holds(m, rel.ID) {
		return Image{}, false, nil
	}
	return Image{Ref: b.c.Repository + "@" + rec.Digest, Digest: rec.Digest}, true, nil
}

// holds says whether an image's manifest says it holds release id, on
// the configured base, under the configured root.
func (b *Builder) holds(m *v1.Manifest, id string) bool {
	base := ""
	if b.base != nil {
		base = b.base.DigestStr()
	}
	return m.Annotations[annRelease] == id && m.Annotations[annRoot] == b.c.Root && m.Annotations[annBaseDig] == base &&
		m.Annotations[annExclude] == strings.Join(b.exclude, ",")
}

// build makes the release's image: on top of prev's when it can,
// else from the whole tree.
func (b *Builder) build(ctx context.Context, tmp string, rel, prev *release.Release, opts []remote.Option) (v1.Image, Image, error) {
	root := strings.TrimPrefix(b.c.Root, "/")
	var out Image
	img, n, why := b.previous(rel, prev, opts)
	if img != nil {
		add, gone := changes(b.visible(prev.Manifest), b.visible(rel.Manifest))
		l, err := writeLayer(ctx, tmp, rel.Tree(), root, add, gone, false)
		if err != nil {
			return nil, out, fmt.Errorf("image: writing the layer of release %s: %w", rel.ID, err)
		}
		img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: v1.History{
			CreatedBy: fmt.Sprintf("jouncebot: release %s over %s: %d files written, %d removed", rel.ID, prev.ID, len(add), len(gone))}})
		if err != nil {
			return nil, out, err
		}
		out.Layers = n + 1
	} else {
		base, err := b.baseImage(opts)
		if err != nil {
			return nil, out, err
		}
		parts := split(b.visible(rel.Manifest))
		img = base
		for i, es := range parts {
			// The first layer hides the base image's files under the
			// root: the release tree is all the root holds.
			l, err := writeLayer(ctx, tmp, rel.Tree(), root, es, nil, i == 0 && b.base != nil)
			if err != nil {
				return nil, out, fmt.Errorf("image: writing the layers of release %s: %w", rel.ID, err)
			}
			img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: v1.History{
				CreatedBy: fmt.Sprintf("jouncebot: release %s, part %d of %d", rel.ID, i+1, len(parts))}})
			if err != nil {
				return nil, out, err
			}
		}
		out.Layers, out.Full, out.Why = len(parts), true, why
	}
	anns := map[string]string{annRelease: rel.ID, annRoot: b.c.Root, annLayers: strconv.Itoa(out.Layers)}
	if len(b.exclude) > 0 {
		anns[annExclude] = strings.Join(b.exclude, ",")
	}
	if b.base != nil {
		anns[annBase] = b.base.Context().Name()
		anns[annBaseDig] = b.base.DigestStr()
	}
	img = mutate.Annotations(img, anns).(v1.Image)
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	return img, out, nil
}

// previous returns prev's image and its count of release layers when
// the release's image can be built on it, or why not.
func (b *Builder) previous(rel, prev *release.Release, opts []remote.Option) (v1.Image, int, string) {
	if prev == nil || prev.Manifest == nil {
		return nil, 0, "the release the targets hold is not known"
	}
	if prev.ID == rel.ID {
		return nil, 0, "the targets already hold this release"
	}
	rec, ok := lookup(prev.Dir, b.c.Repository)
	if !ok {
		return nil, 0, fmt.Sprintf("release %s has no image recorded in %s", prev.ID, b.c.Repository)
	}
	if rec.Base != b.c.Base || rec.Root != b.c.Root {
		return nil, 0, fmt.Sprintf("release %s's image was built on another base image or root", prev.ID)
	}
	img, err := remote.Image(b.repo.Digest(rec.Digest), opts...)
	if err != nil {
		return nil, 0, fmt.Sprintf("release %s's image %s cannot be read from the registry", prev.ID, rec.Digest)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, 0, fmt.Sprintf("release %s's image %s cannot be read from the registry", prev.ID, rec.Digest)
	}
	n, _ := strconv.Atoi(m.Annotations[annLayers])
	switch {
	case !b.holds(m, prev.ID) || n < 1:
		return nil, 0, fmt.Sprintf("image %s does not say it holds release %s on this base image under %s, excluding %s", rec.Digest, prev.ID, b.c.Root, excludeList(b.exclude))
	case n >= maxLayers:
		return nil, 0, fmt.Sprintf("release %s's image already stacks %d release layers", prev.ID, n)
	}
	return img, n, ""
}

func excludeList(xs []string) string {
	if len(xs) == 0 {
		return "nothing"
	}
	return strings.Join(xs, ", ")
}

// baseImage is the configured base image, or an empty linux/amd64 one.
func (b *Builder) baseImage(opts []remote.Option) (v1.Image, error) {
	if b.base == nil {
		cfg := &v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers"},
			Config: v1.Config{WorkingDir: b.c.Root}}
		return mutate.ConfigFile(empty.Image, cfg)
	}
	opts = append(opts[:len(opts):len(opts)], remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	img, err := remote.Image(*b.base, opts...)
	if err != nil {
		return nil, b.wrapRef(b.base.Context(), "reading the base image "+b.c.Base, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, b.wrapRef(b.base.Context(), "reading the base image "+b.c.Base, err)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" {
		return nil, fmt.Errorf("image: the base image %s is for %s/%s, not linux/amd64", b.c.Base, cfg.OS, cfg.Architecture)
	}
	return img, nil
}

// wrap words a registry error: what was being done, the registry and
// the repository (never a credential: the keychain's secrets are in
// request headers, which no error carries).
func (b *Builder) wrap(doing string, err error) error {
	return b.wrapRef(b.repo, doing, err)
}

func (b *Builder) wrapRef(repo name.Repository, doing string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		how := "anonymously"
		if b.c.AuthFile != "" {
			how = "with the credentials of " + b.c.AuthFile
		}
		return fmt.Errorf("image: %s: registry %s refused access to repository %s %s (HTTP %d): %w",
			doing, repo.RegistryStr(), repo.RepositoryStr(), how, te.StatusCode, err)
	}
	return fmt.Errorf("image: %s: registry %s, repository %s: %w", doing, repo.RegistryStr(), repo.RepositoryStr(), err)
}

func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

// tempPrefix names the layer directories of builds in releasesDir, each
// with a lock file beside it (prefix + N + ".lock").
const tempPrefix = ".image-build-"

// tempDir is a directory for the layers of one build, in releasesDir,
// and the function that removes it. The build holds a lock (flock) on
// the directory's lock file while it runs, so New removes what builds of
// processes that died left, whatever their process id (a container's
// first process always has the same), and never what a live build of any
// process is writing.
func (b *Builder) tempDir() (string, func(), error) {
	dir := b.releasesDir
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	var lock *os.File
	for lock == nil {
		f, err := os.CreateTemp(dir, tempPrefix+"*.lock")
		if err != nil {
			return "", nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			os.Remove(f.Name())
			return "", nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		// Another process's New may have taken the new file for a
		// leftover and removed it before it was locked: take another.
		if held, err := f.Stat(); err == nil {
			if named, err := os.Stat(f.Name()); err == nil && os.SameFile(held, named) {
				lock = f
				continue
			}
		}
		f.Close()
	}
	tmp := strings.TrimSuffix(lock.Name(), ".lock")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		lock.Close()
		os.Remove(lock.Name())
		return "", nil, err
	}
	return tmp, func() {
		os.RemoveAll(tmp)
		os.Remove(lock.Name())
		lock.Close()
	}, nil
}

// removeStale removes the layer directories of builds whose lock nobody
// holds, and those of the naming from before locks (.image-<pid>-N).
func (b *Builder) removeStale() {
	if b.releasesDir == "" {
		return
	}
	locks, _ := filepath.Glob(filepath.Join(b.releasesDir, tempPrefix+"*.lock"))
	for _, l := range locks {
		f, err := os.Open(l)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			// The directory first: a removal cut short leaves a lock
			// file, removed next time.
			os.RemoveAll(strings.TrimSuffix(l, ".lock"))
			os.Remove(l)
		}
		f.Close()
	}
	old, _ := filepath.Glob(filepath.Join(b.releasesDir, ".image-*"))
	for _, m := range old {
		if !strings.HasPrefix(filepath.Base(m), tempPrefix) {
			os.RemoveAll(m)
		}
	}
}

// pushCounter sees the requests of a push and notes the blobs whose
// upload was committed: what the registry received, not what it already
// had or mounted.
type pushCounter struct {
	inner     http.RoundTripper
	mu        sync.Mutex
	committed map[string]bool
}

func (c *pushCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.inner.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusCreated && (req.Method == http.MethodPut || req.Method == http.MethodPost) &&
		strings.Contains(req.URL.Path, "/blobs/uploads/") {
		if d := req.URL.Query().Get("digest"); d != "" {
			c.mu.Lock()
			c.committed[d] = true
			c.mu.Unlock()
		}
	}
	return resp, err
}

// count fills the pushed layers and bytes of out.
func (c *pushCounter) count(img v1.Image, out *Image) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return err
	}
	for _, l := range m.Layers {
		if c.committed[l.Digest.String()] {
			out.LayersPushed++
			out.BytesPushed += l.Size
		}
	}
	if c.committed[m.Config.Digest.String()] {
		out.BytesPushed += m.Config.Size
	}
	out.BytesPushed += int64(len(raw))
	return nil
}
