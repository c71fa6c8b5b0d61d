package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Finding is what Check found about one context of a stage.
type Finding struct {
	Context string
	// Problem is a sentence saying what is wrong ("" when nothing is).
	Problem string
	// Unreachable is set when the cluster did not answer: the targets
	// could not be checked, which is no error in the configuration.
	Unreachable error
	// Targets are the Deployments found.
	Targets []Target
}

// Check looks at a stage's targets: each context must be in the
// kubeconfig; when its cluster answers, each named Deployment must exist
// (with the container), and the selector must match at least one.
func (c *Clients) Check(ctx context.Context, s Spec) []Finding {
	known, err := c.Contexts()
	var out []Finding
	for _, kc := range s.Contexts {
		f := Finding{Context: kc}
		switch {
		case err != nil:
			f.Problem = fmt.Sprintf("the kubeconfig could not be read (%v)", err)
		case !slices.Contains(known, kc):
			f.Problem = fmt.Sprintf("context %s is not in the kubeconfig (it has %v)", kc, known)
		default:
			f.Targets, f.Problem, f.Unreachable = c.checkContext(ctx, s, kc)
		}
		out = append(out, f)
	}
	return out
}

func (c *Clients) checkContext(ctx context.Context, s Spec, kc string) ([]Target, string, error) {
	one := s
	one.Contexts = []string{kc}
	ts, err := c.Resolve(ctx, one)
	if err != nil {
		if answered(err) {
			return nil, err.Error(), nil
		}
		return nil, "", err
	}
	for _, t := range ts {
		d, err := c.get(ctx, t)
		switch {
		case apierrors.IsNotFound(err):
			return nil, fmt.Sprintf("%s does not exist", t), nil
		case err != nil && answered(err):
			return nil, fmt.Sprintf("%s: the cluster answered %s", t, apierrors.ReasonForError(err)), nil
		case err != nil:
			return nil, "", err
		case t.Container != "" && findContainer(d.Spec.Template.Spec.Containers, t.Container) == nil:
			return nil, fmt.Sprintf("%s has no container %s", t, t.Container), nil
		}
	}
	return ts, "", nil
}

// answered reports whether err is the cluster's answer (not found,
// forbidden, no match) rather than no answer.
func answered(err error) bool {
	var st apierrors.APIStatus
	var nm *NoMatchError
	return errors.As(err, &st) || errors.As(err, &nm)
}
