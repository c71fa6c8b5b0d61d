package gerrittest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// MediaWiki-shaped names used by the sandbox and the tests.
const (
	ConfigProject    = "operations/mediawiki-config"
	ConfigBranch     = "master"
	CoreProject      = "mediawiki/core"
	Version          = "1.46.0-wmf.3"
	CoreBranch       = "wmf/" + Version
	ExtensionProject = "mediawiki/extensions/Example"
	ExtensionPath    = "extensions/Example"
)

// Sandbox is a fake Gerrit holding a small MediaWiki-shaped world, and a
// staging checkout of it, so the deploy engine can be tried without servers.
type Sandbox struct {
	*Server
	// Staging is the staging checkout: a clone of the config repository
	// with php-<Version> (core, with its extension submodule and one local
	// security patch) inside it.
	Staging string
	// Changes are the open changes, by what they are: "config", "config2"
	// (depends on "config" through the relation chain), "core", "extension".
	Changes map[string]int
}

// CoreDir is the staging checkout of core.
func (sb *Sandbox) CoreDir() string { return filepath.Join(sb.Staging, "php-"+Version) }

// NewSandbox removes dir, then builds a fresh sandbox in it: repositories
// under dir/gerrit, the staging checkout at dir/staging, open changes owned
// by alice and bob. The gate merges two seconds after a +2 unless told
// otherwise with SetGate. Close the sandbox when done.
func NewSandbox(dir string) (*Sandbox, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := New(filepath.Join(dir, "gerrit"))
	sb := &Sandbox{Server: s, Staging: filepath.Join(dir, "staging"), Changes: map[string]int{}}
	if err := sb.build(); err != nil {
		s.Close()
		return nil, fmt.Errorf("gerrittest: build sandbox: %w", err)
	}
	s.SetGate(Gate{Delay: 2 * time.Second})
	return sb, nil
}

// OpenSandbox opens the sandbox kept in dir, or builds a fresh one there
// (as NewSandbox) when none is there or it is incomplete. Its fake Gerrit
// saves its changes, votes and reviews in dir/gerrit after every change,
// so a sandbox opened again after a restart, even a kill, meets the same
// Gerrit, repositories and staging checkout (on a new port: the staging
// checkout's remotes are pointed at it). Approved changes that had not
// merged are merged by the gate as usual.
func OpenSandbox(dir string) (*Sandbox, error) {
	if sb, err := reopen(dir); err == nil {
		return sb, nil
	} else if !os.IsNotExist(err) {
		// Something is there but unusable: start over.
		fmt.Fprintf(os.Stderr, "gerrittest: rebuilding the sandbox in %s: %v\n", dir, err)
	}
	sb, err := NewSandbox(dir)
	if err != nil {
		return nil, err
	}
	sb.mu.Lock()
	sb.persist = true
	sb.save()
	err = sb.saveErr
	sb.mu.Unlock()
	if err == nil {
		var b []byte
		if b, err = json.Marshal(sb.Changes); err == nil {
			err = os.WriteFile(filepath.Join(dir, sandboxFile), b, 0o644)
		}
	}
	if err != nil {
		sb.Close()
		return nil, fmt.Errorf("gerrittest: keep sandbox: %w", err)
	}
	return sb, nil
}

// sandboxFile names the sandbox's changes; written last, it marks a
// complete sandbox.
const sandboxFile = "sandbox.json"

func reopen(dir string) (*Sandbox, error) {
	b, err := os.ReadFile(filepath.Join(dir, sandboxFile))
	if err != nil {
		return nil, err
	}
	sb := &Sandbox{Staging: filepath.Join(dir, "staging"), Changes: map[string]int{}}
	if err := json.Unmarshal(b, &sb.Changes); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(sb.CoreDir(), ".git")); err != nil {
		return nil, err
	}
	sb.Server = New(filepath.Join(dir, "gerrit"))
	if err := sb.load(); err != nil {
		sb.Close()
		return nil, err
	}
	if err := sb.pointStaging(); err != nil {
		sb.Close()
		return nil, err
	}
	sb.SetGate(Gate{Delay: 2 * time.Second})
	return sb, nil
}

// pointStaging points the staging checkout's remotes at the server.
func (sb *Sandbox) pointStaging() error {
	core := sb.CoreDir()
	cmds := []struct {
		dir  string
		args []string
	}{
		{sb.Staging, []string{"remote", "set-url", "origin", sb.GitURL(ConfigProject)}},
		{core, []string{"remote", "set-url", "origin", sb.GitURL(CoreProject)}},
		{core, []string{"config", "submodule." + ExtensionPath + ".url", sb.GitURL(ExtensionProject)}},
		{filepath.Join(core, ExtensionPath), []string{"remote", "set-url", "origin", sb.GitURL(ExtensionProject)}},
	}
	for _, c := range cmds {
		if _, err := git(c.dir, nil, "", c.args...); err != nil {
			return err
		}
	}
	return nil
}

