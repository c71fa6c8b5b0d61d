package readiness_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/internal/testenv"
	"github.com/jouncebot/jouncebot/readiness"
)

// secrets are what names the sandbox's local security patch: its subject
// and its file.
var secrets = []string{"Setup.php", "SECURITY", "oversized", "T9001"}

// public is every text of a result that leaves the security destination:
// the channel summary, the owners' messages, the start note and each
// finding's words.
func public(res readiness.Result) string {
	var b strings.Builder
	b.WriteString(readiness.Summary(res, person, "").String())
	for _, m := range readiness.OwnerMessages(res) {
		b.WriteString("\n" + m)
	}
	b.WriteString("\n" + readiness.StartNote(res))
	for _, p := range res.Patches {
		for _, f := range p.Findings {
			b.WriteString("\n" + f.Text + " " + f.Action + " " + f.Ask)
		}
	}
	return b.String()
}

func wantNoSecret(t *testing.T, res readiness.Result) {
	t.Helper()
	text := public(res)
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("public texts name the security patch (%q): %s", s, text)
		}
	}
}

// advanceUpstream commits to the branch in Gerrit, past staging, then
// updates staging the way a deploy does (fetch, rebase the local patches
// on top); it returns the commit staging was on before.
func (w *world) advanceUpstream(subject string, files ...gerrittest.File) string {
	w.t.Helper()
	core := w.sb.CoreDir()
	old := strings.TrimSpace(run(w.t, core, "rev-parse", "refs/remotes/origin/"+gerrittest.CoreBranch))
	_, err := w.sb.PushDirect(gerrittest.CoreProject, gerrittest.CoreBranch, subject, files)
	must(w.t, err)
	run(w.t, core, "fetch", "-q", "origin")
	run(w.t, core, "rebase", "-q", "refs/remotes/origin/"+gerrittest.CoreBranch)
	return old
}

// A change that conflicts with upstream and with the local security patch
// is a security conflict: the public texts name the upstream file, never
// the security patch's, and the details go to the security destination.
func TestCombinedConflictStaysPrivate(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	old := w.advanceUpstream("Hooks: return null", gerrittest.File{Path: "includes/Hooks.php", Content: "<?php\nfunction runHooks() {\n\treturn null;\n}\n"})
	n, err := w.sb.Upload(gerrittest.Upload{Project: gerrittest.CoreProject, Branch: gerrittest.CoreBranch, Owner: "bob",
		Subject: "Hooks and setup: log more", Parent: old, Files: []gerrittest.File{
			{Path: "includes/Hooks.php", Content: "<?php\nfunction runHooks() {\n\treturn 1;\n}\n"},
			{Path: "includes/Setup.php", Content: "<?php\n// MediaWiki setup\n// log the request size\n"}}})
	must(t, err)
	w.queue(w.win, "bob", n)
	res := w.check(w.win)
	f := wantStatus(t, patch(t, res, n), readiness.Blocked, readiness.KindSecurity)
	wantNoSecret(t, res)
	if !strings.Contains(f.Text, "includes/Hooks.php") {
		t.Errorf("the upstream conflict's file is not named: %q", f.Text)
	}
	if want := `"SECURITY: reject oversized requests (T9001)"`; !strings.Contains(f.Private, want) || !strings.Contains(f.Private, "includes/Setup.php") {
		t.Errorf("private details %q lack the patch and its file", f.Private)
	}
	if d := readiness.SecurityDetails(res); len(d) != 1 {
		t.Errorf("security details: %q", d)
	}
}

// Without refs/remotes/origin/<branch> in staging, the check asks Gerrit
// what upstream is: a conflict with the security patch stays one.
func TestSecurityConflictWithoutOriginRef(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	run(t, w.sb.CoreDir(), "update-ref", "-d", "refs/remotes/origin/"+gerrittest.CoreBranch)
	n := w.upload("bob", "", "Setup: log the request size", gerrittest.File{Path: "includes/Setup.php", Content: "<?php\n// MediaWiki setup\n// log the request size\n"})
	w.queue(w.win, "bob", n)
	res := w.check(w.win)
	f := wantStatus(t, patch(t, res, n), readiness.Blocked, readiness.KindSecurity)
	wantNoSecret(t, res)
	if !strings.Contains(f.Private, "includes/Setup.php") {
		t.Errorf("private details: %q", f.Private)
	}
}

// Uncommitted changes in staging are private too: the check says a
// deploy would be refused, names no file in public and sends the list to
// the security destination.
func TestUncommittedChangeStaysPrivate(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	must(t, os.WriteFile(filepath.Join(w.sb.CoreDir(), "includes/Setup.php"), []byte("<?php\n// MediaWiki setup\n// SECURITY: reject oversized requests\n// SECURITY: and slow ones\n"), 0o644))
	n := w.sb.Changes["core"]
	w.queue(w.win, "bob", n)
	res := w.check(w.win)
	f := wantStatus(t, patch(t, res, n), readiness.Blocked, readiness.KindStaging)
	wantNoSecret(t, res)
	if !strings.Contains(f.Private, "includes/Setup.php") {
		t.Errorf("private details: %q", f.Private)
	}
}

// stallGit serves Gerrit's git for every project but project, whose
// fetches hang until the client gives up; started receives one value per
// stalled request.
func stallGit(t *testing.T, w *world, project string) (started chan struct{}) {
	started = make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	w.checker.Gatherer.GitURL = func(p string) string {
		if p == project {
			return srv.URL + "/" + p
		}
		return w.sb.GitURL(p)
	}
	return started
}

// A fetch that hangs ends at the git timeout, and the check says which
// change and what it was doing.
func TestStalledFetchIsReported(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	stallGit(t, w, gerrittest.CoreProject)
	// Long enough for the other git commands on a busy machine.
	w.checker.Gatherer.GitTimeout = testenv.Scale(5 * time.Second)
	n := w.sb.Changes["core"]
	w.queue(w.win, "bob", n)
	res := w.check(w.win)
	f := wantStatus(t, patch(t, res, n), readiness.Blocked, readiness.KindTimeout)
	if want := fmt.Sprintf("the check of %d timed out after %s fetching %d from mediawiki/core", n, readiness.Seconds(w.checker.Gatherer.GitTimeout), n); f.Text != want {
		t.Errorf("text: %q, want %q", f.Text, want)
	}
	if s := readiness.Summary(res, person, "").String(); !strings.Contains(s, f.Text) {
		t.Errorf("summary does not say it: %s", s)
	}
}

// A check that hangs holds up neither the check of another window nor a
// check command of the same window, which gives up at its own deadline.
func TestStalledCheckBlocksNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	started := stallGit(t, w, gerrittest.CoreProject)
	w.checker.Gatherer.GitTimeout = time.Hour
	w.checker.Timeout = time.Hour
	w.queue(w.win, "bob", w.sb.Changes["core"])
	w.queue(w.later, "alice", w.sb.Changes["config"])
	ctx, cancel := context.WithCancel(context.Background())
	stalled := make(chan error, 1)
	go func() {
		_, err := w.checker.Check(ctx, w.win)
		stalled <- err
	}()
	t.Cleanup(func() { cancel(); <-stalled })
	<-started
	res, err := w.checker.Check(context.Background(), w.later)
	must(t, err)
	wantStatus(t, patch(t, res, w.sb.Changes["config"]), readiness.Ready, "")
	short, stop := context.WithCancel(context.Background())
	stop() // a command whose own time is up
	if _, err := w.checker.Check(short, w.win); !errors.Is(err, context.Canceled) {
		t.Errorf("a check of the stalled window: %v, want it to give up", err)
	}
}
