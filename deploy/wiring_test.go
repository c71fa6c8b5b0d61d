package deploy_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/hostsync"
)

// TestSyncFromConfig runs a deploy through stages written in YAML, as
// app wires them: host groups, dest templates, an HTTP check with a
// debug header, purge and the testing settings.
func TestSyncFromConfig(t *testing.T) {
	t.Parallel()
	requireRsync(t)
	var mu sync.Mutex
	var seen []string
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("X-Wikimedia-Debug"))
		mu.Unlock()
	}))
	t.Cleanup(site.Close)
	hosts := t.TempDir()
	var w syncWorld
	e := newEnv(t, func(o *deploy.Options) {
		yaml := fmt.Sprintf(`
deploy:
  sync:
    source: %[3]s
    releases_dir: %[1]s/releases
  testing:
    reminder: 1h
    timeout: 2h
  decision_timeout: 5m
  host_groups:
    - name: appservers
      hosts: [mw1, mw2, mw3]
  stages:
    - name: testservers
      hosts: [mwdebug1]
      dest: "%[1]s/{{.Host}}"
      wait_for_test: true
      checks:
        - type: http
          url: %[2]s/wiki/Main_Page
          headers: {X-Wikimedia-Debug: "backend=mwdebug1"}
    - name: production
      groups: [appservers]
      dest: "%[1]s/{{.Host}}"
      concurrency: 2
  purge:
    endpoints: [%[2]s]
    static:
      - dir: static/
        url: https://en.wikipedia.org/static/
`, hosts, site.URL, o.StagingDir)
		cfg, err := config.Parse([]byte(yaml), "test.yaml", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		c, _ := deploy.FromConfig(cfg, nil)
		if o.Stages, err = deploy.SyncStages(&cfg.Deploy); err != nil {
			t.Fatal(err)
		}
		o.SyncSource, o.Releases, o.Gate, o.DecisionTimeout, o.Purger = c.SyncSource, c.Releases, c.Gate, c.DecisionTimeout, c.Purger
		w.hosts = map[string][]hostsync.Host{}
		for _, h := range []string{"mwdebug1", "mw1", "mw2", "mw3"} {
			w.hosts["all"] = append(w.hosts["all"], hostsync.Host{Name: h, Dest: filepath.Join(hosts, h)})
		}
	})
	w.populate(t, e.sb.Staging)
	n := e.deployStatic(t)
	ask := e.waitFor(deploy.EventNeeds)
	if got := ask.Text.String(); !strings.Contains(got, "\nTo reach the testservers, send the header X-Wikimedia-Debug: backend=mwdebug1 (e.g. with the WikimediaDebug browser extension).\n") {
		t.Errorf("the question does not say how to reach the testservers:\n%s", got)
	}
	if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventDone)
	for _, h := range w.hosts["all"] {
		if got := readTree(t, h.Dest)["static/app.css"]; got != "body{}" {
			t.Errorf("%s lacks the change %d: %q", h.Name, n, got)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := "GET /wiki/Main_Page backend=mwdebug1\nPURGE /static/app.css "
	if got := strings.Join(seen, "\n"); got != want {
		t.Errorf("requests:\n%s\nwant\n%s", got, want)
	}
}

// TestSyncCommandMethod syncs with a site's own command; its rollback runs
// the command from the saved tree and says it could not be verified.
func TestSyncCommandMethod(t *testing.T) {
	t.Parallel()
	requireRsync(t)
	logFile := filepath.Join(t.TempDir(), "sync.log")
	e := newEnv(t, func(o *deploy.Options) {
		yaml := fmt.Sprintf(`
deploy:
  sync:
    source: %[2]s
    releases_dir: %[3]s
  stages:
    - name: testservers
      hosts: [mwdebug1, mwdebug2]
      method: command
      command: "echo {{.Host}} {{.Paths}} >> %[1]s"
      wait_for_test: true
`, logFile, o.StagingDir, filepath.Join(t.TempDir(), "releases"))
		cfg, err := config.Parse([]byte(yaml), "test.yaml", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		c, _ := deploy.FromConfig(cfg, nil)
		if o.Stages, err = deploy.SyncStages(&cfg.Deploy); err != nil {
			t.Fatal(err)
		}
		o.SyncSource, o.Releases = c.SyncSource, c.Releases
	})
	e.deploy(alice, e.sb.Changes["config"])
	e.waitFor(deploy.EventNeeds)
	if err := e.agent.Tested(context.Background(), "", alice, false); err != nil {
		t.Fatal(err)
	}
	ev := e.waitFor(deploy.EventFailed)
	if got := ev.Text.String(); !strings.Contains(got, "2 hosts hold the previous tree again, not verified (a stage syncs with a command).") {
		t.Errorf("end = %q", got)
	}
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	slices.Sort(lines)
	want := []string{"mwdebug1 " + settings, "mwdebug1 " + settings, "mwdebug2 " + settings, "mwdebug2 " + settings}
	if d := cmp.Diff(want, lines); d != "" {
		t.Errorf("commands run (sync, then rollback) (-want +got):\n%s", d)
	}
}

// TestResumeFromConfigChecksHosts: with stages built from YAML as main
// builds them, a test server put back behind jouncebot's back while it is
// down (old file, no release marker) is found by its marker at the
// restart and synced again, not taken as done from the record.
func TestResumeFromConfigChecksHosts(t *testing.T) {
	t.Parallel()
	requireRsync(t)
	hosts := t.TempDir()
	var w syncWorld
	e := newEnv(t, func(o *deploy.Options) {
		yaml := fmt.Sprintf(`
deploy:
  sync:
    source: %[2]s
    releases_dir: %[1]s/releases
  stages:
    - name: testservers
      hosts: [mwdebug1]
      dest: "%[1]s/{{.Host}}"
      wait_for_test: true
    - name: production
      hosts: [mw1, mw2]
      dest: "%[1]s/{{.Host}}"
`, hosts, o.StagingDir)
		cfg, err := config.Parse([]byte(yaml), "test.yaml", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		c, _ := deploy.FromConfig(cfg, nil)
		if o.Stages, err = deploy.SyncStages(&cfg.Deploy); err != nil {
			t.Fatal(err)
		}
		o.SyncSource, o.Releases = c.SyncSource, c.Releases
		w.hosts = map[string][]hostsync.Host{}
		for _, h := range []string{"mwdebug1", "mw1", "mw2"} {
			w.hosts["all"] = append(w.hosts["all"], hostsync.Host{Name: h, Dest: filepath.Join(hosts, h)})
		}
	})
	w.populate(t, e.sb.Staging)
	n := e.sb.Changes["config"]
	e.deploy(alice, n)
	e.waitFor(deploy.EventNeeds)
	e.stop()
	test := filepath.Join(hosts, "mwdebug1")
	if err := os.WriteFile(filepath.Join(test, settings), []byte(w.before[settings]), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(test, ".jouncebot-release")); err != nil {
		t.Fatal(err)
	}
	e.setHook(nil)
	e.start()
	e.waitFor(deploy.EventNeeds)
	if !strings.Contains(e.history(), "Checked the testservers after the restart: 1 of 1 hosts do not hold release") {
		t.Errorf("the restart did not check the test server; history:\n%s", e.history())
	}
	if got := readTree(t, test)[settings]; !strings.Contains(got, "= 20;") {
		t.Errorf("the test server asks for a test without the change: %q", got)
	}
	if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventDone)
	for _, h := range w.hosts["all"] {
		if got := readTree(t, h.Dest)[settings]; !strings.Contains(got, "= 20;") {
			t.Errorf("%s lacks change %d: %q", h.Name, n, got)
		}
	}
}
