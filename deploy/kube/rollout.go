package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// Patch is what Rollout sets on a Deployment.
type Patch struct {
	// Image is the reference repo@sha256:… the container gets.
	Image string
	// Release and Deploy are written as annotations (AnnotationRelease,
	// AnnotationDeploy) and in the change cause.
	Release, Deploy string
	// Patched (optional) is called once the Deployment is patched,
	// before the rollout is watched.
	Patched func()
	// Undid, for a rollback, is the release taken away: Image and
	// Release are what the Deployment had before it.
	Undid string
}

// StuckError says a rollout cannot finish.
type StuckError struct {
	Target Target
	Why    string
}

func (e *StuckError) Error() string {
	if e.Why == pausedWhy {
		return fmt.Sprintf("%s is paused, so it would not roll out what the bot sets: resume it (kubectl rollout resume deployment/%s -n %s) and deploy again",
			e.Target, e.Target.Name, e.Target.Namespace)
	}
	return fmt.Sprintf("%s is stuck: %s", e.Target, e.Why)
}

// ChangedError says someone else set another image while the bot
// watched the rollout.
type ChangedError struct {
	Target      Target
	Want, Found string
}

func (e *ChangedError) Error() string {
	return fmt.Sprintf("%s was changed by someone else during the rollout: it now runs %s", e.Target, e.Found)
}

// CrashCheckEvery is how long a watched rollout may make no progress
// before its pods are listed to look for crash loops: a crash-looping pod
// never becomes available, so a rollout that moves needs no list. While
// it makes none, the wait doubles up to CrashCheckMax (a list of a large
// Deployment's pods is the costliest call the bot makes).
var CrashCheckEvery, CrashCheckMax = 2 * time.Second, 30 * time.Second

// Rollout sets the target's image and annotations, then waits until its
// rollout is complete, stuck, changed by someone else or ctx ends.
// progress (optional) is called with each new state.
func (c *Clients) Rollout(ctx context.Context, t Target, p Patch, progress func(State)) error {
	cl, err := c.For(t.Context)
	if err != nil {
		return err
	}
	d, err := setImage(ctx, cl, t, p)
	if err != nil {
		return err
	}
	if p.Patched != nil {
		p.Patched()
	}
	return c.watch(ctx, cl, t, d, p.Image, progress)
}

// setImage patches the target's container image and annotations; a
// Deployment that already has them is left as it is (a second patch is
// no new rollout anyway).
func setImage(ctx context.Context, cl kubernetes.Interface, t Target, p Patch) (*appsv1.Deployment, error) {
	deps := cl.AppsV1().Deployments(t.Namespace)
	d, err := deps.Get(ctx, t.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("kube: get %s: %w", t, err)
	}
	c := findContainer(d.Spec.Template.Spec.Containers, t.Container)
	if c == nil {
		return nil, fmt.Errorf("%s has no container %q", t, t.Container)
	}
	a := d.Annotations
	if c.Image == p.Image && a[AnnotationRelease] == p.Release && a[AnnotationDeploy] == p.Deploy && a[AnnotationUndid] == p.Undid {
		return d, nil
	}
	// A paused Deployment takes the patch but rolls nothing out, and
	// never passes its progress deadline either: left unpatched, it
	// needs no rollback.
	if d.Spec.Paused {
		return nil, &StuckError{Target: t, Why: pausedWhy}
	}
	anns := map[string]any{
		AnnotationRelease:     orNull(p.Release),
		AnnotationDeploy:      p.Deploy,
		AnnotationUndid:       orNull(p.Undid),
		AnnotationChangeCause: fmt.Sprintf("jouncebot deploy %s: release %s", p.Deploy, p.Release),
	}
	if p.Undid != "" {
		anns[AnnotationChangeCause] = fmt.Sprintf("jouncebot deploy %s: rollback of release %s", p.Deploy, p.Undid)
	} else {
		// What a rollback puts back, exactly.
		anns[AnnotationPreviousImage], anns[AnnotationPreviousRelease] = c.Image, orNull(a[AnnotationRelease])
	}
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": anns},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []map[string]string{{"name": c.Name, "image": p.Image}},
		}}},
	})
	if err != nil {
		return nil, err
	}
	d, err = deps.Patch(ctx, t.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{FieldManager: "jouncebot"})
	if err != nil {
		return nil, fmt.Errorf("kube: patch %s: %w", t, err)
	}
	return d, nil
}

