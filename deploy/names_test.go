package deploy_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/deploy/purge"
	"github.com/jouncebot/jouncebot/deploy/workflow"
)

// cdnOrigin is a CDN endpoint that knows the static files of a tree: a
// PURGE of a file that exists answers 200, of any other path 404, as a
// cache does for an object it never held.
type cdnOrigin struct {
	root   string
	mu     sync.Mutex
	purged []string // request URIs as sent
}

func (c *cdnOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.purged = append(c.purged, r.Method+" "+r.Host+r.URL.RequestURI())
	c.mu.Unlock()
	p, err := url.PathUnescape(r.URL.EscapedPath())
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if _, err := os.Stat(filepath.Join(c.root, filepath.FromSlash(p))); err != nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
}

func (c *cdnOrigin) requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.purged)
}

// oddFiles is a change with names git quotes and rsync or a shell could
// misread, and a deleted file.
var oddFiles = []gerrittest.File{
	{Path: "static/café.css", Content: "a{color:red}"},
	{Path: "wmf-config/a b.php", Content: "<?php // space\n"},
	{Path: "-rf.php", Content: "<?php // dash\n"},
	{Path: " lead.php", Content: "<?php // blank\n"},
	{Path: "wmf-config/CommonSettings.php", Delete: true},
}

func deployOddNames(t *testing.T, e *env) int {
	t.Helper()
	n, err := e.sb.Upload(gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: gerrittest.ConfigBranch, Owner: "alice",
		Subject: "Odd names", Files: slices.Clone(oddFiles)})
	if err != nil {
		t.Fatal(err)
	}
	e.deploy(alice, n)
	e.waitFor(deploy.EventNeeds)
	return n
}

// TestSyncOddNames deploys a change adding café.css, "a b.php", -rf.php
// and " lead.php" and deleting a file: every host ends up like staging,
// the CDN gets the percent-encoded URL of café.css, and the SAL names
// the files as they are.
func TestSyncOddNames(t *testing.T) {
	t.Parallel()
	cdn := &cdnOrigin{}
	srv := httptest.NewServer(cdn)
	t.Cleanup(srv.Close)
	e, w := newSyncEnv(t, nil, func(o *deploy.Options) {
		cdn.root = o.StagingDir
		o.Purger = purge.FromConfig(&config.Purge{Endpoints: []string{srv.URL}, Timeout: 5 * time.Second,
			Static: []config.StaticDir{{Dir: "static/", URL: "https://en.wikipedia.org/static/"}}}, nil)
	})
	deployOddNames(t, e)
	if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventDone)
	want := readTree(t, e.sb.Staging)
	if _, ok := want["wmf-config/CommonSettings.php"]; ok {
		t.Fatal("staging still holds the deleted file")
	}
	for _, f := range oddFiles[:4] {
		if want[f.Path] != f.Content {
			t.Fatalf("staging lacks %q", f.Path)
		}
	}
	for _, h := range w.all() {
		if d := cmp.Diff(want, readTree(t, h.Dest)); d != "" {
			t.Errorf("%s differs from staging (-want +got):\n%s", h.Name, d)
		}
	}
	if d := cmp.Diff([]string{"PURGE en.wikipedia.org/static/caf%C3%A9.css"}, cdn.requests()); d != "" {
		t.Errorf("purges (-want +got):\n%s", d)
	}
	if !strings.Contains(e.history(), "Purged 1 URL from 1 CDN endpoint: https://en.wikipedia.org/static/caf%C3%A9.css.") {
		t.Errorf("history:\n%s", e.history())
	}
	sal := w.sal.all()
	if len(sal) != 3 || !strings.HasPrefix(sal[1], `alice: Synchronized  lead.php, -rf.php and 3 more files: `) {
		t.Errorf("SAL lines:\n%s", strings.Join(sal, "\n"))
	}
	rec, err := e.agent.Record("1")
	if err != nil {
		t.Fatal(err)
	}
	files := slices.Sorted(slices.Values(rec.Sync.Files))
	wantFiles := []string{" lead.php", "-rf.php", "static/café.css", "wmf-config/CommonSettings.php", "wmf-config/a b.php"}
	if d := cmp.Diff(wantFiles, files); d != "" {
		t.Errorf("changed files (-want +got):\n%s", d)
	}
}

// TestSyncOddNamesRollBack rolls the same change back from the
// testserver: the odd files go, the deleted file comes back, and the
// verification compares those paths.
func TestSyncOddNamesRollBack(t *testing.T) {
	t.Parallel()
	e, w := newSyncEnv(t, nil)
	deployOddNames(t, e)
	test := w.hosts["testservers"][0]
	if got := readTree(t, test.Dest)["static/café.css"]; got != "a{color:red}" {
		t.Fatalf("testserver lacks café.css: %q", got)
	}
	if err := e.agent.Tested(context.Background(), "", alice, false); err != nil {
		t.Fatal(err)
	}
	ev := e.waitFor(deploy.EventFailed)
	if got := ev.Text.String(); !strings.Contains(got, "1 host holds the previous tree again, verified byte for byte.") {
		t.Errorf("got %s", got)
	}
	if d := cmp.Diff(w.before, readTree(t, test.Dest)); d != "" {
		t.Errorf("testserver after the rollback (-want +got):\n%s", d)
	}
}

// Every step of a deploy, a prepare-only deploy and a revert is a name
// configuration refuses for a stage (config.StepNames): a stage of the
// same name would make the record's next step ambiguous.
func TestStepNamesReservedInConfig(t *testing.T) {
	e := deploy.NewEngine(nil, nil, nil, nil, deploy.Options{Stages: []deploy.Stage{&deploy.SyncStage{StageName: "production"}}})
	for _, d := range []*deploy.Deploy{{}, {PrepareOnly: true}, {Revert: &deploy.RevertRecord{}}} {
		steps, _ := e.Steps(d)
		for _, s := range steps {
			if s != "production" && !slices.Contains(config.StepNames, s) {
				t.Errorf("step %q is not in config.StepNames", s)
			}
		}
	}
	if !slices.Contains(config.StepNames, workflow.Done) {
		t.Errorf("%q is not in config.StepNames", workflow.Done)
	}
}
