package app_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jouncebot/jouncebot/deploy/gerrittest"
)

// When git cannot read a staging checkout before a deploy, git's words
// (which name paths in the checkout, a security fix's among them) go
// only to the security destination; the refusal says the neutral
// sentence. Here staging holds an extension, a security fix kept in
// staging only, whose git directory is gone: git status fails naming it.
func TestStagingPrecheckGitWordsStayPrivate(t *testing.T) {
	t.Parallel()
	o, sb := startStaging(t)
	n := upload(t, sb, tidyHooks)
	core := sb.CoreDir()
	head := strings.TrimSpace(gitRun(t, core, "rev-parse", "HEAD"))
	gitRun(t, core, "update-index", "--add", "--cacheinfo", "160000,"+head+",extensions/OversizedUploadFix")
	dir := filepath.Join(core, "extensions", "OversizedUploadFix")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".git"), []byte("gitdir: ../../.git/modules/extensions/OversizedUploadFix\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o.say("jouncebot: deploy " + strconv.Itoa(n))
	got := o.expectEach("Deploy request by ", "Cannot read the state of staging")
	private, public := got[0], got[1]
	if strings.Contains(public, "OversizedUploadFix") || strings.Contains(public, core) {
		t.Errorf("the public refusal shows git's words: %q", public)
	}
	if !strings.Contains(private, "OversizedUploadFix") {
		t.Errorf("the security destination did not get git's words: %q", private)
	}
}

func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gerrittest.GitEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v: %s", args, err, out)
	}
	return string(out)
}
