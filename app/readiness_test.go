package app_test

import (
	"testing"
	"time"
)

// Anyone can check a window's queue; a patch the check found blocked is
// not voted on by deploy, which says why.
func TestConsoleCheckAndBlockedDeploy(t *testing.T) {
	t.Parallel()
	s := startConsole(t, time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC)) // in the afternoon window
	s.expect("Try `jouncebot: plan")
	sb := s.app.Sandbox()
	s.say("jouncebot: add 445113")
	s.expect("Queued change 445113")
	s.say("jouncebot: add 445114")
	s.expect("Queued change 445114")
	if err := sb.Vote(445114, "jenkins-bot", "Verified", -1); err != nil {
		t.Fatal(err)
	}
	s.say("jouncebot: check")
	s.expect("UTC afternoon backport window: 1 patch ready, 1 blocked — 445114: CI fails (Verified -1 from jenkins-bot); bob please fix CI or recheck.")
	s.say("jouncebot: deploy 445114")
	s.expect("The readiness check at 14:20 UTC found change 445114 blocked: CI fails (Verified -1 from jenkins-bot). Fix it and say \"check\" to check again, or deploy with --force and a reason to go ahead anyway.")
	if r := sb.Reviews(); len(r) != 0 {
		t.Errorf("voted on a blocked patch: %+v", r)
	}
	// Fixed: the next check finds it ready.
	if err := sb.Vote(445114, "jenkins-bot", "Verified", 1); err != nil {
		t.Fatal(err)
	}
	s.say("jouncebot: check")
	s.expect("UTC afternoon backport window: 2 patches ready, 0 blocked.")
}
