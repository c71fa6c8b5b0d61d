package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/jouncebot/jouncebot/deploy/kube"
	"github.com/jouncebot/jouncebot/deploy/kube/kubetest"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// TestKubeKilledMidRollout kills jouncebot (SIGKILL) right after it
// patched the main Deployments of two data centres, before it watched
// their rollouts, and starts it again: the restarted bot reads the
// clusters rather than its record, finishes the rollout and ends the
// deploy done, with every pod of both Deployments on the release.
func TestKubeKilledMidRollout(t *testing.T) {
	for _, tool := range []string{"git", "rsync"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, tool+" is not installed")
		}
	}
	c := kubetest.Start(t)
	dc1, dc2 := c.Namespace(t), c.Namespace(t)
	const initial = "registry.invalid/mediawiki/app@sha256:0000000000000000000000000000000000000000000000000000000000000000"
	c.Deployment(t, dc1, "mw-main", 3, initial, map[string]string{"release": "main"})
	c.Deployment(t, dc2, "mw-main", 2, initial, map[string]string{"release": "main"})
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	repo := strings.TrimPrefix(reg.URL, "http://") + "/mediawiki/app"
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	err := os.WriteFile(cfg, []byte(fmt.Sprintf(`bot:
  data_dir: %s
  console_person: Amir
people:
  - {name: Amir, irc_account: amir, gerrit: amir, roles: [deployer]}
deploy:
  sandbox: true
  sync: {source: %s}
  kubernetes:
    kubeconfig: %s
    image: {repository: %q, insecure: true}
  stages:
    - name: k8s-main
      method: kubernetes
      kubernetes: {contexts: [dc1, dc2], selector: release=main}
`, filepath.Join(dir, "data"), dir, c.Kubeconfig(t, map[string]string{"dc1": dc1, "dc2": dc2}), repo)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	first := startConfigBot(t, cfg, "JOUNCEBOT_TEST_CRASH_AT=rollout:k8s-main")
	first.say("deploy --force 445113 kill test")
	rel := regexp.MustCompile(`Froze release (\S+) `).FindStringSubmatch(first.waitLine("Froze release"))[1]
	first.waitLine("Please test it there")
	first.say("tested ok")
	first.waitLine("test crash point rollout:k8s-main reached")
	first.kill()

	second := startConfigBot(t, cfg)
	second.waitLine("Resuming deploy 1 (445113) after a restart")
	second.waitLine("deploy 1 is done: 445113.", "deploy 1 stopped: ")
	second.quit()
	chat := second.output()
	if !strings.Contains(chat, "k8s-main: 5/5 pods on the release, 2/2 deployments rolled out") {
		t.Errorf("the restarted bot did not say the pods it found on the release:\n%s", chat)
	}
	if strings.Contains(chat, "deploy 1 stopped") {
		t.Fatalf("the deploy did not finish:\n%s", first.output()+"\n"+chat)
	}
	ctx := context.Background()
	for _, ns := range []string{dc1, dc2} {
		if err := c.WaitRolledOut(ctx, ns, "mw-main"); err != nil {
			t.Fatal(err)
		}
		imgs, err := c.Images(ctx, ns, "mw-main")
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "mw-main", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(imgs) != 1 || imgs[initial] > 0 || d.Annotations[kube.AnnotationRelease] != rel {
			t.Errorf("%s/mw-main: pods run %v, annotated release %q; want one image of release %s", ns, imgs, d.Annotations[kube.AnnotationRelease], rel)
		}
	}
}

// startConfigBot runs jouncebot with a configuration file and extra
// environment, driven through its console.
func startConfigBot(t *testing.T, cfg string, env ...string) *sandboxBot {
	t.Helper()
	cmd := exec.Command(os.Args[0], "--config", cfg)
	return startBotCmd(t, cmd, env...)
}

// check-config finds a context missing from the kubeconfig, a Deployment
// that does not exist and a selector that matches nothing, and lists what
// the stages would roll out when everything is there.
func TestKubeCheckConfig(t *testing.T) {
	c := kubetest.Start(t)
	ns := c.Namespace(t)
	c.Deployment(t, ns, "mw-canary", 1, "registry.invalid/app@sha256:"+strings.Repeat("0", 64), map[string]string{"release": "canary"})
	kc := c.Kubeconfig(t, map[string]string{"dc1": ns})
	dir := t.TempDir()
	write := func(stages string) string {
		path := filepath.Join(dir, "config.yaml")
		err := os.WriteFile(path, []byte(fmt.Sprintf(`bot: {data_dir: %s}
deploy:
  sandbox: true
  sync: {source: %s}
  kubernetes:
    kubeconfig: %s
    image: {repository: registry.example.org/mediawiki/app}
  stages:
%s`, filepath.Join(dir, "data"), dir, kc, stages)), 0o644)
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name, stages string
		ok           bool
		want         []string
	}{
		{"fine", "    - {name: canaries, method: kubernetes, kubernetes: {contexts: [dc1], selector: release=canary, container: app}}\n",
			true, []string{"stage canaries, context dc1: " + ns + "/mw-canary.",
				"Release images go to registry.example.org/mediawiki/app and never hold these paths (deploy.kubernetes.image.exclude): private/"}},
		{"missing context", "    - {name: canaries, method: kubernetes, kubernetes: {contexts: [dc1, codfw], deployments: [mw-canary]}}\n",
			false, []string{"stage canaries, context codfw: context codfw is not in the kubeconfig (it has [dc1])."}},
		{"missing deployment", "    - {name: main, method: kubernetes, kubernetes: {contexts: [dc1], deployments: [mw-main]}}\n",
			false, []string{"stage main, context dc1: deployment mw-main (dc1/" + ns + ") does not exist."}},
		{"selector matches nothing", "    - {name: main, method: kubernetes, kubernetes: {contexts: [dc1], selector: release=main}}\n",
			false, []string{`stage main, context dc1: no deployment in dc1/` + ns + ` matches "release=main".`}},
		{"no such container", "    - {name: canaries, method: kubernetes, kubernetes: {contexts: [dc1], deployments: [mw-canary], container: php}}\n",
			false, []string{"deployment mw-canary (dc1/" + ns + ") has no container php."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(buildBinary(t), "check-config", write(tc.stages)).CombinedOutput()
			if (err == nil) != tc.ok {
				t.Errorf("check-config: %v, want success %v\n%s", err, tc.ok, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("check-config output does not contain %q:\n%s", w, out)
				}
			}
		})
	}
}
