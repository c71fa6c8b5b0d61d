package config

import (
	"strings"
	"testing"
)

const kubeYAML = `
deploy:
  sync: {source: staging}
  kubernetes:
    kubeconfig: kube/config
    image: {repository: "registry.example.org:5000/mediawiki/app", auth_file: registry.json}
  stages:
    - name: debug
      hosts: [mwdebug1]
    - name: canaries
      method: kubernetes
      kubernetes: {contexts: [eqiad, codfw], namespace: mw, selector: "app=mediawiki,release in (canary)", container: php}
`

func TestKubeParse(t *testing.T) {
	cfg, err := Parse([]byte(kubeYAML), "test.yaml", "/etc/jouncebot")
	if err != nil {
		t.Fatal(err)
	}
	k := cfg.Deploy.Kubernetes
	if k.Kubeconfig != "/etc/jouncebot/kube/config" || k.Image.AuthFile != "/etc/jouncebot/registry.json" {
		t.Errorf("paths not resolved against the config dir: %+v", k)
	}
	if len(k.Image.Exclude) != 1 || k.Image.Exclude[0] != "private/" {
		t.Errorf("image.exclude = %q, want the default [private/]", k.Image.Exclude)
	}
	if st := cfg.Deploy.Stages[1]; st.Method != SyncKubernetes || st.Kubernetes.Contexts[1] != "codfw" {
		t.Errorf("stage = %+v", st)
	}
}

func TestKubeValidate(t *testing.T) {
	stage := func(s string) string {
		return "deploy:\n  sync: {source: /s}\n  kubernetes: {image: {repository: r.example/app}}\n  stages:\n    - name: k\n      method: kubernetes\n" + s
	}
	for _, tt := range []struct {
		name, yaml string
		want       []string
	}{
		{"no targets", stage(""), []string{"deploy.stages[0].kubernetes: a kubernetes stage names its deployments"}},
		{"hosts", stage("      hosts: [h]\n      kubernetes: {contexts: [a], deployments: [mw]}\n"), []string{`deploy.stages[0]: stage "k" has method kubernetes`}},
		{"no context", stage("      kubernetes: {deployments: [mw]}\n"), []string{"deploy.stages[0].kubernetes.contexts: name at least one"}},
		{"both", stage("      kubernetes: {contexts: [a], deployments: [mw], selector: app=mw}\n"), []string{"deploy.stages[0].kubernetes.selector: give deployments or a selector, not both"}},
		{"neither", stage("      kubernetes: {contexts: [a]}\n"), []string{"deploy.stages[0].kubernetes: name the deployments or give a label selector"}},
		{"bad selector", stage("      kubernetes: {contexts: [a], selector: 'app in (mw'}\n"), []string{"deploy.stages[0].kubernetes.selector: is not a label selector"}},
		{"bad names", stage("      kubernetes: {contexts: [a, a], namespace: MW, deployments: [Mw_Api]}\n"),
			[]string{`deploy.stages[0].kubernetes.contexts[1]: contexts must be named once each, got "a"`, `deploy.stages[0].kubernetes.namespace: "MW" is not`, `deploy.stages[0].kubernetes.deployments[0]: "Mw_Api" is not a Deployment name`}},
		{"no repository", "deploy:\n  sync: {source: /s}\n  stages:\n    - name: k\n      method: kubernetes\n      kubernetes: {contexts: [a], deployments: [mw]}\n",
			[]string{"deploy.kubernetes: kubernetes stages need deploy.kubernetes.image.repository"}},
		{"bad image", "deploy:\n  sync: {source: /s}\n  kubernetes: {image: {repository: 'r.example/app:v1', base: 'php:8', root: srv}}\n  stages:\n    - name: k\n      method: kubernetes\n      kubernetes: {contexts: [a], deployments: [mw]}\n",
			[]string{"deploy.kubernetes.image.repository: give the repository without a tag", "deploy.kubernetes.image.base: give the base image by digest", "deploy.kubernetes.image.root: must be an absolute path"}},
		{"bad exclude", "deploy:\n  sync: {source: /s}\n  kubernetes: {image: {repository: r.example/app, exclude: [/etc/, '../x', 'php-*/private/', '']}}\n  stages:\n    - name: k\n      method: kubernetes\n      kubernetes: {contexts: [a], deployments: [mw]}\n",
			[]string{`deploy.kubernetes.image.exclude[0]: "/etc/" is not inside the tree`, `deploy.kubernetes.image.exclude[1]: "../x" is not inside the tree`,
				`deploy.kubernetes.image.exclude[2]: "php-*/private/" uses a wildcard`, `deploy.kubernetes.image.exclude[3]: "" is empty`}},
		{"targets on rsync stage", "deploy:\n  sync: {source: /s}\n  stages:\n    - name: k\n      hosts: [h]\n      kubernetes: {contexts: [a], deployments: [mw]}\n",
			[]string{"deploy.stages[0].kubernetes: is only used with method: kubernetes"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "test.yaml", "/etc")
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}
