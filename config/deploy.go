package config

import (
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// Deploy configures the backport engine. The engine's own packages own the
// meaning of each field; this is only the file format.
type Deploy struct {
	// Gerrit is the code review server. Without a URL, deploys are off
	// (unless Sandbox is set).
	Gerrit Gerrit `yaml:"gerrit"`
	// Sandbox runs the demo deploy sandbox (a local fake Gerrit and
	// staging checkout under the data directory) instead of a Gerrit. The
	// built-in default sets it; a real configuration only when it says so.
	Sandbox bool `yaml:"sandbox"`
	// MergeTimeout bounds the wait for the gate to merge (default 30m).
	MergeTimeout time.Duration `yaml:"merge_timeout"`
	// PollInterval is how often Gerrit is asked during the wait (default 5s).
	PollInterval time.Duration `yaml:"poll_interval"`
	// ProgressEvery is how often the wait is reported in chat (default 5m).
	ProgressEvery time.Duration `yaml:"progress_every"`
	// RequireApprovalOutsideWindow makes a forced deploy outside a window
	// wait for a second deployer's approve.
	RequireApprovalOutsideWindow bool `yaml:"require_approval_outside_window"`
	// StagingDir is the staging checkout of the config repository on the
	// deployment host, holding php-<version> checkouts of core (default
	// /srv/mediawiki-staging). Relative to the config file.
	StagingDir string `yaml:"staging_dir"`
	// ConfigProject and ConfigBranch are the config repository and its
	// deploy branch (default operations/mediawiki-config, master).
	ConfigProject string `yaml:"config_project"`
	ConfigBranch  string `yaml:"config_branch"`
	// CoreProject is MediaWiki core (default mediawiki/core); its wmf/
	// branches, extensions and skins are deployable.
	CoreProject string `yaml:"core_project"`

	// Sync says where the tree to deploy lives and how it is copied to
	// hosts; see stages.go.
	Sync Sync `yaml:"sync"`
	// HostGroups name lists of hosts that stages refer to.
	HostGroups []HostGroup `yaml:"host_groups"`
	// Stages are synced in order (e.g. testservers, canaries, production).
	Stages []Stage `yaml:"stages"`
	// Purge configures the CDN purge of changed static files.
	Purge *Purge `yaml:"purge"`
	// Kubernetes configures the stages with method kubernetes; see kube.go.
	Kubernetes *Kubernetes `yaml:"kubernetes"`
	// Testing configures the wait for the patch owners' "tested ok"
	// after a stage with wait_for_test.
	Testing Testing `yaml:"testing"`
	// DecisionTimeout is how long the deployer has to answer retry,
	// rollback or continue after a failed check; then the deploy rolls
	// back (default 10m).
	DecisionTimeout time.Duration `yaml:"decision_timeout"`
}

// Testing configures the testing gate.
type Testing struct {
	// Reminder is when the people who have not answered are reminded
	// (default 10m after the question).
	Reminder time.Duration `yaml:"reminder"`
	// Timeout is when the deployer is asked to decide (default 30m).
	Timeout time.Duration `yaml:"timeout"`
	// OneOwnerEnough makes one owner's "tested ok" enough when a deploy
	// has changes by several owners (default: wait for all).
	OneOwnerEnough bool `yaml:"one_owner_enough"`
}

// Gerrit is a Gerrit server.
type Gerrit struct {
	URL      string  `yaml:"url"`
	Username string  `yaml:"username"`
	Password *Secret `yaml:"password"` // HTTP password
	// Timeout bounds each request (default 30s).
	Timeout time.Duration `yaml:"timeout"`
}

func (d *Deploy) applyDefaults() {
	if d.MergeTimeout == 0 {
		d.MergeTimeout = 30 * time.Minute
	}
	if d.PollInterval == 0 {
		d.PollInterval = 5 * time.Second
	}
	if d.ProgressEvery == 0 {
		d.ProgressEvery = 5 * time.Minute
	}
	if d.Gerrit.Timeout == 0 {
		d.Gerrit.Timeout = 30 * time.Second
	}
	if d.StagingDir == "" {
		d.StagingDir = "/srv/mediawiki-staging"
	}
	if d.ConfigProject == "" {
		d.ConfigProject = "operations/mediawiki-config"
	}
	if d.ConfigBranch == "" {
		d.ConfigBranch = "master"
	}
	if d.CoreProject == "" {
		d.CoreProject = "mediawiki/core"
	}
	if d.Testing.Reminder == 0 {
		d.Testing.Reminder = 10 * time.Minute
	}
	if d.Testing.Timeout == 0 {
		d.Testing.Timeout = 30 * time.Minute
	}
	if d.DecisionTimeout == 0 {
		d.DecisionTimeout = 10 * time.Minute
	}
	d.applySyncDefaults()
}

func (d *Deploy) validate(v *validator, p string, c *Config) {
	if d.MergeTimeout < time.Minute || d.MergeTimeout > 24*time.Hour {
		v.add(p+".merge_timeout", "must be between 1m and 24h, got %s", d.MergeTimeout)
	}
	d.validateSync(v, p, c)
	if d.Testing.Reminder < time.Minute || d.Testing.Timeout < d.Testing.Reminder {
		v.add(p+".testing", "reminder must be at least 1m and timeout at least the reminder, got reminder %s and timeout %s", d.Testing.Reminder, d.Testing.Timeout)
	}
	if d.DecisionTimeout < time.Minute || d.DecisionTimeout > 24*time.Hour {
		v.add(p+".decision_timeout", "must be between 1m and 24h, got %s", d.DecisionTimeout)
	}
	if d.PollInterval < time.Second || d.PollInterval > 5*time.Minute {
		v.add(p+".poll_interval", "must be between 1s and 5m, got %s", d.PollInterval)
	}
	if d.ProgressEvery < time.Minute {
		v.add(p+".progress_every", "must be at least 1m, got %s", d.ProgressEvery)
	}
	if d.Gerrit.Timeout < time.Second || d.Gerrit.Timeout > 5*time.Minute {
		v.add(p+".gerrit.timeout", "must be between 1s and 5m, got %s", d.Gerrit.Timeout)
	}
	// Resolved here because only validate sees the config's directory.
	if !filepath.IsAbs(d.StagingDir) && c.Dir != "" {
		d.StagingDir = filepath.Join(c.Dir, d.StagingDir)
	}
	if d.Sandbox && (d.Gerrit.URL != "" || d.Gerrit.Username != "" || d.Gerrit.Password != nil) {
		v.add(p+".sandbox", "the sandbox runs its own fake Gerrit; remove deploy.gerrit or the sandbox")
		return
	}
	if d.Gerrit.URL == "" {
		return
	}
	u, err := url.Parse(d.Gerrit.URL)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		v.add(p+".gerrit.url", "expected an http(s) URL like https://gerrit.wikimedia.org/r/, got %s", shownURL(d.Gerrit.URL))
	case u.User != nil:
		v.add(p+".gerrit.url", "must not contain a username or password; use gerrit.username and gerrit.password")
	}
	if (d.Gerrit.Username == "" || !d.Gerrit.Password.IsSet()) && len(c.Agents) == 0 {
		v.add(p+".gerrit", "needs username and password (an HTTP password, from file: or env:) so jouncebot can vote")
	}
	if strings.ContainsAny(d.ConfigBranch, " \t") {
		v.add(p+".config_branch", "%q is not a branch name", d.ConfigBranch)
	}
}

func (d *Deploy) secrets(p string) []namedSecret {
	return []namedSecret{{p + ".gerrit.password", d.Gerrit.Password}, {p + ".sync.rsync_password", d.Sync.RsyncPassword}}
}
