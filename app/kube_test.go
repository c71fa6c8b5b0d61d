package app_test

import (
	"archive/tar"
	"context"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy/kube"
	"github.com/jouncebot/jouncebot/deploy/kube/kubetest"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// One cluster serves the package's tests (see kubetest); each test has
// its own namespaces.
func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// initialImage is what the Deployments run before the first deploy: no
// release's image.
const initialImage = "registry.invalid/mediawiki/app@sha256:0000000000000000000000000000000000000000000000000000000000000000"

// kubeSite is the sandbox with two kubernetes stages after its hosts:
// k8s-canaries (mw-canary in dc1) and k8s-main (the release=main
// Deployments of dc1 and dc2). The two data centres are two kubeconfig
// contexts of one cluster, each with its own namespace.
type kubeSite struct {
	*consoleSession
	c        *kubetest.Cluster
	dc1, dc2 string
	repo     string
	// deny, when set, is a tag whose manifest the registry refuses.
	deny atomic.Value
}

type kubeOpt func(*config.Config)

// canaryCheck adds an http check of url to k8s-canaries.
func canaryCheck(url string) kubeOpt {
	return func(c *config.Config) {
		st := c.Deploy.StageByName("k8s-canaries")
		st.Checks = append(st.Checks, config.Check{Name: "k8s canary", Type: config.CheckHTTP, URL: url, Status: 200, Timeout: 10 * time.Second})
	}
}

// gateCanaries makes k8s-canaries wait for "tested ok".
func gateCanaries(c *config.Config) { c.Deploy.StageByName("k8s-canaries").WaitForTest = true }

func startKube(t *testing.T, opts ...kubeOpt) *kubeSite {
	t.Helper()
	truthNeedRsync(t)
	c := kubetest.Start(t)
	k := &kubeSite{c: c, dc1: c.Namespace(t), dc2: c.Namespace(t)}
	regh := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tag, _ := k.deny.Load().(string); tag != "" && r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/"+tag) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"errors":[{"code":"DENIED","message":"quota exceeded"}]}`)
			return
		}
		regh.ServeHTTP(w, r)
	}))
	t.Cleanup(reg.Close)
	k.repo = strings.TrimPrefix(reg.URL, "http://") + "/mediawiki/app"
	c.Deployment(t, k.dc1, "mw-canary", 2, initialImage, map[string]string{"release": "canary"})
	c.Deployment(t, k.dc1, "mw-main", 3, initialImage, map[string]string{"release": "main"})
	c.Deployment(t, k.dc2, "mw-main", 2, initialImage, map[string]string{"release": "main"})
	kubeconfig := c.Kubeconfig(t, map[string]string{"dc1": k.dc1, "dc2": k.dc2})
	k.consoleSession = runConsole(t, truthNow, "", func(cfg *config.Config) {
		cfg.Deploy.Kubernetes = &config.Kubernetes{Kubeconfig: kubeconfig, Image: config.KubeImage{Repository: k.repo, Insecure: true}}
		stage := func(name string, t config.KubeTargets) config.Stage {
			return config.Stage{Name: name, Method: config.SyncKubernetes, Kubernetes: &t, Concurrency: 80, Timeout: testenv.Scale(time.Minute)}
		}
		cfg.Deploy.Stages = append(cfg.Deploy.Stages,
			stage("k8s-canaries", config.KubeTargets{Contexts: []string{"dc1"}, Deployments: []string{"mw-canary"}, Container: "app"}),
			stage("k8s-main", config.KubeTargets{Contexts: []string{"dc1", "dc2"}, Selector: "release=main"}))
		for _, o := range opts {
			o(cfg)
		}
	}, app.Options{})
	k.expect("Try `jouncebot: plan")
	return k
}

