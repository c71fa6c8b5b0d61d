package kube_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/jouncebot/jouncebot/deploy/kube"
	"github.com/jouncebot/jouncebot/deploy/kube/kubetest"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

const (
	imgA = "registry.test/mw/app@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	imgB = "registry.test/mw/app@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// TestRollout patches Deployments in two contexts (two namespaces of one
// cluster stand for two data centres) and waits until every pod runs the
// new image; Read then reports the release and a finished rollout.
func TestRollout(t *testing.T) {
	c := kubetest.Start(t)
	ns1, ns2 := c.Namespace(t), c.Namespace(t)
	c.Deployment(t, ns1, "mw-api", 3, imgA, map[string]string{"tier": "canary"})
	c.Deployment(t, ns2, "mw-api", 2, imgA, map[string]string{"tier": "canary"})
	c.Deployment(t, ns2, "mw-web", 1, imgA, nil)
	cs := kube.NewClients(c.Kubeconfig(t, map[string]string{"dc1": ns1, "dc2": ns2}))
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Scale(60*time.Second))
	defer cancel()

	ts, err := cs.Resolve(ctx, kube.Spec{Contexts: []string{"dc1", "dc2"}, Namespace: "", Selector: "tier=canary"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].Namespace != ns1 || ts[1].Namespace != ns2 {
		t.Fatalf("Resolve = %+v, want mw-api in %s and %s", ts, ns1, ns2)
	}
	for _, tg := range ts {
		var states []kube.State
		if err := cs.Rollout(ctx, tg, kube.Patch{Image: imgB, Release: "r2", Deploy: "d1"}, func(s kube.State) { states = append(states, s) }); err != nil {
			t.Fatalf("Rollout %s: %v", tg, err)
		}
		if len(states) == 0 || !states[len(states)-1].Done {
			t.Errorf("%s: progress ended with %+v, want a finished rollout", tg, states)
		}
		imgs, err := c.Images(ctx, tg.Namespace, tg.Name)
		if err != nil {
			t.Fatal(err)
		}
		if len(imgs) != 1 || imgs[imgB] == 0 {
			t.Errorf("%s: pods run %v, want only %s", tg, imgs, imgB)
		}
		st, err := cs.Read(ctx, tg)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Done || st.Release != "r2" || st.Digest() != kube.Digest(imgB) {
			t.Errorf("Read %s = %+v, want release r2 rolled out", tg, st)
		}
	}
	// The Deployment the selector left out is untouched.
	if imgs, _ := c.Images(ctx, ns2, "mw-web"); imgs[imgA] != 1 {
		t.Errorf("mw-web runs %v, want %s", imgs, imgA)
	}
}

// TestRolloutStuck: a Deployment that cannot create the new pods passes
// its progress deadline; Rollout says it is stuck, naming it, and Read
// says so too.
func TestRolloutStuck(t *testing.T) {
	c := kubetest.Start(t)
	ns := c.Namespace(t)
	c.Deployment(t, ns, "mw-canary", 2, imgA, nil)
	c.Block(t, ns)
	cs := kube.NewClients(c.Kubeconfig(t, map[string]string{"dc1": ns}))
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Scale(60*time.Second))
	defer cancel()
	tg := kube.Target{Context: "dc1", Namespace: ns, Name: "mw-canary"}
	err := cs.Rollout(ctx, tg, kube.Patch{Image: imgB, Release: "r2", Deploy: "d1"}, nil)
	var stuck *kube.StuckError
	if !errors.As(err, &stuck) || stuck.Target != tg {
		t.Fatalf("Rollout = %v, want a StuckError naming %s", err, tg)
	}
	st, err := cs.Read(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Stuck == "" || st.Done {
		t.Errorf("Read = %+v, want stuck", st)
	}
	if got := kube.Differs(tg, st, "r2", imgB); got == "" {
		t.Errorf("Differs found nothing wrong with a stuck deployment")
	}
}

// TestRolloutChanged: another image set during the rollout (a colleague's
// kubectl set image) ends the watch with a ChangedError.
func TestRolloutChanged(t *testing.T) {
	c := kubetest.Start(t)
	ns := c.Namespace(t)
	c.Deployment(t, ns, "mw-api", 2, imgA, nil)
	c.Block(t, ns) // the rollout waits, so the change lands during it
	cs := kube.NewClients(c.Kubeconfig(t, map[string]string{"dc1": ns}))
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Scale(60*time.Second))
	defer cancel()
	tg := kube.Target{Context: "dc1", Namespace: ns, Name: "mw-api"}
	other := imgA[:len(imgA)-1] + "c"
	err := cs.Rollout(ctx, tg, kube.Patch{Image: imgB, Release: "r2", Deploy: "d1", Patched: func() {
		body := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"` + other + `"}]}}}}`)
		if _, err := c.Client.AppsV1().Deployments(ns).Patch(ctx, "mw-api", types.StrategicMergePatchType, body, metav1.PatchOptions{}); err != nil {
			t.Errorf("patch by hand: %v", err)
		}
	}}, nil)
	var changed *kube.ChangedError
	if !errors.As(err, &changed) || changed.Found != other {
		t.Fatalf("Rollout = %v, want a ChangedError finding %s", err, other)
	}
}
