package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// toOldReleaseFormat turns the releases and the servers' markers of a
// sandbox into what jouncebot wrote before releases had completion
// records: <id>/manifest.json, <id>/tree without a marker, the marker
// file in <id>/marker, and on each host a plain .jouncebot-release file
// naming the release; no record of what each host holds.
func toOldReleaseFormat(t *testing.T, sb string) {
	t.Helper()
	releases := filepath.Join(sb, "releases")
	ids, err := os.ReadDir(releases)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ids {
		dir := filepath.Join(releases, e.Name())
		if e.Name() == "hosts" {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			continue
		}
		for _, p := range []string{"complete", "tree/.jouncebot-release", "tree/~jouncebot"} {
			if err := os.RemoveAll(filepath.Join(dir, p)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(filepath.Join(dir, "marker"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "marker", ".jouncebot-release"), []byte(e.Name()+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	servers, _ := os.ReadDir(filepath.Join(sb, "servers"))
	for _, s := range servers {
		dir := filepath.Join(sb, "servers", s.Name())
		id, err := os.Readlink(filepath.Join(dir, ".jouncebot-release"))
		if err != nil {
			continue // never synced
		}
		for _, p := range []string{".jouncebot-release", "~jouncebot"} {
			if err := os.RemoveAll(filepath.Join(dir, p)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, ".jouncebot-release"), []byte(id+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUpgradeKeepsReleasesOfADeployInFlight: jouncebot is upgraded while
// a deploy waits for its test (releases in the format from before
// completion records). The restarted bot must still hold the deploy's
// release and the one to roll back to: the test failing rolls every host
// back, verified.
func TestUpgradeKeepsReleasesOfADeployInFlight(t *testing.T) {
	needTools(t, "git", "rsync")
	data := t.TempDir()
	first := startSandboxBot(t, data)
	first.waitLine("Try `jouncebot: plan")
	first.say("deploy --force 445113 upgrade test")
	first.waitLine("Please test it there")
	first.quit()
	toOldReleaseFormat(t, filepath.Join(data, "sandbox"))

	second := startSandboxBot(t, data)
	if l := second.waitLine("Please test it there", "deploy 1 stopped: "); strings.Contains(l, "stopped") {
		t.Fatalf("the deploy did not survive the upgrade:\n%s", l)
	}
	second.say("tested fail")
	l := second.waitLine("deploy 1 stopped: ")
	if !strings.Contains(l, "verified byte for byte") {
		t.Errorf("the rollback after the upgrade was not verified:\n%s", l)
	}
	second.quit()
	chat := first.output() + "\n" + second.output()
	// The test server is synced once more at the restart: their old
	// marker (a file, not a link and a claim) names no release now.
	checkCrashRun(t, data, chat, true, "mwdebug1001")
	if m := regexp.MustCompile(`Froze release ([0-9a-f]{20})`).FindStringSubmatch(chat); m != nil {
		if _, err := os.Stat(filepath.Join(data, "sandbox", "releases", m[1], "complete")); err != nil {
			t.Errorf("the deploy's release was not kept: %v", err)
		}
	}
}
