package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// recordName is the file next to a release's tree that records its
// images, by repository.
const recordName = "image.json"

// record is a release's image in one repository, and what it was built
// with: an image built on another base or root is not this config's.
type record struct {
	Digest string `json:"digest"`
	Base   string `json:"base,omitempty"`
	Root   string `json:"root"`
}

// recordMu serialises the read-modify-write of the record files: the
// builders of two repositories may record images of one release at once.
var recordMu sync.Mutex

func readRecords(releaseDir string) (map[string]record, error) {
	b, err := os.ReadFile(filepath.Join(releaseDir, recordName))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]record{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string]record{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(releaseDir, recordName), err)
	}
	return m, nil
}

// lookup returns the image recorded for repo in a release, if any.
func lookup(releaseDir, repo string) (record, bool) {
	recordMu.Lock()
	defer recordMu.Unlock()
	m, err := readRecords(releaseDir)
	if err != nil {
		return record{}, false // a damaged record is rebuilt, not trusted
	}
	r, ok := m[repo]
	return r, ok
}

// store records a release's image in repo, atomically.
func store(releaseDir, repo string, r record) error {
	recordMu.Lock()
	defer recordMu.Unlock()
	m, err := readRecords(releaseDir)
	if err != nil {
		m = map[string]record{}
	}
	m[repo] = r
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(releaseDir, "."+recordName+"-")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(releaseDir, recordName))
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// ErrOtherRepository says an image is not in the configured repository:
// the bot never built it.
var ErrOtherRepository = errors.New("image: not in the configured repository")

// ErrGone says the registry no longer has an image.
var ErrGone = errors.New("image: the registry no longer has it")

// Release reads which release the image ref (repo@sha256:…) holds, from
// its manifest's annotation ("" when it has none), building and pushing
// nothing: it tells what a Deployment runs. An image of another
// repository is ErrOtherRepository, one the registry no longer has
// ErrGone; any other error is the registry not answering.
func (b *Builder) Release(ctx context.Context, ref string) (_ string, rerr error) {
	repo, dig, ok := strings.Cut(ref, "@")
	if !ok || repo != b.c.Repository {
		return "", ErrOtherRepository
	}
	d, err := name.NewDigest(b.c.Repository+"@"+dig, b.nameOpts()...)
	if err != nil {
		return "", ErrOtherRepository
	}
	keys, err := readAuthFile(b.c.AuthFile)
	if err != nil {
		return "", err
	}
	defer func() {
		if rerr != nil {
			rerr = keys.scrub(rerr)
		}
	}()
	img, err := remote.Image(d, remote.WithContext(ctx), remote.WithAuthFromKeychain(keys), remote.WithUserAgent("jouncebot"))
	if isNotFound(err) {
		return "", ErrGone
	} else if err != nil {
		return "", b.wrap("reading the image "+dig, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return "", b.wrap("reading the image "+dig, err)
	}
	return m.Annotations[annRelease], nil
}

func (b *Builder) nameOpts() []name.Option {
	if b.c.Insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}
