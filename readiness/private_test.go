package readiness_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jouncebot/jouncebot/deploy/gerrittest"
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