// runs returns the images the pods of a Deployment run, and the release
// its annotation names.
func (k *kubeSite) runs(t *testing.T, ns, name string) (map[string]int, string) {
	t.Helper()
	ctx := context.Background()
	if err := k.c.WaitRolledOut(ctx, ns, name); err != nil {
		t.Fatal(err)
	}
	imgs, err := k.c.Images(ctx, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	d, err := k.c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return imgs, d.Annotations[kube.AnnotationRelease]
}

// onRelease fails unless every pod of the Deployment runs one image of
// the site's repository, annotated with release id; it returns the image.
func (k *kubeSite) onRelease(t *testing.T, ns, name, id string) string {
	t.Helper()
	imgs, rel := k.runs(t, ns, name)
	if len(imgs) != 1 || rel != id {
		t.Fatalf("%s/%s: pods run %v, annotated release %q; want one image of release %s", ns, name, imgs, rel, id)
	}
	for img := range imgs {
		if !strings.HasPrefix(img, k.repo+"@sha256:") {
			t.Fatalf("%s/%s runs %s, not an image of %s by digest", ns, name, img, k.repo)
		}
		return img
	}
	return ""
}

// deploy deploys the sandbox's change of that kind ("config", "core"),
// answers the testservers' question with "tested ok" and returns the
// release the deploy froze.
func (k *kubeSite) deploy(t *testing.T, change string) string {
	t.Helper()
	k.say("jouncebot: deploy " + strconv.Itoa(k.app.Sandbox().Changes[change]))
	rel := releaseID(t, k.expect("Froze release"))
	k.expect("amir, ")
	k.say("tested ok")
	return rel
}

// waitCanaryQuestion waits for k8s-canaries' test question (see
// gateCanaries).
func (k *kubeSite) waitCanaryQuestion() {
	k.t.Helper()
	k.expectLine("the canaries' test question", testenv.Scale(time.Minute), func(l string) bool {
		return strings.Contains(l, "synced to the k8s-canaries. Please test it there")
	})
}

var frozeRE = regexp.MustCompile(`Froze release (\S+) `)

func releaseID(t *testing.T, line string) string {
	t.Helper()
	m := frozeRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no release in %q", line)
	}
	return m[1]
}

// A deploy goes through the sandbox's hosts, then rolls its release's
// image out to the canary Deployment and to the main Deployments of both
// data centres, says how many pods run it, and ends done.
func TestKubeDeploy(t *testing.T) {
	t.Parallel()
	k := startKube(t)
	n := strconv.Itoa(k.app.Sandbox().Changes["config"])
	k.say("jouncebot: plan " + n)
	k.expectLine("the plan's stages", testenv.Scale(time.Minute), func(l string) bool {
		return strings.Contains(l, "k8s-canaries (roll out to mw-canary in dc1), k8s-main (roll out to the deployments matching release=main in dc1, dc2)")
	})
	rel := k.deploy(t, "config")
	k.expect("Rolling ")
	k.expectLine("the canaries' summary", testenv.Scale(time.Minute), func(l string) bool {
		return strings.HasPrefix(l, "k8s-canaries: 2/2 pods on the release, 1/1 deployment rolled out")
	})
	k.expectLine("the main Deployments' summary", testenv.Scale(time.Minute), func(l string) bool {
		return strings.HasPrefix(l, "k8s-main: 5/5 pods on the release, 2/2 deployments rolled out")
	})
	k.expect("amir: deploy 1 is done")
	img := k.onRelease(t, k.dc1, "mw-canary", rel)
	for _, d := range []struct{ ns, name string }{{k.dc1, "mw-main"}, {k.dc2, "mw-main"}} {
		if got := k.onRelease(t, d.ns, d.name, rel); got != img {
			t.Errorf("%s/%s runs %s, the canaries %s: one release, one image", d.ns, d.name, got, img)
		}
	}
}

// "tested fail" after the canary Deployment was rolled out puts it back
// to the image it ran before by digest (not rollout undo), every pod
// running it, and leaves the main Deployments alone.
func TestKubeTestedFailRollsBack(t *testing.T) {
	t.Parallel()
	k := startKube(t, gateCanaries)
	rel := k.deploy(t, "config")
	k.waitCanaryQuestion()
	newImg := k.onRelease(t, k.dc1, "mw-canary", rel)
	k.say("tested fail")
	k.expect("k8s-canaries: the deployments that got release " + rel + " run release ")
	l := k.expect("amir: deploy 1 stopped: ")
	if !strings.Contains(l, "the deployments that got release "+rel+" run release ") || !strings.Contains(l, "8 hosts hold the previous tree again, verified byte for byte") {
		t.Errorf("the rollback's outcome does not say what holds what:\n%s", l)
	}
	// The first deploy ever: the exact image it ran before, which no
	// release of the bot's built (not a new image of the previous tree).
	imgs, back := k.runs(t, k.dc1, "mw-canary")
	if back != "" || len(imgs) != 1 || imgs[newImg] > 0 || imgs[initialImage] != 2 {
		t.Errorf("mw-canary after the rollback: pods run %v, release %q; want the image it ran before the deploy, %s", imgs, back, initialImage)
	}
	if imgs, _ := k.runs(t, k.dc2, "mw-main"); imgs[initialImage] != 2 {
		t.Errorf("mw-main in dc2 was touched: %v", imgs)
	}
}

