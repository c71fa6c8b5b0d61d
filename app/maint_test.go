package app_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/internal/testenv"
	"github.com/jouncebot/jouncebot/maint/mainttest"
)

// A change whose Maintenance-Script footer asks for namespaceDupes.php:
// plan lists it; after the production sync the deployer is told what it
// asks for and how to start it; "maint <change>" runs the dry run, which
// moves nothing; "maint go" runs it with --fix, which moves the page, and
// the SAL has the Started and Finished lines.
func TestConsoleMaintenanceFromFooter(t *testing.T) {
	t.Parallel()
	h := mainttest.StartHost(t, "testwiki")
	w := h.Wikis["testwiki"]
	w.EditPage(t, "Foo:Bar", "a page in the main namespace")
	h.AddNamespace(t, "testwiki")
	m := h.Config
	m.PollInterval, m.ProgressEvery, m.Timeout, m.Retention = 100*time.Millisecond, time.Hour, time.Hour, time.Hour
	s := runConsole(t, time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC), "", func(c *config.Config) { c.Maint = m }, app.Options{})
	sb := s.app.Sandbox().Sandbox
	s.expect("Try `jouncebot: plan")
	n, err := sb.Upload(gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: "master", Owner: "alice", Subject: "Add the Foo namespace",
		Footers: []string{"Bug: T123", "Maintenance-Script: namespaceDupes.php testwiki"},
		Files:   []gerrittest.File{{Path: "wmf-config/InitialiseSettings.php", Content: "<?php\n// Foo namespace\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	ns := strconv.Itoa(n)
	s.say("jouncebot: plan " + ns)
	s.expectContains("after the production sync, " + ns + " asks for the maintenance script namespaceDupes.php testwiki (start it with `maint " + ns + "`)")
	s.say("jouncebot: deploy " + ns)
	s.expect("amir, alice: Backport for [[gerrit:" + ns + "|Add the Foo namespace (T123)]] synced to the testservers.")
	s.say("tested ok")
	s.expect("amir: deploy 1 is done: " + ns + ".")
	s.expect("amir: " + ns + " asks for the maintenance script namespaceDupes.php testwiki.")
	s.expect("Start it with: maint " + ns + " (a dry run comes first where the script has one).")

	s.say("jouncebot: maint " + ns)
	s.expect("Run 1: dry run of namespaceDupes.php on testwiki started; the real run (namespaceDupes.php --fix) waits for maint go 1.")
	s.expect("amir: Run 1: dry run of namespaceDupes.php on testwiki finished (exit 0).")
	s.expect("Start the real run (namespaceDupes.php --fix) with: maint go 1 (or maint stop 1).")
	if _, exists := mainttest.NamespaceOf(t, w, "Foo:Bar"); exists {
		t.Fatal("the dry run moved the page")
	}
	s.say("jouncebot: maint go 1")
	s.expect("Run 1: namespaceDupes.php --fix on testwiki started.")
	s.expect("amir: Run 1: namespaceDupes.php --fix on testwiki finished (exit 0) in ")
	if _, exists := mainttest.NamespaceOf(t, w, "Foo:Bar"); !exists {
		t.Error("the real run did not move the page")
	}
	s.say("jouncebot: maint")
	s.expect("No live maintenance runs.")
	s.expect("1: namespaceDupes.php --fix on testwiki by Amir ")
	s.say("jouncebot: sal maintenance script")
	s.expect("All 2 matching Server Admin Log entries")
}

// expectContains reads lines until one contains want, failing after a minute.
func (s *consoleSession) expectContains(want string) string {
	s.t.Helper()
	return s.expectLine(fmt.Sprintf("containing %q", want), testenv.Scale(time.Minute), func(l string) bool { return strings.Contains(l, want) })
}
