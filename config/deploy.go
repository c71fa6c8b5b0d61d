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
}

func (d *Deploy) validate(v *validator, p string, c *Config) {
	if d.MergeTimeout < time.Minute || d.MergeTimeout > 24*time.Hour {
		v.add(p+".merge_timeout", "must be between 1m and 24h, got %s", d.MergeTimeout)
	}
}

func (d *Deploy) secrets(p string) []namedSecret {
	return []namedSecret{{p + ".gerrit.password", d.Gerrit.Password}}
}
