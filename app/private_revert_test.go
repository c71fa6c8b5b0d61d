package app_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// securityLine matches what the console shows of the security
// destination's messages about a deploy.
var securityLine = regexp.MustCompile(`^Deploy \d+: `)

// capUploads is alice's change of core marked private in Gerrit: a
// security fix, "Cap the upload size (T9002)".
var capUploads = gerrittest.Upload{Owner: "alice", Private: true, Subject: "Cap the upload size", Footers: []string{"Bug: T9002"},
	Files: []gerrittest.File{{Path: "includes/UploadLimits.php", Content: "<?php\n$limit = 2;\n"}}}

// deployPrivate uploads alice's change marked private in Gerrit (a
// security fix, "Cap the upload size (T9002)") and deploys it.
func deployPrivate(t *testing.T) (*opsSession, int) {
	t.Helper()
	o, sb := startStaging(t)
	n := upload(t, sb, capUploads)
	if err := sb.Vote(n, "jenkins-bot", "Verified", 1); err != nil {
		t.Fatal(err)
	}
	o.say("jouncebot: deploy " + strconv.Itoa(n))
	o.expectContains("synced to the testservers")
	o.say("tested ok")
	o.expectContains("deploy 1 is done")
	return o, n
}

// A change private in Gerrit, deployed and then reverted in staging:
// deploying it again is refused naming the revert, whose subject
// ('Revert "Cap the upload size"') quotes the private change's. The
// refusal does not.
func TestRevertOfPrivateChangeNamedPrivately(t *testing.T) {
	t.Parallel()
	o, n := deployPrivate(t)
	o.say("jouncebot: revert " + strconv.Itoa(n) + " it breaks uploads")
	o.expectLine(`"revert 2 is done"`, testenv.Scale(time.Minute), func(l string) bool {
		if strings.Contains(l, "Cap the upload") && !securityLine.MatchString(l) {
			t.Errorf("the revert names the private change's subject: %q", l)
		}
		return strings.Contains(l, "revert 2 is done")
	})
	o.say("jouncebot: deploy " + strconv.Itoa(n))
	l := o.expectContains("then reverted by")
	if strings.Contains(l, "Cap the upload") {
		t.Errorf("the refusal names the private change's subject: %q", l)
	}
}

// Reverting a change private in Gerrit through Gerrit pushes a revert
// whose subject quotes the private change's: Gerrit must get it as a
// private change, and the deploy of the revert names it as such.
func TestRevertViaGerritOfPrivateChangeStaysPrivate(t *testing.T) {
	t.Parallel()
	o, n := deployPrivate(t)
	o.say("jouncebot: revert --via-gerrit " + strconv.Itoa(n) + " it breaks uploads")
	l := o.expectLine(`the revert's sync to the testservers`, testenv.Scale(time.Minute), func(l string) bool {
		return strings.Contains(l, "synced to the testservers") || strings.Contains(l, "stopped") || strings.Contains(l, "Cannot")
	})
	if strings.Contains(l, "Cap the upload") || !strings.Contains(l, "synced to the testservers") {
		t.Errorf("the revert's deploy names the private change's subject (or did not sync): %q", l)
	}
	revert := n + 1
	if !o.app.Sandbox().Private(revert) {
		t.Errorf("the revert %d of private change %d was pushed to Gerrit as a public change", revert, n)
	}
}

// The plan of a change private in Gerrit says to push its revert as a
// private change: the revert's subject quotes the private change's.
func TestPlanRevertOfPrivateChangePushesPrivate(t *testing.T) {
	t.Parallel()
	o := startOps(t, time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC), func(c *config.Config) {
		c.Security.Rooms = []string{"console/security"}
	}, app.Options{})
	o.expect("Try `jouncebot: plan")
	n, err := o.app.Sandbox().Upload(gerrittest.Upload{Project: gerrittest.CoreProject, Branch: gerrittest.CoreBranch, Owner: "alice", Private: true,
		Subject: "Cap the upload size", Footers: []string{"Maintenance-Script: capUploads.php testwiki"},
		Files: []gerrittest.File{{Path: "includes/UploadLimits.php", Content: "<?php\n$limit = 2;\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	o.say("jouncebot: plan " + strconv.Itoa(n))
	l := o.expectLine("the plan's revert push", testenv.Scale(time.Minute), func(l string) bool {
		if strings.Contains(l, "capUploads") {
			t.Errorf("the plan names the maintenance script of the private change: %q", l)
		}
		return strings.Contains(l, "push origin HEAD:refs/for/")
	})
	if !strings.Contains(l, "HEAD:refs/for/"+gerrittest.CoreBranch+"%private") {
		t.Errorf("the plan pushes the revert of a private change as a public change: %q", l)
	}
}
