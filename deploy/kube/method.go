package kube

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/image"
	"github.com/jouncebot/jouncebot/deploy/release"
)

// Imager gives a release's image; *image.Builder is one.
type Imager interface {
	Image(ctx context.Context, rel, prev *release.Release) (image.Image, error)
}

// Method is a hostsync.Method whose hosts are Targets (Host.Dest is
// Target.Dest): it rolls the release whose tree is src out to the
// Deployment — the release's image, built and pushed when the registry
// lacks it, set on the container, the rollout watched until every pod
// runs it. A stuck rollout is a failed host, so the engine rolls back
// as after a failed sync.
type Method struct {
	Clients  *Clients
	Images   Imager
	Releases *release.Store
	// Stage names the stage in progress lines.
	Stage string
	// ProgressEvery is the shortest time between two progress lines.
	ProgressEvery time.Duration

	run *run
}

// Run is what a Method needs to know of the deploy it works for.
type Run struct {
	// Deploy is the deploy's id, written on each Deployment.
	Deploy string
	// Targets is how many Deployments the stage rolls out.
	Targets int
	// Say receives progress lines ("canaries: 4/4 pods on release R, 2/2
	// deployments rolled out"); nil discards them.
	Say func(string)
	// Patched is called after a Deployment was patched, before its
	// rollout is watched (the engine's crash point).
	Patched func()
	// Releases, when set, replaces the Method's store.
	Releases *release.Store
	// Undo, set for a rollback, is the release being rolled back: only
	// Deployments annotated with it (patched with it) are put back; one
	// the bot never gave it (its image failed, or the stage stopped
	// first) is left as it is.
	Undo string
}

type run struct {
	Run
	start  time.Time
	mu     sync.Mutex
	states map[string]State
	said   time.Time
	images map[string]image.Image // by release id
	// read are the releases the images read hold, by reference: the
	// Deployments of a stage run one image.
	read map[string]string
}

// For returns a copy of m working for one deploy.
func (m *Method) For(r Run) *Method {
	c := *m
	if r.Releases != nil {
		c.Releases = r.Releases
	}
	c.run = &run{Run: r, start: time.Now(), states: map[string]State{}, images: map[string]image.Image{}, read: map[string]string{}}
	return &c
}

// Sync implements hostsync.Method.
func (m *Method) Sync(ctx context.Context, h hostsync.Host, src string, _ []string) error {
	if m.run == nil {
		m = m.For(Run{})
	}
	t, err := ParseDest(h.Dest)
	if err != nil {
		return err
	}
	rel, err := m.release(src)
	if err != nil {
		return err
	}
	st, err := m.Clients.Read(ctx, t)
	if m.run.Undo != "" && apierrors.IsNotFound(err) {
		return nil // nothing to put back
	}
	if err != nil {
		return err
	}
	if m.run.Undo != "" {
		switch {
		case st.PrevImage != "" && (st.Undid == m.run.Undo || st.Release == m.run.Undo):
			// Back to the exact image it ran before (a rollback resumed
			// after a restart watches it again).
			return m.Clients.Rollout(ctx, t, Patch{Image: st.PrevImage, Release: st.PrevRelease, Deploy: m.run.Deploy, Undid: m.run.Undo, Patched: m.run.Patched},
				func(s State) { m.progress(h.Name, s) })
		case st.Release != m.run.Undo && st.Release != rel.ID:
			return nil // never got the release rolled back
		}
	}
	var prev *release.Release
	if st.Release != "" && st.Release != rel.ID {
		prev, _ = m.Releases.Open(st.Release) // layers to reuse; none is fine
	}
	img, err := m.image(ctx, rel, prev)
	if err != nil {
		return err
	}
	return m.Clients.Rollout(ctx, t, Patch{Image: img.Ref, Release: rel.ID, Deploy: m.run.Deploy, Patched: m.run.Patched},
		func(s State) { m.progress(h.Name, s) })
}

// Summary is the stage's last progress line, for hosts: the Deployments
// this run did not watch (done before a restart) are read first.
func (m *Method) Summary(ctx context.Context, hosts []hostsync.Host) string {
	if m.run == nil {
		m = m.For(Run{})
	}
	for _, h := range hosts {
		m.run.mu.Lock()
		_, seen := m.run.states[h.Name]
		m.run.mu.Unlock()
		if seen {
			continue
		}
		if t, err := ParseDest(h.Dest); err == nil {
			if st, err := m.Clients.Read(ctx, t); err == nil {
				m.run.mu.Lock()
				m.run.states[h.Name] = st
				m.run.mu.Unlock()
			}
		}
	}
	m.run.mu.Lock()
	defer m.run.mu.Unlock()
	return m.line()
}