// orNull is s, or JSON null (which removes an annotation) for "".
func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// watch follows the Deployment from d until its rollout is done.
func (c *Clients) watch(ctx context.Context, cl kubernetes.Interface, t Target, d *appsv1.Deployment, image string, progress func(State)) error {
	deps := cl.AppsV1().Deployments(t.Namespace)
	var last State
	wait := CrashCheckEvery
	nextCrashCheck := time.Now().Add(wait)
	look := func(d *appsv1.Deployment) (bool, error) {
		s := Evaluate(d, t.Container)
		if s.Image != image {
			return false, &ChangedError{Target: t, Want: image, Found: s.Image}
		}
		if s.Stuck != "" {
			return false, &StuckError{Target: t, Why: s.Stuck}
		}
		if s != last {
			wait = CrashCheckEvery
			nextCrashCheck = time.Now().Add(wait)
		}
		if !s.Done && time.Now().After(nextCrashCheck) {
			wait = min(2*wait, CrashCheckMax)
			nextCrashCheck = time.Now().Add(wait)
			if pod, err := crashLoop(ctx, cl, t, d, image); err != nil {
				return false, err
			} else if pod != "" {
				return false, &StuckError{Target: t, Why: fmt.Sprintf("pod %s crash-loops", pod)}
			}
		}
		if progress != nil && s != last {
			progress(s)
		}
		last = s
		return s.Done, nil
	}
	for {
		if done, err := look(d); done || err != nil {
			return err
		}
		w, err := deps.Watch(ctx, metav1.ListOptions{
			FieldSelector:   fields.OneTermEqualSelector("metadata.name", t.Name).String(),
			ResourceVersion: d.ResourceVersion,
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("kube: watch %s: %w", t, err)
		}
		d, err = c.follow(ctx, w, t, look)
		w.Stop()
		if d == nil || err != nil {
			return err
		}
	}
}

// follow reads watch events until look says done, an error, or the watch
// ends; it then returns the Deployment as it is now, to watch again
// (nil once done).
func (c *Clients) follow(ctx context.Context, w watch.Interface, t Target, look func(*appsv1.Deployment) (bool, error)) (*appsv1.Deployment, error) {
	tick := time.NewTicker(CrashCheckEvery)
	defer tick.Stop()
	var cur *appsv1.Deployment
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
			if cur == nil {
				continue
			}
			if done, err := look(cur); done || err != nil {
				return nil, err
			}
		case ev, ok := <-w.ResultChan():
			if !ok || ev.Type == watch.Error {
				return c.get(ctx, t)
			}
			d, isDep := ev.Object.(*appsv1.Deployment)
			if !isDep {
				continue
			}
			if ev.Type == watch.Deleted {
				return nil, fmt.Errorf("%s was deleted during the rollout", t)
			}
			cur = d
			if done, err := look(d); done || err != nil {
				return nil, err
			}
		}
	}
}

func (c *Clients) get(ctx context.Context, t Target) (*appsv1.Deployment, error) {
	cl, err := c.For(t.Context)
	if err != nil {
		return nil, err
	}
	d, err := cl.AppsV1().Deployments(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("kube: get %s: %w", t, err)
	}
	return d, nil
}

// crashLoop lists the target's pods and returns one of the image that
// crash-loops, or "".
func crashLoop(ctx context.Context, cl kubernetes.Interface, t Target, d *appsv1.Deployment, image string) (string, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return "", fmt.Errorf("kube: %s: selector: %w", t, err)
	}
	pods, err := cl.CoreV1().Pods(t.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return "", fmt.Errorf("kube: list pods of %s: %w", t, err)
	}
	return CrashLooping(pods.Items, t.Container, image), nil
}

// Read returns the target's state as the cluster has it now: its image,
// its release annotation, its rollout state, and whether pods of its
// image crash-loop.
func (c *Clients) Read(ctx context.Context, t Target) (State, error) {
	cl, err := c.For(t.Context)
	if err != nil {
		return State{}, err
	}
	d, err := c.get(ctx, t)
	if err != nil {
		return State{}, err
	}
	s := Evaluate(d, t.Container)
	if s.Stuck == "" && !s.Done {
		pod, err := crashLoop(ctx, cl, t, d, s.Image)
		if err != nil {
			return State{}, err
		}
		if pod != "" {
			s.Stuck = fmt.Sprintf("pod %s crash-loops", pod)
		}
	}
	return s, nil
}

// IsNotReachable reports whether err is a failure to talk to the cluster
// rather than an answer from it.
func IsNotReachable(err error) bool {
	var se *StuckError
	var ce *ChangedError
	return err != nil && !errors.As(err, &se) && !errors.As(err, &ce)
}
