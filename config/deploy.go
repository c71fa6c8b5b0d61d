package config

import "time"

// Deploy configures the backport engine. The engine's own packages own the
// meaning of each field; this is only the file format.
type Deploy struct {
	// Gerrit is the code review server.
	Gerrit Gerrit `yaml:"gerrit"`
	// MergeTimeout bounds the wait for the gate to merge (default 30m).
	MergeTimeout time.Duration `yaml:"merge_timeout"`
	// RequireApprovalOutsideWindow makes a forced deploy outside a window
	// wait for a second deployer's approve.
	RequireApprovalOutsideWindow bool `yaml:"require_approval_outside_window"`

	// Sync says where the tree to deploy lives and how it is copied to
	// hosts; see stages.go.
	Sync Sync `yaml:"sync"`
	// HostGroups name lists of hosts that stages refer to.
	HostGroups []HostGroup `yaml:"host_groups"`
	// Stages are synced in order (e.g. testservers, canaries, production).
	Stages []Stage `yaml:"stages"`
	// Purge configures the CDN purge of changed static files.
	Purge *Purge `yaml:"purge"`
}

// Gerrit is a Gerrit server.
type Gerrit struct {
	URL      string  `yaml:"url"`
	Username string  `yaml:"username"`
	Password *Secret `yaml:"password"` // HTTP password
}

func (d *Deploy) applyDefaults() {
	if d.MergeTimeout == 0 {
		d.MergeTimeout = 30 * time.Minute
	}
	d.applySyncDefaults()
}

func (d *Deploy) validate(v *validator, p string, c *Config) {
	if d.MergeTimeout < time.Minute || d.MergeTimeout > 24*time.Hour {
		v.add(p+".merge_timeout", "must be between 1m and 24h, got %s", d.MergeTimeout)
	}
	d.validateSync(v, p, c)
}

func (d *Deploy) secrets(p string) []namedSecret {
	return []namedSecret{{p + ".gerrit.password", d.Gerrit.Password}, {p + ".sync.rsync_password", d.Sync.RsyncPassword}}
}
