package kube_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/jouncebot/jouncebot/deploy/kube"
)

func deployment(gen, observed int64, want int32, st appsv1.DeploymentStatus) *appsv1.Deployment {
	st.ObservedGeneration = observed
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "mw", Generation: gen, Annotations: map[string]string{kube.AnnotationRelease: "r1"}},
		Spec: appsv1.DeploymentSpec{Replicas: &want, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "sidecar", Image: "envoy"}, {Name: "app", Image: "reg/app@sha256:aa"}}}}},
		Status: st,
	}
}

func paused(d *appsv1.Deployment) *appsv1.Deployment {
	d.Spec.Paused = true
	return d
}

// TestEvaluate follows kubectl rollout status: the spec must be observed,
// every replica updated, no old one left, every updated one available; a
// passed progress deadline is stuck.
func TestEvaluate(t *testing.T) {
	deadline := []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
		Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "mw-1" has timed out progressing.`}}
	for _, tc := range []struct {
		name string
		d    *appsv1.Deployment
		want kube.State
	}{
		{"done", deployment(2, 2, 3, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}),
			kube.State{Image: "reg/app@sha256:aa", Release: "r1", Replicas: 3, Updated: 3, Available: 3, Done: true}},
		{"not observed", deployment(3, 2, 3, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}),
			kube.State{Image: "reg/app@sha256:aa", Release: "r1", Replicas: 3, Waiting: "waiting for the deployment spec update to be observed"}},
		{"updating", deployment(2, 2, 3, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1, AvailableReplicas: 3}),
			kube.State{Image: "reg/app@sha256:aa", Release: "r1", Replicas: 3, Updated: 1, Available: 1, Old: 3, Waiting: "1 out of 3 new replicas have been updated"}},
		{"old pending", deployment(2, 2, 3, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 3, AvailableReplicas: 4}),
			kube.State{Image: "reg/app@sha256:aa", Release: "r1", Replicas: 3, Updated: 3, Available: 3, Old: 1, Waiting: "1 old replicas are pending termination"}},
		{"not available", deployment(2, 2, 3, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 2}),
			kube.State{Image: "reg/app@sha256:aa", Release: "r1", Replicas: 3, Updated: 3, Available: 2, Waiting: "2 of 3 updated replicas are available"}},
		{"deadline", deployment(2, 2, 3, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 1, AvailableReplicas: 2, Conditions: deadline}),
			kube.State{Image: "reg/app@sha256:aa", Release: "r1", Replicas: 3, Updated: 1, Available: 1, Old: 2,
				Stuck: `its rollout exceeded its progress deadline (ReplicaSet "mw-1" has timed out progressing)`}},
		{"paused", paused(deployment(2, 2, 3, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 0, AvailableReplicas: 3})),
			kube.State{Image: "reg/app@sha256:aa", Release: "r1", Replicas: 3, Old: 3, Stuck: "it is paused (kubectl rollout resume lets it roll out)"}},
		{"paused, rolled out", paused(deployment(2, 2, 3, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3})),
			kube.State{Image: "reg/app@sha256:aa", Release: "r1", Replicas: 3, Updated: 3, Available: 3, Done: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, kube.Evaluate(tc.d, "app")); diff != "" {
				t.Errorf("Evaluate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCrashLooping(t *testing.T) {
	pod := func(name, image string, restarts int32, reason string) corev1.Pod {
		cs := corev1.ContainerStatus{Name: "app", Image: image, RestartCount: restarts}
		if reason != "" {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason}
		}
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{cs}}}
	}
	for _, tc := range []struct {
		name string
		pods []corev1.Pod
		want string
	}{
		{"healthy", []corev1.Pod{pod("a", "new", 0, ""), pod("b", "new", 1, "")}, ""},
		{"backoff", []corev1.Pod{pod("a", "new", 0, ""), pod("b", "new", 1, "CrashLoopBackOff")}, "b"},
		{"restarts", []corev1.Pod{pod("a", "new", kube.CrashLoopLimit, "")}, "a"},
		{"old image", []corev1.Pod{pod("a", "old", 9, "CrashLoopBackOff")}, ""},
		{"creating", []corev1.Pod{pod("a", "new", 0, "ContainerCreating")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := kube.CrashLooping(tc.pods, "app", "new"); got != tc.want {
				t.Errorf("CrashLooping = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDest(t *testing.T) {
	for _, tg := range []kube.Target{
		{Context: "eqiad", Namespace: "mediawiki", Name: "mw-api"},
		{Context: "arn:aws:eks:eu-west-1:1:cluster/main", Namespace: "mw", Name: "canary", Container: "php"},
	} {
		got, err := kube.ParseDest(tg.Dest())
		if err != nil {
			t.Fatalf("ParseDest(%q): %v", tg.Dest(), err)
		}
		if got != tg {
			t.Errorf("ParseDest(%q) = %+v, want %+v", tg.Dest(), got, tg)
		}
	}
	for _, bad := range []string{"rsync://h/m", "kubernetes://c/ns", "kubernetes://c/ns/a/b", "kubernetes://c//a"} {
		if _, err := kube.ParseDest(bad); err == nil {
			t.Errorf("ParseDest(%q) accepted it", bad)
		}
	}
}
