package app_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// The hosts' truth, through the built-in default as main builds it (the
// sandbox's stages are wired from the configuration's sync settings, as
// a configured deployment's are).

// truthNow is inside the example configuration's afternoon window.
var truthNow = time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC)

// startTruth runs the built-in default with file_sync_limit 1.
func startTruth(t *testing.T) (*consoleSession, string) {
	t.Helper()
	truthNeedRsync(t)
	s := runConsole(t, truthNow, "", func(c *config.Config) { c.Deploy.Sync.FileSyncLimit = 1 }, app.Options{})
	s.expect("Try `jouncebot: plan")
	return s, s.app.Sandbox().Servers
}

func truthNeedRsync(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("rsync"); err != nil {
		testenv.Missing(t, "rsync is not installed")
	}
}

func sandboxServers(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	if len(out) != 8 {
		t.Fatalf("%d sandbox servers, want 8", len(out))
	}
	return out
}

func truthWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func truthRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return "(missing: " + err.Error() + ")"
	}
	return string(b)
}

// A deploy of more changed files than file_sync_limit syncs the whole
// release: the private settings staging holds (untracked by git) reach
// every host frozen in the release, and a file only a host has under a
// protected path (private/) stays.
func TestWholeTreeSyncKeepsPrivateFiles(t *testing.T) {
	t.Parallel()
	s, dir := startTruth(t)
	sb := s.app.Sandbox()
	// As operations/mediawiki-config's .gitignore does.
	truthWrite(t, filepath.Join(sb.Staging, ".git/info/exclude"), "/private/\n")
	truthWrite(t, filepath.Join(sb.Staging, "private/PrivateSettings.php"), "<?php\n$wgSecret = 'v1';\n")
	hosts := sandboxServers(t, dir)
	for _, h := range hosts {
		truthWrite(t, filepath.Join(h, "private/HostOnly.php"), "<?php\n// this host's own\n")
	}
	s.say("jouncebot: deploy " + strconv.Itoa(sb.Changes["config"]) + " " + strconv.Itoa(sb.Changes["core"]))
	s.expect("Froze release")
	s.expect("amir, ")
	s.say("tested ok")
	s.expect("amir: deploy 1 is done")
	for _, h := range hosts {
		if got := truthRead(t, filepath.Join(h, "private/HostOnly.php")); got != "<?php\n// this host's own\n" {
			t.Errorf("%s: private/HostOnly.php is %q after a whole-tree sync", filepath.Base(h), got)
		}
		if got := truthRead(t, filepath.Join(h, "private/PrivateSettings.php")); got != "<?php\n$wgSecret = 'v1';\n" {
			t.Errorf("%s: private/PrivateSettings.php (frozen from staging) is %q", filepath.Base(h), got)
		}
	}
}

// A whole-tree rollback (more changed files than file_sync_limit) puts
// the previous release back and verifies it, the hosts' own marker and
// protected files notwithstanding.
func TestWholeTreeRollbackVerifies(t *testing.T) {
	t.Parallel()
	s, dir := startTruth(t)
	sb := s.app.Sandbox()
	for _, h := range sandboxServers(t, dir) {
		truthWrite(t, filepath.Join(h, "private/HostOnly.php"), "<?php\n")
	}
	s.say("jouncebot: deploy " + strconv.Itoa(sb.Changes["config"]) + " " + strconv.Itoa(sb.Changes["core"]))
	s.expect("amir, ")
	s.say("tested fail")
	l := s.expect("amir: deploy 1 stopped: ")
	if !strings.Contains(l, "verified byte for byte") {
		t.Errorf("the whole-tree rollback was not verified:\n%s", l)
	}
}

// A change rolled back stays merged in staging; the next deploy's
// release holds it. Every host must then get it too: what a host needs
// is decided from the release its marker names, not from staging's
// previous state.
func TestDeployAfterRollbackShipsWhatHostsLack(t *testing.T) {
	t.Parallel()
	s, dir := startTruth(t)
	sb := s.app.Sandbox()
	s.say("jouncebot: deploy " + strconv.Itoa(sb.Changes["config"]))
	s.expect("amir, ")
	s.say("tested fail")
	s.expect("amir: deploy 1 stopped: Rolled back")
	s.say("jouncebot: deploy " + strconv.Itoa(sb.Changes["core"]))
	s.expect("amir, ")
	s.say("tested ok")
	s.expect("amir: deploy 2 is done")
	settings := "wmf-config/InitialiseSettings.php"
	hooks := "php-" + gerrittest.Version + "/includes/Hooks.php"
	for _, h := range sandboxServers(t, dir) {
		for _, f := range []string{settings, hooks} {
			if got, want := truthRead(t, filepath.Join(h, f)), truthRead(t, filepath.Join(sb.Staging, f)); got != want {
				t.Errorf("%s: %s is\n%s\nbut release and staging hold\n%s", filepath.Base(h), f, got, want)
			}
		}
	}
}
