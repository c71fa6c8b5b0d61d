package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// SyncKubernetes is the stage method that rolls the release's image out
// to Kubernetes Deployments (see package deploy/kube).
const SyncKubernetes = "kubernetes"

// Kubernetes configures the kubernetes stages: the kubeconfig naming the
// clusters and where the releases' images go.
type Kubernetes struct {
	// Kubeconfig is the kubeconfig file with one context per data centre
	// (default: $KUBECONFIG or ~/.kube/config, as kubectl). Relative to
	// the config file.
	Kubeconfig string `yaml:"kubeconfig"`
	// Image says where each release's image is pushed.
	Image KubeImage `yaml:"image"`
}

// KubeImage configures the image built from each release.
type KubeImage struct {
	// Repository is the image repository without a tag, e.g.
	// registry.example.org/mediawiki/app.
	Repository string `yaml:"repository"`
	// Base is the base image by digest (repo@sha256:…); empty builds
	// from scratch.
	Base string `yaml:"base"`
	// Root is where the release tree lies in the image (default
	// /srv/mediawiki).
	Root string `yaml:"root"`
	// AuthFile is a docker-config-style JSON file with the registry's
	// credentials; empty is anonymous. Relative to the config file.
	AuthFile string `yaml:"auth_file"`
	// Insecure talks plain HTTP to the registry (a local test registry).
	Insecure bool `yaml:"insecure"`
	// Exclude are paths of the release tree that no image holds (default
	// DefaultImageExclude; [] for none): "dir/" is everything under dir,
	// "file" that file (or directory). The release store freezes private
	// settings from outside git (deploy.sync.untracked), and an image's
	// layers can be read by anyone who can pull it: pods get private
	// settings as a Kubernetes Secret instead.
	Exclude []string `yaml:"exclude"`
}

// DefaultImageExclude keeps MediaWiki's private settings (database
// passwords) out of the images.
var DefaultImageExclude = []string{"private/"}

// KubeTargets are the Deployments a kubernetes stage rolls out: the same
// ones in each context.
type KubeTargets struct {
	// Contexts are kubeconfig contexts, one per data centre.
	Contexts []string `yaml:"contexts"`
	// Namespace is the Deployments' namespace (default: each context's
	// own, as kubectl).
	Namespace string `yaml:"namespace"`
	// Deployments are named, or Selector picks them by label.
	Deployments []string `yaml:"deployments"`
	Selector    string   `yaml:"selector"`
	// Container is the container whose image is set (default the first).
	Container string `yaml:"container"`
}

var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func (k *Kubernetes) resolve(c *Config) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) || c.Dir == "" {
			return p
		}
		return filepath.Join(c.Dir, p)
	}
	k.Kubeconfig, k.Image.AuthFile = abs(k.Kubeconfig), abs(k.Image.AuthFile)
	if k.Image.Exclude == nil {
		k.Image.Exclude = slices.Clone(DefaultImageExclude)
	}
}

func (k *Kubernetes) validate(v *validator, p string) {
	im := k.Image
	switch {
	case im.Repository == "":
		v.add(p+".image.repository", "kubernetes stages need a repository for the releases' images, e.g. registry.example.org/mediawiki/app")
	case strings.ContainsAny(im.Repository, "@ ") || strings.Contains(im.Repository[strings.LastIndex(im.Repository, "/")+1:], ":"):
		v.add(p+".image.repository", "give the repository without a tag or digest, e.g. registry.example.org/mediawiki/app, got %q", im.Repository)
	}
	if im.Base != "" && !regexp.MustCompile(`^[^@\s]+@sha256:[0-9a-f]{64}$`).MatchString(im.Base) {
		v.add(p+".image.base", "give the base image by digest, repo@sha256:<64 hex digits>, got %q", im.Base)
	}
	if im.Root != "" && !strings.HasPrefix(im.Root, "/") {
		v.add(p+".image.root", "must be an absolute path in the image, e.g. /srv/mediawiki, got %q", im.Root)
	}
	for i, x := range im.Exclude {
		bad := badTreePattern(x)
		if bad == "" && strings.Contains(x, "*") {
			bad = "uses a wildcard: give a path prefix of the release tree, e.g. private/"
		}
		if bad != "" {
			v.add(fmt.Sprintf("%s.image.exclude[%d]", p, i), "%q %s", x, bad)
		}
	}
}

func (t *KubeTargets) validate(v *validator, p string) {
	if t == nil {
		v.add(p+".kubernetes", "a kubernetes stage names its deployments, e.g. {contexts: [eqiad], namespace: mediawiki, deployments: [mw-canary]}")
		return
	}
	p += ".kubernetes"
	if len(t.Contexts) == 0 {
		v.add(p+".contexts", "name at least one kubeconfig context, one per data centre")
	}
	seen := map[string]bool{}
	for i, c := range t.Contexts {
		if strings.TrimSpace(c) == "" || seen[c] {
			v.add(fmt.Sprintf("%s.contexts[%d]", p, i), "contexts must be named once each, got %q", c)
		}
		seen[c] = true
	}
	if t.Namespace != "" && (len(t.Namespace) > 63 || strings.Contains(t.Namespace, ".") || !dns1123.MatchString(t.Namespace)) {
		v.add(p+".namespace", "%q is not a Kubernetes namespace name", t.Namespace)
	}
	switch {
	case len(t.Deployments) == 0 && t.Selector == "":
		v.add(p, "name the deployments or give a label selector, e.g. selector: app=mediawiki,release=canary")
	case len(t.Deployments) > 0 && t.Selector != "":
		v.add(p+".selector", "give deployments or a selector, not both")
	}
	for i, d := range t.Deployments {
		if len(d) > 253 || !dns1123.MatchString(d) {
			v.add(fmt.Sprintf("%s.deployments[%d]", p, i), "%q is not a Deployment name", d)
		}
	}
	if t.Selector != "" {
		if _, err := labels.Parse(t.Selector); err != nil {
			v.add(p+".selector", "is not a label selector (%s); write e.g. app=mediawiki,release in (canary)", templateErr(err))
		}
	}
}
