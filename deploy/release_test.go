package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
)

// A file edited in staging after the testservers were synced never
// reaches a host: every stage syncs the release frozen when staging was
// prepared, the one that was tested, and the deployer is told what
// changed in staging.
func TestTamperedStagingNeverReachesHosts(t *testing.T) {
	t.Parallel()
	e, w := newSyncEnv(t, nil)
	n := e.sb.Changes["core"] // bob's change to includes/Hooks.php
	hooks := filepath.Join(e.sb.CoreDir(), "includes/Hooks.php")
	const rel = "php-" + gerrittest.Version + "/includes/Hooks.php"
	e.deploy(alice, n)
	e.waitFor(deploy.EventNeeds)
	tested := readTree(t, w.hosts["testservers"][0].Dest)
	if !strings.Contains(tested[rel], "return false;") {
		t.Fatalf("the testserver lacks the change: %q", tested[rel])
	}
	f, err := os.OpenFile(hooks, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("evil();\n")
	f.Close()
	if err := e.agent.Tested(context.Background(), "", bob, true); err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventDone)
	for _, h := range w.all() {
		if d := cmp.Diff(tested, readTree(t, h.Dest)); d != "" {
			t.Errorf("%s differs from the tested testserver (-tested +host):\n%s", h.Name, d)
		}
	}
	if h := e.history(); !strings.Contains(h, "staging changed after release ") || !strings.Contains(h, "staging/php-"+gerrittest.Version+": includes/Hooks.php") {
		t.Errorf("the deployer was not told that staging changed:\n%s", h)
	}
}
