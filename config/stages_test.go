package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const stagesYAML = `
deploy:
  sync:
    source: staging
  host_groups:
    - name: appservers
      hosts: [mw1, mw2, mw3]
  stages:
    - name: testservers
      hosts: [mwdebug1]
      dest: "rsync://{{.Host}}/mediawiki/"
      wait_for_test: true
      checks:
        - type: http
          url: http://mwdebug1/wiki/Main_Page
          headers: {X-Wikimedia-Debug: "backend=mwdebug1"}
    - name: production
      groups: [appservers]
      method: command
      command: "scap sync-file --hosts {{.Host}} {{.Paths}}"
      max_failed_hosts: "2%"
      checks:
        - type: errors
          url: http://logstash/_count
          threshold: 150
`

func TestStagesParse(t *testing.T) {
	cfg, err := Parse([]byte(stagesYAML), "test.yaml", "/etc/jouncebot")
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Deploy
	if d.Sync.Source != "/etc/jouncebot/staging" {
		t.Errorf("source = %q, want it resolved against the config dir", d.Sync.Source)
	}
	got := []any{d.Stages[0].Method, d.Stages[0].Concurrency, d.Stages[0].Timeout, d.Stages[0].Checks[0].Status,
		d.Stages[1].Method, d.Stages[1].Dest, d.Stages[1].Checks[0].Wait, d.Stages[1].MaxFailed(300), d.Sync.ProgressEvery}
	want := []any{"rsync", 80, 5 * time.Minute, 200, "command", "{{.Host}}", 20 * time.Second, 6, 5 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestStagesValidate(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"no source", "deploy:\n  stages:\n    - name: a\n      hosts: [h]\n",
			[]string{"deploy.sync.source: name the staging tree"}},
		{"no hosts", "deploy:\n  sync: {source: /s}\n  stages:\n    - name: a\n",
			[]string{`deploy.stages[0]: stage "a" has no hosts`}},
		{"unknown group", "deploy:\n  sync: {source: /s}\n  stages:\n    - name: a\n      groups: [x]\n",
			[]string{`deploy.stages[0].groups[0]: "x" is not a host group`}},
		{"bad method", "deploy:\n  sync: {source: /s}\n  stages:\n    - name: a\n      hosts: [h]\n      method: scp\n",
			[]string{`deploy.stages[0].method: expected rsync, command or kubernetes, got "scp"`}},
		{"command missing", "deploy:\n  sync: {source: /s}\n  stages:\n    - name: a\n      hosts: [h]\n      method: command\n",
			[]string{"deploy.stages[0].command: method command needs a command"}},
		{"bad template", "deploy:\n  sync: {source: /s}\n  stages:\n    - name: a\n      hosts: [h]\n      method: command\n      command: 'x {{.Host'\n",
			[]string{"deploy.stages[0].command: is not a valid template"}},
		{"bad max failed", "deploy:\n  sync: {source: /s}\n  stages:\n    - name: a\n      hosts: [h]\n      max_failed_hosts: lots\n",
			[]string{`deploy.stages[0].max_failed_hosts: expected a number of hosts like 3 or a percentage like 2%, got "lots"`}},
		{"duplicate stage", "deploy:\n  sync: {source: /s}\n  stages:\n    - {name: a, hosts: [h]}\n    - {name: a, hosts: [h]}\n",
			[]string{`deploy.stages[1].name: stage name "a" is used twice`}},
		{"bad check", "deploy:\n  sync: {source: /s}\n  stages:\n    - name: a\n      hosts: [h]\n      checks:\n        - {type: ping, url: 'ftp://x'}\n",
			[]string{`deploy.stages[0].checks[0].url: expected an http:// or https:// URL, got "ftp://x"`, `deploy.stages[0].checks[0].type: expected http, errors or canary, got "ping"`}},
		{"errors check without threshold", "deploy:\n  sync: {source: /s}\n  stages:\n    - name: a\n      hosts: [h]\n      checks:\n        - {type: errors, url: 'http://p/api/v1/query', format: prometheus}\n",
			[]string{"deploy.stages[0].checks[0].query: a prometheus errors check needs a query", "deploy.stages[0].checks[0].threshold: give the error count"}},
		{"canary check without metrics", "deploy:\n  sync: {source: /s}\n  stages:\n    - name: a\n      hosts: [h]\n      checks:\n        - {type: canary, url: 'http://prom', window: 5s, baseline: fleet}\n",
			[]string{"deploy.stages[0].checks[0].window: must be between 10s and 1h, got 5s", `deploy.stages[0].checks[0].baseline: expected later, before or both, got "fleet"`, "deploy.stages[0].checks[0].metrics: give at least one metric"}},
		{"canary metrics", "deploy:\n  sync: {source: /s}\n  stages:\n    - name: a\n      hosts: [h]\n      checks:\n        - type: canary\n          url: 'http://prom'\n          effect: 1.5\n          metrics:\n            - {name: errors, query: 'sum(rate(errors_total[1m]))', direction: up}\n            - {name: errors, query: '{{.Hosts'}\n",
			[]string{"deploy.stages[0].checks[0].effect: expected a share between 0 and 1", "deploy.stages[0].checks[0].metrics[0].query: must select the hosts with {{.Hosts}}", `deploy.stages[0].checks[0].metrics[0].direction: expected increase, decrease or either, got "up"`, `deploy.stages[0].checks[0].metrics[1].name: "errors" is used twice`, "deploy.stages[0].checks[0].metrics[1].query: is not a valid template"}},
		{"bad tree paths", "deploy:\n  sync: {source: /s, untracked: [../x, ''], protected: ['/etc', 'a/**']}\n",
			[]string{`deploy.sync.untracked[0]: "../x" is not inside the tree`, `deploy.sync.untracked[1]: "" is empty`,
				`deploy.sync.protected[0]: "/etc" is not inside the tree`, `deploy.sync.protected[1]: "a/**" names .git or uses **`}},
		{"canary numbers not finite", "deploy:\n  sync: {source: /s}\n  stages:\n    - name: a\n      hosts: [h]\n      checks:\n        - type: canary\n          url: 'http://prom'\n          confidence: .nan\n          effect: .nan\n          pass_score: .nan\n          metrics:\n            - {name: errors, query: 'e{i=~\"{{.Hosts}}\"}', weight: .inf}\n            - {name: latency, query: 'l{i=~\"{{.Hosts}}\"}', weight: .nan}\n",
			[]string{"deploy.stages[0].checks[0].confidence: expected a level between 0.5 and 1", "deploy.stages[0].checks[0].effect: expected a share between 0 and 1", "deploy.stages[0].checks[0].pass_score: scores are between 0 and 100", "deploy.stages[0].checks[0].metrics[0].weight: must be a number of 0 or more", "deploy.stages[0].checks[0].metrics[1].weight: must be a number of 0 or more"}},
		{"purge", "deploy:\n  purge:\n    endpoints: [cache1]\n    static:\n      - {dir: /abs, url: 'https://x/static/'}\n",
			[]string{`deploy.purge.endpoints[0]: expected an http:// or https:// URL, got "cache1"`, `deploy.purge.static[0].dir: expected a directory inside the tree`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "test.yaml", "/etc")
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\ndoes not contain %q", msg, w)
				}
			}
		})
	}
}
