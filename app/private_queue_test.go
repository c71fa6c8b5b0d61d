package app_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// A public change queued after a change private in Gerrit conflicts with
// it: the readiness check says so without naming the file they share
// (which tells what the security fix touches); the details go to the
// security destination.
func TestQueueConflictWithPrivateChangeNamesNoFile(t *testing.T) {
	t.Parallel()
	o, sb := startStaging(t)
	private := upload(t, sb, capUploads)
	public := upload(t, sb, gerrittest.Upload{Owner: "bob", Subject: "Raise the upload limit",
		Files: []gerrittest.File{{Path: "includes/UploadLimits.php", Content: "<?php\n$limit = 3;\n"}}})
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