func (m *Method) progress(host string, s State) {
	r := m.run
	r.mu.Lock()
	r.states[host] = s
	if r.Say == nil || time.Since(r.said) < m.ProgressEvery {
		r.mu.Unlock()
		return
	}
	r.said = time.Now()
	line := m.line()
	r.mu.Unlock()
	r.Say(line)
}

// line sums the states up; r.mu is held.
func (m *Method) line() string {
	r := m.run
	pods, on, done := 0, 0, 0
	for _, s := range r.states {
		pods += s.Replicas
		on += s.Available
		if s.Done {
			done++
		}
	}
	total := max(r.Targets, len(r.states))
	return fmt.Sprintf("%s: %d/%d pods on the release, %d/%s rolled out, %s", m.Stage, on, pods, done, plural(total, "deployment"), hostsync.Duration(time.Since(r.start)))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// release opens the release whose tree is src.
func (m *Method) release(src string) (*release.Release, error) {
	if m.Releases == nil {
		return nil, fmt.Errorf("kube: no release store")
	}
	if filepath.Base(src) != "tree" {
		return nil, fmt.Errorf("kube: %s is not a release tree", src)
	}
	return m.Releases.Open(filepath.Base(filepath.Dir(src)))
}

// image returns rel's image, built once per deploy run (the targets of a
// stage ask at the same time).
func (m *Method) image(ctx context.Context, rel, prev *release.Release) (image.Image, error) {
	r := m.run
	r.mu.Lock()
	defer r.mu.Unlock()
	if img, ok := r.images[rel.ID]; ok {
		return img, nil
	}
	img, err := m.Images.Image(ctx, rel, prev)
	if err != nil {
		return image.Image{}, &ImageError{Release: rel.ID, Err: err}
	}
	r.images[rel.ID] = img
	return img, nil
}

// ImageError says a release's image could not be had.
type ImageError struct {
	Release string
	Err     error
}

func (e *ImageError) Error() string {
	return fmt.Sprintf("the image of release %s could not be built or pushed: %v", e.Release, e.Err)
}

func (e *ImageError) Unwrap() error { return e.Err }

// Verifier returns the Method that checks, changing nothing, that a
// target runs the release of src and its rollout is done.
func (m *Method) Verifier() hostsync.Method { return &Verify{m: m} }

// Verify is a hostsync.Method that reads a target: nil when it runs the
// release's image and is rolled out, a *hostsync.DiffError saying what
// differs when it runs another image or its rollout is stuck or going,
// another error when the cluster does not answer.
type Verify struct{ m *Method }

// Sync implements hostsync.Method.
func (v *Verify) Sync(ctx context.Context, h hostsync.Host, src string, _ []string) error {
	m := v.m
	if m.run == nil {
		m = m.For(Run{})
	}
	t, err := ParseDest(h.Dest)
	if err != nil {
		return err
	}
	rel, err := m.release(src)
	if err != nil {
		return err
	}
	st, err := m.Clients.Read(ctx, t)
	if m.run.Undo != "" && apierrors.IsNotFound(err) {
		return nil // a rollback had nothing to put back
	}
	if err != nil {
		return err
	}
	if m.run.Undo != "" && st.Undid == m.run.Undo && st.PrevImage != "" {
		// Set back to the image it ran before the release.
		if st.Image != st.PrevImage {
			return &hostsync.DiffError{Paths: []string{fmt.Sprintf("%s runs %s, not %s, which it ran before release %s: someone else changed it.",
				t, shortRef(st.Image), shortRef(st.PrevImage), m.run.Undo)}}
		}
		switch {
		case st.Stuck != "":
			return &hostsync.DiffError{Paths: []string{fmt.Sprintf("%s is stuck: %s.", t, st.Stuck)}}
		case !st.Done:
			return &hostsync.DiffError{Paths: []string{fmt.Sprintf("%s has not finished going back to %s: %s.", t, shortRef(st.PrevImage), st.Waiting)}}
		}
		return nil
	}
	if m.run.Undo != "" && st.Release != m.run.Undo && st.Release != rel.ID {
		return nil // a rollback left it alone: it never got the release
	}
	rr, ok := m.Images.(ReleaseReader)
	if !ok { // an Imager that only builds (benchmarks): its image
		img, err := m.image(ctx, rel, nil)
		if err != nil {
			return err
		}
		if why := Differs(t, st, rel.ID, img.Ref); why != "" {
			return &hostsync.DiffError{Paths: []string{why}}
		}
		return nil
	}
	// The image it runs says which release it holds: nothing is built,
	// so a lost image record, or an image built under other exclusions
	// before an upgrade, is still the release's.
	why, err := runsRelease(ctx, m.run.cached(rr), t, st, rel.ID)
	if err != nil {
		return err
	}
	if why != "" {
		return &hostsync.DiffError{Paths: []string{why}}
	}
	return nil
}

// ReleaseReader reads which release an image holds from its manifest,
// building nothing; *image.Builder is one.
type ReleaseReader interface {
	Release(ctx context.Context, ref string) (string, error)
}

// cached is rr remembering, for the run, what the images it read hold.
func (r *run) cached(rr ReleaseReader) ReleaseReader { return cachedReader{r, rr} }

type cachedReader struct {
	r  *run
	rr ReleaseReader
}

func (c cachedReader) Release(ctx context.Context, ref string) (string, error) {
	c.r.mu.Lock()
	id, ok := c.r.read[ref]
	c.r.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := c.rr.Release(ctx, ref)
	if err == nil {
		c.r.mu.Lock()
		c.r.read[ref] = id
		c.r.mu.Unlock()
	}
	return id, err
}

// runsRelease says in one sentence how a target's state differs from
// running release id, rolled out, reading the release its image holds
// from the registry; "" when it does not. err is set when the registry
// did not answer.
func runsRelease(ctx context.Context, rr ReleaseReader, t Target, st State, id string) (string, error) {
	got, err := rr.Release(ctx, st.Image)
	switch {
	case errors.Is(err, image.ErrOtherRepository):
		got = "" // not an image the bot built
	case errors.Is(err, image.ErrGone):
		return fmt.Sprintf("%s runs %s, which the registry no longer has, so it is not known to run release %s.", t, shortRef(st.Image), id), nil
	case err != nil:
		return "", err
	case got == "":
		return fmt.Sprintf("%s runs %s, which names no release, so it is not known to run release %s.", t, shortRef(st.Image), id), nil
	}
	if got != id {
		who := "someone else changed it"
		if st.Release != "" && st.Release != id {
			who = "it was last rolled out with release " + st.Release
		}
		if st.Release == id {
			who = "someone else changed its image after the bot rolled release " + id + " out"
		}
		of := ""
		if got != "" {
			of = " (release " + got + ")"
		}
		return fmt.Sprintf("%s runs %s%s, not release %s: %s.", t, shortRef(st.Image), of, id, who), nil
	}
	return Differs(t, st, id, st.Image), nil
}

// Differs says in one sentence how a target's state differs from running
// release id as image ref, rolled out; "" when it does not.
func Differs(t Target, st State, id, ref string) string {
	switch {
	case Digest(st.Image) != Digest(ref):
		who := "someone else changed it"
		if st.Release != "" && st.Release != id {
			who = "it was last rolled out with release " + st.Release
		}
		if st.Release == id {
			who = "someone else changed its image after the bot rolled release " + id + " out"
		}
		return fmt.Sprintf("%s runs %s, not release %s (%s): %s.", t, shortRef(st.Image), id, shortRef(ref), who)
	case st.Stuck != "":
		return fmt.Sprintf("%s is stuck: %s.", t, st.Stuck)
	case !st.Done:
		return fmt.Sprintf("%s has not finished its rollout of release %s: %s.", t, id, st.Waiting)
	}
	return ""
}

// shortRef shortens repo@sha256:… to its digest's first 12 hex digits.
func shortRef(ref string) string {
	d := Digest(ref)
	if d == "" {
		if ref == "" {
			return "no image"
		}
		return ref
	}
	hex := strings.TrimPrefix(d, "sha256:")
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return "image " + hex
}

// Sentence turns a Method's error into a sentence for chat: a stuck or
// changed Deployment names it; anything else says the cluster could not
// be reached (the details go to the log).
func Sentence(t Target, err error) string {
	var se *StuckError
	var ce *ChangedError
	var ie *ImageError
	switch {
	case errors.As(err, &se):
		return se.Error() + "."
	case errors.As(err, &ce):
		return ce.Error() + "."
	case errors.As(err, &ie):
		return fmt.Sprintf("The image of release %s could not be built or pushed to the registry.", ie.Release)
	case apierrors.IsNotFound(err):
		return fmt.Sprintf("%s does not exist: check the stage's deployments and namespace (check-config asks the cluster).", t)
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		return fmt.Sprintf("The cluster refused the bot access to %s: check the kubeconfig's user and its RBAC rules.", t)
	}
	return fmt.Sprintf("The cluster of %s did not answer as expected.", t)
}
