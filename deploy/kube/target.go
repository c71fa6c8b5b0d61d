package kube

import (
	"fmt"
	"net/url"
	"strings"
)

// Target is one Deployment in one kubeconfig context.
type Target struct {
	Context   string
	Namespace string
	Name      string
	// Container is the container whose image is set ("" for the first).
	Container string
}

// String names the target for people: "deployment mw-api (eqiad/mediawiki)".
func (t Target) String() string {
	return fmt.Sprintf("deployment %s (%s/%s)", t.Name, t.Context, t.Namespace)
}

// HostName is the target's name in the deploy record: context/namespace/name.
func (t Target) HostName() string { return t.Context + "/" + t.Namespace + "/" + t.Name }

// Dest encodes the target as a destination,
// kubernetes://context/namespace/name[?container=c] with the context
// escaped, the form the deploy record keeps; ParseDest reads it back.
func (t Target) Dest() string {
	s := "kubernetes://" + url.PathEscape(t.Context) + "/" + t.Namespace + "/" + t.Name
	if t.Container != "" {
		s += "?" + url.Values{"container": {t.Container}}.Encode()
	}
	return s
}

// ParseDest reads a destination written by Target.Dest.
func ParseDest(s string) (Target, error) {
	rest, ok := strings.CutPrefix(s, "kubernetes://")
	if !ok {
		return Target{}, fmt.Errorf("kube: %q is not a kubernetes:// destination", s)
	}
	rest, query, _ := strings.Cut(rest, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return Target{}, fmt.Errorf("kube: %q: %w", s, err)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return Target{}, fmt.Errorf("kube: %q does not name context/namespace/deployment", s)
	}
	ctx, err := url.PathUnescape(parts[0])
	if err != nil {
		return Target{}, fmt.Errorf("kube: %q: bad context: %w", s, err)
	}
	return Target{Context: ctx, Namespace: parts[1], Name: parts[2], Container: q.Get("container")}, nil
}

// Spec is how a stage names its targets: the same Deployments, by name or
// label selector, in each context.
type Spec struct {
	Contexts    []string
	Namespace   string
	Deployments []string
	Selector    string
	Container   string
}
