package commands

import (
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/deploy"
)

// A change the last check found blocked stops deploy with the reason,
// unless forced.
func TestKnownBlocked(t *testing.T) {
	blocked := func(n int, _ time.Time) (string, bool) {
		return "The readiness check at 22:50 UTC found change 445114 blocked: CI fails.", n == 445114
	}
	now := time.Now()
	if got := knownBlocked(blocked, deploy.Request{Changes: []string{"445113"}}, now); got != "" {
		t.Errorf("ready change: %q", got)
	}
	want := "The readiness check at 22:50 UTC found change 445114 blocked: CI fails. Fix it and say \"check\" to check again, or deploy with --force and a reason to go ahead anyway."
	if got := knownBlocked(blocked, deploy.Request{Changes: []string{"445113", "https://gerrit.example.org/r/c/x/+/445114"}}, now); got != want {
		t.Errorf("got %q", got)
	}
	if got := knownBlocked(blocked, deploy.Request{Changes: []string{"445114"}, Force: true, Reason: "known"}, now); got != "" {
		t.Errorf("forced: %q", got)
	}
}