// A failed check of the canary Deployment asks the deployer; "rollback"
// puts the image it ran before back.
func TestKubeFailedCheckRollsBack(t *testing.T) {
	t.Parallel()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "fatal error", 500) }))
	t.Cleanup(bad.Close)
	k := startKube(t, canaryCheck(bad.URL))
	rel := k.deploy(t, "config")
	k.expectLine("the question after the failed check", testenv.Scale(time.Minute), func(l string) bool {
		return strings.Contains(l, "the checks of k8s-canaries failed")
	})
	k.say("rollback")
	k.expect("amir: deploy 1 stopped: Rolled back because the checks of k8s-canaries failed")
	// The first deploy: back to the image it ran before, no release's.
	if imgs, back := k.runs(t, k.dc1, "mw-canary"); back != "" || len(imgs) != 1 || imgs[initialImage] != 2 {
		t.Errorf("mw-canary after the rollback from release %s: pods run %v, annotated release %q; want %s, no release", rel, imgs, back, initialImage)
	}
}

// A rollout that cannot finish (the namespace's quota forbids new pods)
// passes its progress deadline: the deploy names the stuck Deployment,
// rolls it back to the previous release (whose pods still run) and stops.
func TestKubeStuckRolloutStops(t *testing.T) {
	t.Parallel()
	k := startKube(t)
	first := k.deploy(t, "config")
	k.expect("amir: deploy 1 is done")
	k.c.Block(t, k.dc1)
	k.deploy(t, "core")
	l := k.expectLine("the stuck Deployment named", testenv.Scale(2*time.Minute), func(l string) bool {
		return strings.HasPrefix(l, "deployment mw-canary (dc1/"+k.dc1+") is stuck: its rollout exceeded its progress deadline")
	})
	t.Log(l)
	k.expect("amir: deploy 2 stopped: Rolled back because the rollout of 1 deployment of k8s-canaries failed")
	k.onRelease(t, k.dc1, "mw-canary", first)
	if _, rel := k.runs(t, k.dc1, "mw-main"); rel != first {
		t.Errorf("mw-main went on to release %q after the canaries were stuck", rel)
	}
}

// A revert made in staging whose rollout is stuck in one cluster is not
// rolled back, as main wires it: the other cluster gets the revert, and
// the end names the Deployments that still run the reverted change.
func TestKubeRevertStuckGoesOn(t *testing.T) {
	t.Parallel()
	k := startKube(t)
	first := k.deploy(t, "config")
	k.expect("amir: deploy 1 is done")
	k.c.Block(t, k.dc1)
	k.say("jouncebot: revert " + strconv.Itoa(k.app.Sandbox().Changes["config"]))
	l := k.expectLine("the revert's end", testenv.Scale(4*time.Minute), func(l string) bool {
		return strings.Contains(l, "revert 2 is done") || strings.Contains(l, "2 stopped") || strings.Contains(l, "aborted")
	})
	if !strings.Contains(l, "revert 2 is done") || !strings.Contains(l, "mw-canary (k8s-canaries)") || !strings.Contains(l, "did not get the revert and still run the reverted change") {
		t.Errorf("the revert ended: %s\nwant it done, naming dc1's Deployments that still run the change", l)
	}
	if _, rel := k.runs(t, k.dc2, "mw-main"); rel == first {
		t.Errorf("mw-main in dc2 still runs release %s: the revert was rolled back or never reached it", first)
	}
}

