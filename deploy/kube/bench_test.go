package kube_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/image"
	"github.com/jouncebot/jouncebot/deploy/kube"
	"github.com/jouncebot/jouncebot/deploy/kube/kubetest"
	"github.com/jouncebot/jouncebot/deploy/release"
)

// The rollout benchmarks time a kubernetes stage as the engine runs it (a
// hostsync stage of kube.Method, every Deployment at once) from the
// patch to every pod on the release. The image is one the registry
// already has (its build is deploy/image's benchmark); the cluster's
// start and the Deployments' creation are outside the timed loop.

// staticImages gives each release a fixed image.
type staticImages map[string]string

func (s staticImages) Image(_ context.Context, rel, _ *release.Release) (image.Image, error) {
	return image.Image{Ref: s[rel.ID], Digest: kube.Digest(s[rel.ID])}, nil
}

// fakeReleases writes complete, empty releases with these ids.
func fakeReleases(b *testing.B, ids ...string) *release.Store {
	b.Helper()
	dir := b.TempDir()
	for _, id := range ids {
		for _, f := range []struct{ name, data string }{{"manifest.json", "{}"}, {"complete", ""}} {
			if err := os.MkdirAll(filepath.Join(dir, id, "tree"), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, id, f.name), []byte(f.data), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	return &release.Store{Dir: dir}
}

const relA, relB = "aaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbb"

// stageOf is the engine's stage over targets.
func stageOf(cs *kube.Clients, store *release.Store, ts []kube.Target) *hostsync.Stage {
	m := &kube.Method{Clients: cs, Images: staticImages{relA: imgA, relB: imgB}, Releases: store, Stage: "bench", ProgressEvery: time.Second}
	hs := &hostsync.Stage{Name: "bench", Method: m.For(kube.Run{Deploy: "bench", Targets: len(ts)}), Concurrency: 80, Timeout: 10 * time.Minute}
	for _, t := range ts {
		hs.Hosts = append(hs.Hosts, hostsync.Host{Name: t.HostName(), Dest: t.Dest()})
	}
	hs.MaxFailed = 0
	return hs
}

func rollStage(b *testing.B, hs *hostsync.Stage, store *release.Store, id string) {
	rel, err := store.Open(id)
	if err != nil {
		b.Fatal(err)
	}
	rep, err := hs.Sync(context.Background(), hostsync.Job{Source: rel.Tree()})
	if err != nil {
		if rep != nil && len(rep.Failed()) > 0 {
			err = fmt.Errorf("%w; first: %s: %v", err, rep.Failed()[0].Host, rep.Failed()[0].Err)
		}
		b.Fatal(err)
	}
}

// BenchmarkRollout3x100 rolls one release out to 3 Deployments of 100 pods:
// the engine's stage, then `kubectl set image` + `kubectl rollout status`
// on the same cluster, in the same run.
func BenchmarkRollout3x100(b *testing.B) {
	c := kubetest.Start(b)
	ns := c.Namespace(b)
	names := []string{"mw-api", "mw-web", "mw-jobs"}
	var ts []kube.Target
	for _, n := range names {
		c.Deployment(b, ns, n, 100, imgA, nil)
		ts = append(ts, kube.Target{Context: "dc1", Namespace: ns, Name: n, Container: "app"})
	}
	kc := c.Kubeconfig(b, map[string]string{"dc1": ns})
	store := fakeReleases(b, relA, relB)
	flip := map[bool]string{true: relB, false: relA}
	images := map[string]string{relA: imgA, relB: imgB}
	i := 0 // shared: every op of either side changes the image
	b.Run("engine", func(b *testing.B) {
		hs := stageOf(kube.NewClients(kc), store, ts)
		for b.Loop() {
			rollStage(b, hs, store, flip[i%2 == 0])
			i++
		}
	})
	b.Run("kubectl", func(b *testing.B) {
		kubectl := filepath.Join(c.Bin, "kubectl")
		if _, err := os.Stat(kubectl); err != nil {
			b.Skip("kubectl is not installed beside the cluster's binaries")
		}
		run := func(args ...string) {
			cmd := exec.Command(kubectl, append([]string{"--kubeconfig", kc, "-n", ns}, args...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("kubectl %v: %v\n%s", args, err, out)
			}
		}
		for b.Loop() {
			img := images[flip[i%2 == 0]]
			i++
			args := []string{"set", "image"}
			for _, n := range names {
				args = append(args, "deployment/"+n)
			}
			run(append(args, "app="+img)...)
			for _, n := range names {
				run("rollout", "status", "deployment/"+n, "--timeout=10m")
			}
		}
	})
}

// BenchmarkRollout5000 rolls one release out to 5,000 pods: 25
// Deployments of 100 pods in each of two contexts (data centres). It
// reports the stage's wall time per op and the bot's heap in use after
// it (MB).
func BenchmarkRollout5000(b *testing.B) {
	c := kubetest.Start(b)
	dc1, dc2 := c.Namespace(b), c.Namespace(b)
	var ts []kube.Target
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	for i := range 25 {
		for _, d := range []struct{ ctx, ns string }{{"dc1", dc1}, {"dc2", dc2}} {
			name := fmt.Sprintf("mw-%02d", i)
			if err := c.CreateDeployment(ctx, d.ns, name, 100, imgA, nil); err != nil {
				b.Fatal(err)
			}
			ts = append(ts, kube.Target{Context: d.ctx, Namespace: d.ns, Name: name})
		}
	}
	for _, t := range ts {
		if err := c.WaitRolledOut(ctx, t.Namespace, t.Name); err != nil {
			b.Fatal(err)
		}
	}
	kc := c.Kubeconfig(b, map[string]string{"dc1": dc1, "dc2": dc2})
	store := fakeReleases(b, relA, relB)
	hs := stageOf(kube.NewClients(kc), store, ts)
	flip := map[bool]string{true: relB, false: relA}
	i := 0
	var ms runtime.MemStats
	b.ReportAllocs()
	for b.Loop() {
		rollStage(b, hs, store, flip[i%2 == 0])
		i++
	}
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
}
