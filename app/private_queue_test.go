package app_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// A public change queued after a change private in Gerrit conflicts with
// it: the readiness check says so without naming the file they share
// (which tells what the security fix touches); the details go to the
// security destination.
func TestQueueConflictWithPrivateChangeNamesNoFile(t *testing.T) {
	o := startOps(t, time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC), func(c *config.Config) {
		c.Security.Rooms = []string{"console/security"}
	}, app.Options{})
	o.expect("Try `jouncebot: plan")
	sb := o.app.Sandbox()
	private, err := sb.Upload(gerrittest.Upload{Project: gerrittest.CoreProject, Branch: gerrittest.CoreBranch, Owner: "alice", Private: true,
		Subject: "Cap the upload size", Footers: []string{"Bug: T9002"},
		Files: []gerrittest.File{{Path: "includes/UploadLimits.php", Content: "<?php\n$limit = 2;\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	public, err := sb.Upload(gerrittest.Upload{Project: gerrittest.CoreProject, Branch: gerrittest.CoreBranch, Owner: "bob",
		Subject: "Raise the upload limit", Files: []gerrittest.File{{Path: "includes/UploadLimits.php", Content: "<?php\n$limit = 3;\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{private, public} {
		if err := sb.Vote(n, "jenkins-bot", "Verified", 1); err != nil {
			t.Fatal(err)
		}
		o.say("jouncebot: add " + strconv.Itoa(n))
		o.expect("Queued change " + strconv.Itoa(n))
	}
	o.say("jouncebot: check")
	var conflict []string
	o.expectLine("the check's summary", testenv.Scale(2*time.Minute), func(l string) bool {
		if strings.Contains(l, "queued before it") && !strings.Contains(l, "(private in Gerrit)") {
			conflict = append(conflict, l)
		}
		return strings.HasPrefix(l, "UTC afternoon backport window: ")
	})
	if len(conflict) == 0 {
		t.Fatal("the check did not report the conflict between the queued changes")
	}
	for _, l := range conflict {
		if strings.Contains(l, "UploadLimits") {
			t.Errorf("a public text names the private change's file: %q", l)
		}
	}
}