// An image set by hand on a rolled-out Deployment (a colleague's kubectl
// set image) is found when the bot reads the clusters before calling the
// deploy done: the deploy stops with a sentence naming the Deployment.
func TestKubeChangedBehindTheBotsBack(t *testing.T) {
	t.Parallel()
	k := startKube(t, gateCanaries)
	rel := k.deploy(t, "config")
	k.waitCanaryQuestion()
	body := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"` + initialImage + `"}]}}}}`)
	if _, err := k.c.Client.AppsV1().Deployments(k.dc1).Patch(context.Background(), "mw-canary", types.StrategicMergePatchType, body, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	k.say("tested ok")
	l := k.expect("amir: deploy 1 stopped: Before calling deploy 1 done I read the clusters: ")
	want := "deployment mw-canary (dc1/" + k.dc1 + ") runs image 000000000000, not release " + rel
	if !strings.Contains(l, want) || !strings.Contains(l, "someone else changed its image") {
		t.Errorf("the deploy's end does not name the changed Deployment:\n%s\nwant %q", l, want)
	}
}

// A release whose image the registry refuses fails the first kubernetes
// stage, names the cause once, and the rollback leaves the Deployments
// the bot never patched as they were: the previous release's image (which
// the registry takes) is not rolled out to them.
func TestKubeImageFailureTouchesNothing(t *testing.T) {
	t.Parallel()
	k := startKube(t)
	k.say("jouncebot: deploy " + strconv.Itoa(k.app.Sandbox().Changes["config"]))
	rel := releaseID(t, k.expect("Froze release"))
	k.deny.Store(rel) // images are tagged with their release
	k.expect("amir, ")
	k.say("tested ok")
	k.expect("The image of release " + rel + " could not be built or pushed to the registry.")
	k.expect("amir: deploy 1 stopped: Rolled back because the rollout of 1 deployment of k8s-canaries failed")
	if imgs, back := k.runs(t, k.dc1, "mw-canary"); imgs[initialImage] != 2 || back != "" {
		t.Errorf("mw-canary was changed by the rollback: pods run %v, release %q", imgs, back)
	}
}

// Images never carry the private files the release store freezes from
// outside git (deploy.sync.untracked: private/PrivateSettings.php holds
// database passwords): deploy.kubernetes.image.exclude (default
// private/) keeps them out of the full image and of the next release's
// layer, and a private file removed between the two leaves no whiteout
// naming it either. Pods get private settings as a Kubernetes Secret.
func TestKubeImagesCarryNoPrivateFiles(t *testing.T) {
	t.Parallel()
	k := startKube(t)
	sb := k.app.Sandbox()
	truthWrite(t, filepath.Join(sb.Staging, ".git/info/exclude"), "/private/\n")
	truthWrite(t, filepath.Join(sb.Staging, "private/PrivateSettings.php"), "<?php\n$wgDBpassword = 'hunter2';\n")
	truthWrite(t, filepath.Join(sb.Staging, "private/Old.php"), "<?php\n$wgOldSecret = 's3';\n")
	first := k.deploy(t, "config")
	k.expect("amir: deploy 1 is done")
	full := k.onRelease(t, k.dc1, "mw-canary", first)

	truthWrite(t, filepath.Join(sb.Staging, "private/PrivateSettings.php"), "<?php\n$wgDBpassword = 'hunter3';\n")
	if err := os.Remove(filepath.Join(sb.Staging, "private/Old.php")); err != nil {
		t.Fatal(err)
	}
	second := k.deploy(t, "core")
	k.expect("amir: deploy 2 is done")
	delta := k.onRelease(t, k.dc1, "mw-canary", second)

	fullFiles, fullLayers := imageFiles(t, full)
	deltaFiles, deltaLayers := imageFiles(t, delta)
	if deltaLayers != fullLayers+1 {
		t.Errorf("release %s's image has %d layers, release %s's %d: want the second built on the first with one layer", second, deltaLayers, first, fullLayers)
	}
	if len(fullFiles) == 0 {
		t.Fatalf("release %s's image holds no release file", first)
	}
	for img, files := range map[string][]string{full: fullFiles, delta: deltaFiles} {
		for _, f := range files {
			if strings.Contains(f, "private") || strings.Contains(f, "PrivateSettings") || strings.Contains(f, "Old.php") {
				t.Errorf("image %s carries %s", img, f)
			}
		}
	}
}

// imageFiles returns the names of every entry of every layer of image
// ref (whiteouts included) and the image's number of layers.
func imageFiles(t *testing.T, ref string) ([]string, int) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, h.Name)
		}
		rc.Close()
	}
	return out, len(layers)
}

// A paused Deployment (kubectl rollout pause) would never roll out what
// the bot sets on it: the stage says so at once, naming it, without
// patching it, and the deploy stops instead of waiting for the stage's
// timeout.
func TestKubePausedDeploymentIsSaid(t *testing.T) {
	t.Parallel()
	k := startKube(t, func(c *config.Config) {
		// Far beyond the test's wait: the sentence must not come from
		// the timeout.
		c.Deploy.StageByName("k8s-canaries").Timeout = time.Hour
	})
	if _, err := k.c.Client.AppsV1().Deployments(k.dc1).Patch(context.Background(), "mw-canary", types.StrategicMergePatchType,
		[]byte(`{"spec":{"paused":true}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	k.deploy(t, "config")
	k.expectLine("the paused Deployment named", testenv.Scale(time.Minute), func(l string) bool {
		return strings.HasPrefix(l, "deployment mw-canary (dc1/"+k.dc1+") is paused")
	})
	k.expect("amir: deploy 1 stopped: ")
	d, err := k.c.Client.AppsV1().Deployments(k.dc1).Get(context.Background(), "mw-canary", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != initialImage || d.Annotations[kube.AnnotationRelease] != "" {
		t.Errorf("the paused mw-canary was patched: image %s, release %q", img, d.Annotations[kube.AnnotationRelease])
	}
}

// A rollback puts each Deployment back on the exact image it ran before
// the release, by digest, even when the previous release's image record
// (image.json) is lost: a rebuilt image of that release would be another
// image, one no pod ever ran.
func TestKubeRollbackRestoresTheExactImage(t *testing.T) {
	t.Parallel()
	k := startKube(t, gateCanaries)
	sb := k.app.Sandbox()
	first := k.deploy(t, "config")
	k.waitCanaryQuestion()
	k.say("tested ok")
	k.expect("amir: deploy 1 is done")
	before := k.onRelease(t, k.dc1, "mw-canary", first)
	if err := os.Remove(filepath.Join(filepath.Dir(sb.Servers), "releases", first, "image.json")); err != nil {
		t.Fatal(err)
	}
	second := k.deploy(t, "core")
	k.waitCanaryQuestion()
	k.onRelease(t, k.dc1, "mw-canary", second)
	k.say("tested fail")
	k.expect("amir: deploy 2 stopped: ")
	if got := k.onRelease(t, k.dc1, "mw-canary", first); got != before {
		t.Errorf("mw-canary after the rollback runs %s, before the deploy it ran %s", got, before)
	}
}

// The clusters are read before "done" for the Deployments the stages
// rolled out, as recorded, not as their selector matches now: one taken
// out of the selector and set back to another image behind the bot's
// back (the selector then matches nothing) is still found.
func TestKubeTruthReadsTheDeploymentsRolledOut(t *testing.T) {
	t.Parallel()
	k := startKube(t, gateCanaries, func(c *config.Config) {
		c.Deploy.StageByName("k8s-canaries").Kubernetes = &config.KubeTargets{Contexts: []string{"dc1"}, Selector: "release=canary", Container: "app"}
	})
	rel := k.deploy(t, "config")
	k.waitCanaryQuestion()
	body := []byte(`{"metadata":{"labels":{"release":"retired"}},"spec":{"template":{"spec":{"containers":[{"name":"app","image":"` + initialImage + `"}]}}}}`)
	if _, err := k.c.Client.AppsV1().Deployments(k.dc1).Patch(context.Background(), "mw-canary", types.StrategicMergePatchType, body, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	k.say("tested ok")
	l := k.expect("amir: deploy 1 ")
	want := "deployment mw-canary (dc1/" + k.dc1 + ") runs image 000000000000, not release " + rel
	if !strings.Contains(l, "stopped: Before calling deploy 1 done I read the clusters: ") || !strings.Contains(l, want) {
		t.Errorf("the deploy's end does not name the changed Deployment:\n%s\nwant %q", l, want)
	}
}

// A named Deployment that does not exist is said as such (the cluster
// answered), not as a cluster that did not answer, and the rollback has
// nothing to put back there.
func TestKubeMissingDeploymentIsSaid(t *testing.T) {
	t.Parallel()
	k := startKube(t, func(c *config.Config) {
		c.Deploy.StageByName("k8s-canaries").Kubernetes.Deployments = []string{"mw-gone"}
	})
	k.deploy(t, "config")
	k.expectLine("the missing Deployment named", testenv.Scale(time.Minute), func(l string) bool {
		return strings.HasPrefix(l, "deployment mw-gone (dc1/"+k.dc1+") does not exist")
	})
	// Nothing to put back there: the rollback does not count it failed.
	if l := k.expect("amir: deploy 1 stopped: "); strings.Contains(l, "could not be put back") {
		t.Errorf("the rollback counts the missing Deployment as not put back:\n%s", l)
	}
}

// The check before "done" decides from the image a Deployment runs, read
// from the registry, whether it runs the release: it never builds one.
// With the release's image record (image.json) lost, a rebuilt image of
// the release would be a full image, not the delta image rolled out, and
// the check would wrongly say someone else changed the Deployment.
func TestKubeTruthNeedsNoImageRecord(t *testing.T) {
	t.Parallel()
	k := startKube(t, gateCanaries, func(c *config.Config) {
		var stages []config.Stage
		for _, st := range c.Deploy.Stages {
			if st.Name != "k8s-main" {
				stages = append(stages, st)
			}
		}
		c.Deploy.Stages = stages
	})
	sb := k.app.Sandbox()
	k.deploy(t, "config")
	k.waitCanaryQuestion()
	k.say("tested ok")
	k.expect("amir: deploy 1 is done")
	second := k.deploy(t, "core")
	k.waitCanaryQuestion()
	running := k.onRelease(t, k.dc1, "mw-canary", second)
	if err := os.Remove(filepath.Join(filepath.Dir(sb.Servers), "releases", second, "image.json")); err != nil {
		t.Fatal(err)
	}
	k.say("tested ok")
	if l := k.expect("amir: deploy 2 "); !strings.Contains(l, "deploy 2 is done") {
		t.Errorf("deploy 2 did not end done with its image record lost:\n%s", l)
	}
	if got := k.onRelease(t, k.dc1, "mw-canary", second); got != running {
		t.Errorf("mw-canary runs %s after the check, %s before", got, running)
	}
}

// The check before "done" reads the release the running image holds from
// its manifest in the registry. An image of the release built under
// other exclusions (by the bot before an upgrade changed image.exclude)
// is still the release; an image that names no release, or one the
// registry no longer has, is not known to run it, and the sentence says
// so rather than blaming someone else.
func TestKubeTruthReadsTheRunningImage(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		// anns changes the running image's annotations (they are merged).
		anns func(m map[string]string)
		gone bool
		// want is in the deploy's last line.
		want string
	}{
		{name: "exclusions changed", anns: func(m map[string]string) { m["org.jouncebot.exclude"] = "" }, want: "deploy 1 is done"},
		{name: "no release", anns: func(m map[string]string) { m["org.jouncebot.release"] = "" },
			want: "which names no release, so it is not known to run release "},
		{name: "gone", anns: func(m map[string]string) { m["org.jouncebot.exclude"] = "" }, gone: true,
			want: "which the registry no longer has, so it is not known to run release "},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := startKube(t, gateCanaries)
			rel := k.deploy(t, "config")
			k.waitCanaryQuestion()
			ref, err := name.NewDigest(k.onRelease(t, k.dc1, "mw-canary", rel), name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			img, err := remote.Image(ref)
			if err != nil {
				t.Fatal(err)
			}
			m, err := img.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			anns := maps.Clone(m.Annotations)
			c.anns(anns)
			other := mutate.Annotations(img, anns).(v1.Image)
			if err := remote.Write(ref.Context().Tag("other"), other); err != nil {
				t.Fatal(err)
			}
			dig, err := other.Digest()
			if err != nil {
				t.Fatal(err)
			}
			body := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"` + k.repo + "@" + dig.String() + `"}]}}}}`)
			if _, err := k.c.Client.AppsV1().Deployments(k.dc1).Patch(context.Background(), "mw-canary", types.StrategicMergePatchType, body, metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
			k.onRelease(t, k.dc1, "mw-canary", rel) // rolled out
			if c.gone {
				if err := remote.Delete(ref.Context().Digest(dig.String())); err != nil {
					t.Fatal(err)
				}
			}
			k.say("tested ok")
			l := k.expect("amir: deploy 1 ")
			if !strings.Contains(l, c.want) || strings.Contains(l, "someone else") {
				t.Errorf("the deploy's end:\n%s\nwant %q", l, c.want)
			}
		})
	}
}
