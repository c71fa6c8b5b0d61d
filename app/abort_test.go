package app_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// When the rebase that re-applies the local security patches fails and
// "git rebase --abort" fails too, git's words (which name paths in the
// checkout) go only to the security destination: the deploy's stop, the
// status page and the history say the neutral sentence. Here a lock file
// left in the staging checkout's .git (by a hook, as another git process
// would) makes both fail.
func TestRebaseAbortFailureStaysPrivate(t *testing.T) {
	t.Parallel()
	o, sb := startStaging(t)
	n := upload(t, sb, tidyHooks)
	hook := filepath.Join(sb.CoreDir(), ".git", "hooks", "post-checkout")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\ntouch .git/index.lock\nrm -f \"$0\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	o.say("jouncebot: deploy " + strconv.Itoa(n))
	private := o.expect("Deploy 1: ")
	public := o.expectContains("deploy 1 stopped: ")
	if strings.Contains(public, "index.lock") || strings.Contains(public, sb.CoreDir()) {
		t.Errorf("the public stop shows git's words: %q", public)
	}
	if !strings.Contains(public, "could not be undone") {
		t.Errorf("the public stop does not say the rebase could not be undone: %q", public)
	}
	if !strings.Contains(private, "index.lock") {
		t.Errorf("the security destination did not get git's words: %q", private)
	}
	for _, path := range []string{"/", "/api/status", "/sal", "/api/sal"} {
		if _, body := get(t, o.base+path); strings.Contains(body, "index.lock") {
			t.Errorf("GET %s shows git's words about the failed abort", path)
		}
	}
}
