package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
)

func itoa(n int) string { return strconv.Itoa(n) }

func TestDeployConfigChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.sb.Changes["config"]
	id := e.deploy(alice, n)
	ev := e.waitFor("prepared")
	if want := "alice: deploy " + string(id) + " is prepared: the staging checkout holds " + itoa(n) + ", verified; nothing was synced."; ev.Text.String() != want {
		t.Errorf("final message = %q, want %q", ev.Text, want)
	}
	b, _ := os.ReadFile(filepath.Join(e.sb.Staging, "wmf-config/InitialiseSettings.php"))
	if !strings.Contains(string(b), "$wgExampleLimit = 20;") {
		t.Errorf("staging does not have the change:\n%s", b)
	}
	if r := e.reviews(n); len(r) != 1 || r[0].Labels["Code-Review"] != 2 || !strings.Contains(r[0].Message, "by Alice") {
		t.Errorf("reviews = %+v, want one +2 naming Alice", r)
	}
	wantHistory := []string{
		"Deploy 1 started by alice:\n" + itoa(n) + " (" + e.sb.URL + "c/" + itoa(n) + ") operations/mediawiki-config master \"Raise $wgExampleLimit to 20\" by Alice alice",
		"Code-Review +2 given on " + itoa(n) + " (patchset 1).",
		"Waiting up to 10s for the gate to merge " + itoa(n) + ".",
		itoa(n) + " merged.",
	}
	if got := e.history(); !strings.HasPrefix(got, strings.Join(wantHistory, "\n")) {
		t.Errorf("history starts wrong (-want +got):\n%s", cmp.Diff(strings.Join(wantHistory, "\n"), got))
	}
	for _, want := range []string{"Fetched staging at", "Upstream of staging holds exactly the approved changes (1 new commit).", "Updated staging to", "Staging checkout ready"} {
		if !strings.Contains(e.history(), want) {
			t.Errorf("history lacks %q:\n%s", want, e.history())
		}
	}
	rec, err := e.agent.Record(id)
	if err != nil || rec.Changes[0].Vote.Done.IsZero() || !rec.Changes[0].Merged || rec.Repos[0].Update.Done.IsZero() ||
		rec.Repos[0].After == "" || len(rec.History) < 8 || rec.Finished.IsZero() {
		t.Errorf("the record does not say what happened: %+v, %v", rec, err)
	}
	if st, _ := e.agent.Status(context.Background()); st.Text().String() != "No deploy in progress." {
		t.Errorf("status after the deploy = %q", st.Text())
	}
}

func TestDeployCoreChangeKeepsSecurityPatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.sb.Changes["core"]
	e.deploy(alice, n)
	e.waitFor("prepared")
	core := e.sb.CoreDir()
	log := e.gitOut(core, "log", "--format=%s", "-3")
	want := "SECURITY: reject oversized requests (T9001)\nHooks: return false when no handler ran\nAdd extensions/Example submodule"
	if log != want {
		t.Errorf("core log =\n%s\nwant\n%s", log, want)
	}
	if st := e.gitOut(core, "status", "--porcelain"); st != "" {
		t.Errorf("core not clean: %s", st)
	}
	if !strings.Contains(e.history(), "staging/php-1.46.0-wmf.3 to ") || !strings.Contains(e.history(), "with 1 security patch re-applied") {
		t.Errorf("history does not report the re-applied patch:\n%s", e.history())
	}
}

func TestDeployExtensionChangeBumpsSubmodule(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.sb.Changes["extension"]
	e.deploy(alice, n)
	e.waitFor("prepared")
	core := e.sb.CoreDir()
	b, _ := os.ReadFile(filepath.Join(core, gerrittest.ExtensionPath, "Example.php"))
	if !strings.Contains(string(b), "htmlspecialchars") {
		t.Errorf("extension checkout lacks the change:\n%s", b)
	}
	if body := e.gitOut(core, "log", "-1", "--format=%B", "HEAD~1"); !strings.Contains(body, "Change-Id: "+e.sb.ChangeID(n)) {
		t.Errorf("core's commit under the security patch is not the bump:\n%s", body)
	}
	if !strings.Contains(e.history(), "extensions/Example updated") {
		t.Errorf("history does not mention the submodule:\n%s", e.history())
	}
}

func TestDeployBatchOfDependentChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first, second := e.sb.Changes["config"], e.sb.Changes["config2"]
	// Alone, the second is refused: it needs the first.
	_, err := e.agent.Start(context.Background(), e.request(alice, second))
	want := "Change " + itoa(second) + " depends on " + itoa(first) + " (\"Raise $wgExampleLimit to 20\"), which is not merged; deploy both together: `deploy " + itoa(first) + " " + itoa(second) + "`."
	if err == nil || err.Error() != want {
		t.Fatalf("deploying the second alone: %v, want %q", err, want)
	}
	// Given in the wrong order, they are voted in dependency order.
	e.deploy(alice, second, first)
	e.waitFor("prepared")
	r := e.sb.Reviews()
	if len(r) != 2 || r[0].Change != first || r[1].Change != second {
		t.Errorf("reviews = %+v, want +2 on %d then %d", r, first, second)
	}
	b, _ := os.ReadFile(filepath.Join(e.sb.Staging, "wmf-config/InitialiseSettings.php"))
	if !strings.Contains(string(b), "$wgExampleDebug = true;") || !strings.Contains(string(b), "$wgExampleLimit = 20;") {
		t.Errorf("staging does not hold both changes:\n%s", b)
	}
}
