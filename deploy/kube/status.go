package kube

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Annotations the bot writes on each Deployment it patches.
const (
	AnnotationRelease = "jouncebot.org/release"
	AnnotationDeploy  = "jouncebot.org/deploy"
	// AnnotationChangeCause is what `kubectl rollout history` shows.
	AnnotationChangeCause = "kubernetes.io/change-cause"
	// AnnotationPreviousImage and AnnotationPreviousRelease are the image
	// and release annotation the Deployment had before the bot last
	// rolled a release out to it: a rollback puts back that exact image,
	// whether or not the bot built it (the first deploy) and whether or
	// not the previous release's image record survived.
	AnnotationPreviousImage   = "jouncebot.org/previous-image"
	AnnotationPreviousRelease = "jouncebot.org/previous-release"
	// AnnotationUndid is the release whose rollback set the previous
	// image back.
	AnnotationUndid = "jouncebot.org/rolled-back"
)

// State is what a Deployment runs and how far its rollout got.
type State struct {
	// Image is the image of the target container in the pod template.
	Image string
	// Release is the release the bot last rolled out to it (its
	// annotation; "" when none).
	Release string
	// Replicas wanted; Updated run the template's image; Available of
	// them are available; Old pods still run an older template.
	Replicas, Updated, Available, Old int
	// Done is true when the rollout is complete, as kubectl rollout
	// status says "successfully rolled out".
	Done bool
	// Stuck says why the rollout cannot finish ("" when it is not
	// stuck): the progress deadline passed or pods crash-loop.
	Stuck string
	// Waiting says what the rollout waits for, as kubectl says it.
	Waiting string
	// PrevImage and PrevRelease are what the Deployment ran before the
	// bot's last rollout ("" when the bot never recorded it); Undid is
	// the release a rollback took away from it.
	PrevImage, PrevRelease, Undid string
}

// Digest is the sha256:… part of the image reference, or "".
func (s State) Digest() string { return Digest(s.Image) }

// Digest returns the digest of an image reference repo@sha256:…, or "".
func Digest(ref string) string {
	if _, d, ok := strings.Cut(ref, "@"); ok {
		return d
	}
	return ""
}

// Evaluate reads the rollout state of d's container (the first when
// container is ""), the way kubectl's DeploymentStatusViewer does:
// the controller has observed the latest generation, every replica is
// updated, no old replica is left and every updated one is available. A
// Progressing condition with reason ProgressDeadlineExceeded is stuck.
func Evaluate(d *appsv1.Deployment, container string) State {
	a := d.Annotations
	s := State{Release: a[AnnotationRelease], PrevImage: a[AnnotationPreviousImage], PrevRelease: a[AnnotationPreviousRelease], Undid: a[AnnotationUndid]}
	if c := findContainer(d.Spec.Template.Spec.Containers, container); c != nil {
		s.Image = c.Image
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	s.Replicas, s.Updated, s.Available = int(want), int(st.UpdatedReplicas), int(min(st.AvailableReplicas, st.UpdatedReplicas))
	s.Old = max(int(st.Replicas-st.UpdatedReplicas), 0)
	if d.Generation > st.ObservedGeneration {
		s.Updated, s.Available = 0, 0
		s.Waiting = "waiting for the deployment spec update to be observed"
		return s
	}
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			s.Stuck = "its rollout exceeded its progress deadline"
			if c.Message != "" {
				s.Stuck += " (" + strings.TrimSuffix(c.Message, ".") + ")"
			}
			return s
		}
	}
	switch {
	case st.UpdatedReplicas < want:
		s.Waiting = fmt.Sprintf("%d out of %d new replicas have been updated", st.UpdatedReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		s.Waiting = fmt.Sprintf("%d old replicas are pending termination", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < st.UpdatedReplicas:
		s.Waiting = fmt.Sprintf("%d of %d updated replicas are available", st.AvailableReplicas, st.UpdatedReplicas)
	default:
		s.Done = true
	}
	if !s.Done && d.Spec.Paused {
		s.Stuck, s.Waiting = pausedWhy, ""
	}
	return s
}

// pausedWhy is State.Stuck of a paused Deployment that has not rolled
// out: the controller neither rolls it out nor marks its progress
// deadline passed while it is paused.
const pausedWhy = "it is paused (kubectl rollout resume lets it roll out)"

// CrashLoopLimit is the restart count at which a container of the new
// image counts as crash-looping even before the kubelet says so.
const CrashLoopLimit = 3

// CrashLooping returns the name of a pod whose container of image is
// crash-looping (waiting in CrashLoopBackOff, or restarted CrashLoopLimit
// times), or "".
func CrashLooping(pods []corev1.Pod, container, image string) string {
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, cs := range p.Status.ContainerStatuses {
			if (container != "" && cs.Name != container) || cs.Image != image {
				continue
			}
			if w := cs.State.Waiting; (w != nil && w.Reason == "CrashLoopBackOff") || cs.RestartCount >= CrashLoopLimit {
				return p.Name
			}
		}
	}
	return ""
}

func findContainer(cs []corev1.Container, name string) *corev1.Container {
	for i := range cs {
		if name == "" || cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}
