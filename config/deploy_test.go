package config

import (
	"strings"
	"testing"
	"time"
)

func TestDeployDefaults(t *testing.T) {
	cfg, err := Parse([]byte("deploy:\n  staging_dir: staging\n"), "test.yaml", "/etc/jouncebot")
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Deploy
	if d.MergeTimeout != 30*time.Minute || d.PollInterval != 5*time.Second || d.ProgressEvery != 5*time.Minute ||
		d.Gerrit.Timeout != 30*time.Second || d.StagingDir != "/etc/jouncebot/staging" ||
		d.ConfigProject != "operations/mediawiki-config" || d.ConfigBranch != "master" || d.CoreProject != "mediawiki/core" ||
		d.Testing.Reminder != 10*time.Minute || d.Testing.Timeout != 30*time.Minute || d.Testing.OneOwnerEnough || d.DecisionTimeout != 10*time.Minute {
		t.Errorf("defaults: %+v", d)
	}
}

func TestDeployErrors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"deploy:\n  merge_timeout: 10s\n", "test.yaml:2: deploy.merge_timeout: must be between 1m and 24h, got 10s"},
		{"deploy:\n  testing:\n    reminder: 20m\n    timeout: 10m\n", "deploy.testing: reminder must be at least 1m and timeout at least the reminder, got reminder 20m0s and timeout 10m0s"},
		{"deploy:\n  decision_timeout: 5s\n", "test.yaml:2: deploy.decision_timeout: must be between 1m and 24h, got 5s"},
		{"deploy:\n  poll_interval: 10ms\n", "test.yaml:2: deploy.poll_interval: must be between 1s and 5m, got 10ms"},
		{"deploy:\n  gerrit:\n    url: gerrit.example.org\n    username: bot\n    password: {env: HOME}\n", "test.yaml:3: deploy.gerrit.url: expected an http(s) URL like https://gerrit.wikimedia.org/r/, got \"gerrit.example.org\""},
		{"deploy:\n  gerrit:\n    url: https://gerrit.example.org/r/\n", "test.yaml:2: deploy.gerrit: needs username and password (an HTTP password, from file: or env:) so jouncebot can vote"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.yaml), "test.yaml", "/tmp")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want %q", tt.yaml, err, tt.want)
		}
	}
}