func (sb *Sandbox) build() error {
	s := sb.Server
	s.AddAccount("alice", "Alice", "")
	s.AddAccount("bob", "Bob", "")
	s.GrantViewPrivate(BotUser) // deploys private (security) changes
	steps := []func() error{
		func() error {
			return s.CreateProject(ConfigProject, ConfigBranch, []File{
				{Path: ".gitignore", Content: "/php-*\n"},
				{Path: "wmf-config/InitialiseSettings.php", Content: "<?php\n$wgExampleLimit = 10;\n$wgExampleDebug = false;\n"},
				{Path: "wmf-config/CommonSettings.php", Content: "<?php\nrequire __DIR__ . '/InitialiseSettings.php';\n"},
			})
		},
		func() error {
			return s.CreateProject(CoreProject, "master", []File{
				{Path: "includes/Setup.php", Content: "<?php\n// MediaWiki setup\n"},
				{Path: "includes/Hooks.php", Content: "<?php\nfunction runHooks() {\n\treturn true;\n}\n"},
			})
		},
		func() error { return s.CreateBranch(CoreProject, CoreBranch, "master") },
		func() error {
			return s.CreateProject(ExtensionProject, "master", []File{
				{Path: "Example.php", Content: "<?php\nfunction exampleRender( $x ) {\n\treturn $x;\n}\n"},
			})
		},
		func() error { return s.CreateBranch(ExtensionProject, CoreBranch, "master") },
		func() error { return s.AddSubmodule(CoreProject, CoreBranch, ExtensionPath, ExtensionProject) },
		sb.cloneStaging,
		sb.uploadChanges,
	}
	for _, f := range steps {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// cloneStaging makes the staging checkout and commits a local security
// patch to core, as deployment hosts carry.
func (sb *Sandbox) cloneStaging() error {
	s := sb.Server
	// Cloning from the bare repositories' paths and then pointing origin at
	// the server is several times faster than cloning over HTTP, and ends
	// in the same state.
	core := sb.CoreDir()
	ext := filepath.Join(core, ExtensionPath)
	cmds := []struct {
		dir  string
		args []string
	}{
		{"", []string{"clone", "-q", "-b", ConfigBranch, s.repos[ConfigProject].dir, sb.Staging}},
		{sb.Staging, []string{"remote", "set-url", "origin", s.GitURL(ConfigProject)}},
		{"", []string{"clone", "-q", "-b", CoreBranch, s.repos[CoreProject].dir, core}},
		{core, []string{"submodule", "init", "-q"}},
		{core, []string{"config", "submodule." + ExtensionPath + ".url", s.repos[ExtensionProject].dir}},
		{core, []string{"-c", "protocol.file.allow=always", "submodule", "update", "-q"}},
		{core, []string{"remote", "set-url", "origin", s.GitURL(CoreProject)}},
		{core, []string{"config", "submodule." + ExtensionPath + ".url", s.GitURL(ExtensionProject)}},
		{ext, []string{"remote", "set-url", "origin", s.GitURL(ExtensionProject)}},
	}
	for _, c := range cmds {
		if _, err := git(c.dir, nil, "", c.args...); err != nil {
			return err
		}
	}
	for _, d := range []string{sb.Staging, core} {
		if _, err := git(d, nil, "", "config", "user.name", "Deployer"); err != nil {
			return err
		}
		if _, err := git(d, nil, "", "config", "user.email", "deployer@example.org"); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(core, "includes/Setup.php"), []byte("<?php\n// MediaWiki setup\n// SECURITY: reject oversized requests\n"), 0o644); err != nil {
		return err
	}
	_, err := git(core, nil, "", "commit", "-q", "-am", "SECURITY: reject oversized requests (T9001)")
	return err
}

func (sb *Sandbox) uploadChanges() error {
	s := sb.Server
	n, err := s.Upload(Upload{Project: ConfigProject, Branch: ConfigBranch, Owner: "alice",
		Subject: "Raise $wgExampleLimit to 20", Footers: []string{"Bug: T1001"},
		Files: []File{{Path: "wmf-config/InitialiseSettings.php", Content: "<?php\n$wgExampleLimit = 20;\n$wgExampleDebug = false;\n"}}})
	if err != nil {
		return err
	}
	sb.Changes["config"] = n
	n, err = s.Upload(Upload{Project: ConfigProject, Branch: ConfigBranch, Owner: "bob",
		Subject: "Enable $wgExampleDebug for the limit change", Footers: []string{"Bug: T1001"}, Parent: s.Revision(n),
		Files: []File{{Path: "wmf-config/InitialiseSettings.php", Content: "<?php\n$wgExampleLimit = 20;\n$wgExampleDebug = true;\n"}}})
	if err != nil {
		return err
	}
	sb.Changes["config2"] = n
	n, err = s.Upload(Upload{Project: CoreProject, Branch: CoreBranch, Owner: "bob",
		Subject: "Hooks: return false when no handler ran", Footers: []string{"Bug: T1002"},
		Files: []File{{Path: "includes/Hooks.php", Content: "<?php\nfunction runHooks() {\n\treturn false;\n}\n"}}})
	if err != nil {
		return err
	}
	sb.Changes["core"] = n
	n, err = s.Upload(Upload{Project: ExtensionProject, Branch: CoreBranch, Owner: "alice",
		Subject: "Escape output of exampleRender", Footers: []string{"Bug: T1003"},
		Files: []File{{Path: "Example.php", Content: "<?php\nfunction exampleRender( $x ) {\n\treturn htmlspecialchars( $x );\n}\n"}}})
	if err != nil {
		return err
	}
	sb.Changes["extension"] = n
	return nil
}

// Describe lists the sandbox's open changes, one per line, for a welcome
// message: "445113  operations/mediawiki-config master  Raise … (alice)".
func (sb *Sandbox) Describe() string {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	var b strings.Builder
	for _, k := range []string{"config", "config2", "core", "extension"} {
		c := sb.changes[sb.Changes[k]]
		if c == nil || c.Status != "NEW" {
			continue
		}
		fmt.Fprintf(&b, "%d  %s %s  %s (%s)\n", c.Number, c.Project, c.Branch, c.current().Subject, c.Owner)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
