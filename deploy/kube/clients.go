package kube

import (
	"context"
	"fmt"
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Clients holds one API client per kubeconfig context, made on first use.
type Clients struct {
	// Kubeconfig is the kubeconfig file; "" uses $KUBECONFIG or
	// ~/.kube/config, as kubectl does.
	Kubeconfig string

	mu sync.Mutex
	m  map[string]kubernetes.Interface
}

// NewClients returns clients for the contexts of the kubeconfig file.
func NewClients(kubeconfig string) *Clients { return &Clients{Kubeconfig: kubeconfig} }

func (c *Clients) loader() clientcmd.ClientConfigLoader {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if c.Kubeconfig != "" {
		rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: c.Kubeconfig}
	}
	return rules
}

// Contexts lists the contexts the kubeconfig defines.
func (c *Clients) Contexts() ([]string, error) {
	cfg, err := c.loader().Load()
	if err != nil {
		return nil, fmt.Errorf("kube: read kubeconfig: %w", err)
	}
	var out []string
	for name := range cfg.Contexts {
		out = append(out, name)
	}
	slices.Sort(out)
	return out, nil
}

// Namespace is the default namespace of a context ("default" when it
// names none), as kubectl uses it.
func (c *Clients) Namespace(name string) (string, error) {
	ns, _, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(c.loader(), &clientcmd.ConfigOverrides{CurrentContext: name}).Namespace()
	if err != nil {
		return "", fmt.Errorf("kube: context %s: %w", name, err)
	}
	return ns, nil
}

// For returns the client of a context.
func (c *Clients) For(name string) (kubernetes.Interface, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl := c.m[name]; cl != nil {
		return cl, nil
	}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(c.loader(), &clientcmd.ConfigOverrides{CurrentContext: name}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kube: context %s: %w", name, err)
	}
	// A stage patches and watches many Deployments at once: client-go's
	// default of 5 requests a second would be the bottleneck.
	rc.QPS, rc.Burst = 200, 400
	rc.UserAgent = "jouncebot"
	// Protocol buffers: watching thousands of pods' Deployments decodes
	// many objects, at a fraction of JSON's cost.
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cl, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kube: context %s: %w", name, err)
	}
	if c.m == nil {
		c.m = map[string]kubernetes.Interface{}
	}
	c.m[name] = cl
	return cl, nil
}

// Resolve lists the targets of spec: the named Deployments, or those its
// selector matches, in each context, in the order written. A selector
// that matches nothing in a context is an error: a stage that would roll
// out nowhere is a mistake in the configuration.
func (c *Clients) Resolve(ctx context.Context, s Spec) ([]Target, error) {
	var out []Target
	for _, kc := range s.Contexts {
		ns := s.Namespace
		if ns == "" {
			var err error
			if ns, err = c.Namespace(kc); err != nil {
				return nil, err
			}
		}
		if s.Selector == "" {
			for _, n := range s.Deployments {
				out = append(out, Target{Context: kc, Namespace: ns, Name: n, Container: s.Container})
			}
			continue
		}
		if _, err := labels.Parse(s.Selector); err != nil {
			return nil, fmt.Errorf("kube: selector %q: %w", s.Selector, err)
		}
		cl, err := c.For(kc)
		if err != nil {
			return nil, err
		}
		l, err := cl.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: s.Selector})
		if err != nil {
			return nil, fmt.Errorf("kube: list deployments %q in %s/%s: %w", s.Selector, kc, ns, err)
		}
		if len(l.Items) == 0 {
			return nil, &NoMatchError{Context: kc, Namespace: ns, Selector: s.Selector}
		}
		names := make([]string, 0, len(l.Items))
		for _, d := range l.Items {
			names = append(names, d.Name)
		}
		slices.Sort(names)
		for _, n := range names {
			out = append(out, Target{Context: kc, Namespace: ns, Name: n, Container: s.Container})
		}
	}
	return out, nil
}

// NoMatchError says a stage's selector matches no Deployment.
type NoMatchError struct{ Context, Namespace, Selector string }

func (e *NoMatchError) Error() string {
	return fmt.Sprintf("no deployment in %s/%s matches %q", e.Context, e.Namespace, e.Selector)
}
