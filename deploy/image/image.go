// Package image builds a frozen release into an OCI image and pushes it to
// a registry, without Docker.
package image

import (
	"context"
	"errors"

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
	// credentials ("" = anonymous).
	AuthFile string
	// Insecure talks plain HTTP to the registry (tests, localhost).
	Insecure bool
}

// Builder builds a release's image and pushes it to one repository.
type Builder struct {
	c           Config
	releasesDir string
}

// Image is a release's image in the registry.
type Image struct {
	Ref          string // repo@sha256:…
	Digest       string
	LayersPushed int
	BytesPushed  int64
}

// New returns a Builder for c; releasesDir is the release store's
// directory.
func New(c Config, releasesDir string) (*Builder, error) {
	return &Builder{c: c, releasesDir: releasesDir}, nil
}

// Image returns the release's image, building and pushing it when the
// registry does not have it yet (the digest is recorded next to the
// release, so a second call is cheap). prev is the release the targets
// hold (nil when unknown): its image's layers are reused.
func (b *Builder) Image(ctx context.Context, rel, prev *release.Release) (Image, error) {
	return Image{}, errors.New("image: not implemented yet")
}
