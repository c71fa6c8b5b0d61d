package readiness_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/readiness"
)

func patch(t *testing.T, r readiness.Result, n int) readiness.PatchResult {
	t.Helper()
	p, ok := r.Patch(n)
	if !ok {
		t.Fatalf("no result for %d in %+v", n, r)
	}
	return p
}

func finding(p readiness.PatchResult, kind string) (readiness.Finding, bool) {
	for _, f := range p.Findings {
		if f.Kind == kind {
			return f, true
		}
	}
	return readiness.Finding{}, false
}

func wantStatus(t *testing.T, p readiness.PatchResult, s readiness.Status, kind string) readiness.Finding {
	t.Helper()
	if p.Status != s {
		t.Fatalf("change %d is %s, want %s: %+v", p.Change, p.Status, s, p.Findings)
	}
	if kind == "" {
		return readiness.Finding{}
	}
	f, ok := finding(p, kind)
	if !ok {
		t.Fatalf("change %d has no %s finding: %+v", p.Change, kind, p.Findings)
	}
	return f
}

func TestReadyPatch(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	n := w.sb.Changes["config"]
	w.queue(w.win, "alice", n)
	p := patch(t, w.check(w.win), n)
	wantStatus(t, p, readiness.Ready, "")
	if len(p.Findings) != 0 || p.PatchSet != 1 {
		t.Errorf("a ready config change: %+v", p)
	}
}

func TestAbandoned(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	n := w.sb.Changes["config"]
	w.sb.Abandon(n)
	w.queue(w.win, "alice", n)
	f := wantStatus(t, patch(t, w.check(w.win), n), readiness.Blocked, readiness.KindAbandoned)
	if !strings.Contains(f.Action, "restore it") {
		t.Errorf("action: %q", f.Action)
	}
}

func TestNewerPatchSet(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	n := w.sb.Changes["config"]
	w.queue(w.win, "alice", n)
	wantStatus(t, patch(t, w.check(w.win), n), readiness.Ready, "")
	must(t, w.sb.NewPatchSet(n, "alice", []gerrittest.File{{Path: "wmf-config/InitialiseSettings.php", Content: "<?php\n$wgExampleLimit = 25;\n$wgExampleDebug = false;\n"}}))
	p := patch(t, w.check(w.win), n)
	f := wantStatus(t, p, readiness.Ready, readiness.KindPatchSet)
	if p.PatchSet != 2 || !strings.Contains(f.Text, "patchset 2 would be deployed") {
		t.Errorf("newer patchset: %+v", p)
	}
}

func TestBranchNotLive(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	must(t, w.sb.CreateBranch(gerrittest.CoreProject, "wmf/1.46.0-wmf.1", gerrittest.CoreBranch))
	n := w.upload("bob", "wmf/1.46.0-wmf.1", "Old branch fix", gerrittest.File{Path: "includes/Old.php", Content: "<?php\n"})
	w.queue(w.win, "bob", n)
	f := wantStatus(t, patch(t, w.check(w.win), n), readiness.Blocked, readiness.KindBranch)
	if !strings.Contains(f.Text, "wmf/1.46.0-wmf.1, which is not live (live: wmf/1.46.0-wmf.3, wmf/1.46.0-wmf.4)") {
		t.Errorf("text: %q", f.Text)
	}
}

func TestOneOfTwoLiveBranches(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	n := w.sb.Changes["core"]
	w.queue(w.win, "bob", n)
	f := wantStatus(t, patch(t, w.check(w.win), n), readiness.Ready, readiness.KindOtherBranch)
	if f.Text != "also needed on wmf/1.46.0-wmf.4?" {
		t.Errorf("text: %q", f.Text)
	}
	// The cherry-pick to wmf.4 (same Change-Id) answers the question.
	_, err := w.sb.Upload(gerrittest.Upload{Project: gerrittest.CoreProject, Branch: CoreBranch4, Owner: "bob",
		Subject: "Hooks: return false when no handler ran", ChangeID: w.sb.ChangeID(n),
		Files: []gerrittest.File{{Path: "includes/Hooks.php", Content: "<?php\nfunction runHooks() {\n\treturn false;\n}\n"}}})
	must(t, err)
	if _, ok := finding(patch(t, w.check(w.win), n), readiness.KindOtherBranch); ok {
		t.Error("still asks about wmf.4 after the cherry-pick")
	}
}

func TestFailingCI(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	n := w.sb.Changes["config"]
	must(t, w.sb.Vote(n, "jenkins-bot", "Verified", -1))
	w.queue(w.win, "alice", n)
	f := wantStatus(t, patch(t, w.check(w.win), n), readiness.Blocked, readiness.KindCI)
	if f.Text != "CI fails (Verified -1 from jenkins-bot)" {
		t.Errorf("text: %q", f.Text)
	}
}

func TestDependencyInLaterWindow(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	first, second := w.sb.Changes["config"], w.sb.Changes["config2"] // second's parent is first
	w.queue(w.win, "bob", second)
	w.queue(w.later, "alice", first)
	f := wantStatus(t, patch(t, w.check(w.win), second), readiness.Blocked, readiness.KindDependency)
	if !strings.Contains(f.Text, "depends on 445113 (relation chain), which is not merged and is queued for a later window (UTC morning backport window)") {
		t.Errorf("text: %q", f.Text)
	}
	// Both in this window, in order: ready.
	_, _, _, err := w.book.Dequeue(first, "alice", w.now)
	must(t, err)
	_, _, _, err = w.book.Dequeue(second, "bob", w.now)
	must(t, err)
	w.queue(w.win, "alice", first)
	w.queue(w.win, "bob", second)
	wantStatus(t, patch(t, w.check(w.win), second), readiness.Ready, "")
}

func TestSecurityPatchConflict(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	n := w.upload("bob", "", "Setup: log the request size", gerrittest.File{Path: "includes/Setup.php", Content: "<?php\n// MediaWiki setup\n// log the request size\n"})
	w.queue(w.win, "bob", n)
	res := w.check(w.win)
	f := wantStatus(t, patch(t, res, n), readiness.Blocked, readiness.KindSecurity)
	public := readiness.Summary(res, person, "").String() + f.Text + f.Action + readiness.OwnerMessages(res)["bob"]
	for _, secret := range []string{"Setup.php", "SECURITY", "oversized"} {
		if strings.Contains(public, secret) {
			t.Errorf("public texts name the security patch (%q): %s", secret, public)
		}
	}
	if want := `the local security patch "SECURITY: reject oversized requests (T9001)" in staging/php-1.46.0-wmf.3 (includes/Setup.php)`; !strings.Contains(f.Private, want) {
		t.Errorf("private details %q lack %q", f.Private, want)
	}
	if d := readiness.SecurityDetails(res); len(d) != 1 {
		t.Errorf("security details: %q", d)
	}
}

func TestConflictBetweenQueuedPatches(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a := w.sb.Changes["core"] // includes/Hooks.php: return false
	b := w.upload("alice", "", "Hooks: return null", gerrittest.File{Path: "includes/Hooks.php", Content: "<?php\nfunction runHooks() {\n\treturn null;\n}\n"})
	w.queue(w.win, "bob", a)
	w.queue(w.win, "alice", b)
	res := w.check(w.win)
	wantStatus(t, patch(t, res, a), readiness.Ready, "")
	f := wantStatus(t, patch(t, res, b), readiness.Blocked, readiness.KindConflict)
	if f.Text != "merge conflict in includes/Hooks.php with 445115, queued before it" {
		t.Errorf("text: %q", f.Text)
	}
}

func TestStaticFile(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	n := w.upload("bob", "", "Add a logo", gerrittest.File{Path: "resources/assets/logo.svg", Content: "<svg/>\n"})
	w.queue(w.win, "bob", n)
	f := wantStatus(t, patch(t, w.check(w.win), n), readiness.Ready, readiness.KindStatic)
	if f.Text != "it changes 1 static file (resources/assets/logo.svg); a CDN purge will run" {
		t.Errorf("text: %q", f.Text)
	}
}

func TestWindowTooShort(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	// Config deploys took 20 minutes a patch, core ones 30; the one
	// extension deploy is too few to go by, so all deploys count for it.
	for _, d := range []int{18, 20, 22, 40} {
		w.history.samples = append(w.history.samples, readiness.Sample{Kind: "config", PerPatch: time.Duration(d) * time.Minute})
	}
	for _, d := range []int{30, 28, 32} {
		w.history.samples = append(w.history.samples, readiness.Sample{Kind: "core", PerPatch: time.Duration(d) * time.Minute})
	}
	w.history.samples = append(w.history.samples, readiness.Sample{Kind: "submodule", PerPatch: 5 * time.Minute})
	w.queue(w.win, "alice", w.sb.Changes["config"], w.sb.Changes["extension"])
	w.queue(w.win, "bob", w.sb.Changes["core"])
	res := w.check(w.win)
	// Medians: config 20, all deploys 22, core 30. 90th percentiles: 40, 40, 32.
	if res.Estimate != 72*time.Minute || res.Estimate90 != 112*time.Minute || len(res.Window) != 1 || res.Window[0].Kind != readiness.KindFit || !res.Window[0].Blocking {
		t.Fatalf("estimate %s (90th percentile %s), window findings %+v", res.Estimate, res.Estimate90, res.Window)
	}
	want := "Estimated 72 min of 60 (90th percentile 112). The queue needs about 72 min but the window is 60 min long; move the last patches to a later window."
	if s := readiness.Summary(res, person, "").String(); !strings.Contains(s, want) {
		t.Errorf("summary: %s\nwant: %s", s, want)
	}
	if !strings.Contains(res.EstimateFrom, "last 8 deploys") {
		t.Errorf("from: %q", res.EstimateFrom)
	}
	// Without history: the documented defaults, and a window that fits.
	w.history.samples = nil
	res = w.check(w.win)
	if res.Estimate != 30*time.Minute || res.Estimate90 != 45*time.Minute || len(res.Window) != 0 {
		t.Errorf("defaults: estimate %s (90th percentile %s), %+v", res.Estimate, res.Estimate90, res.Window)
	}
}

func TestOwnerNotPresent(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.present["bob"] = false
	n := w.sb.Changes["config2"]
	w.queue(w.win, "alice", w.sb.Changes["config"])
	w.queue(w.win, "bob", n)
	res := w.check(w.win)
	f := wantStatus(t, patch(t, res, n), readiness.Ready, readiness.KindOwner)
	if f.Text != "bob is not in #wikimedia-operations" {
		t.Errorf("text: %q", f.Text)
	}
	if !strings.Contains(readiness.Summary(res, person, "").String(), "445114: bob is not in #wikimedia-operations") {
		t.Errorf("summary: %s", readiness.Summary(res, person, ""))
	}
}

func TestConflictWithTheBranch(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	old := w.sb.BranchTip(gerrittest.CoreProject, gerrittest.CoreBranch)
	_, err := w.sb.PushDirect(gerrittest.CoreProject, gerrittest.CoreBranch, "Hooks: return 1", []gerrittest.File{{Path: "includes/Hooks.php", Content: "<?php\nfunction runHooks() {\n\treturn 1;\n}\n"}})
	must(t, err)
	core := w.sb.CoreDir()
	run(t, core, "fetch", "-q", "origin")
	run(t, core, "rebase", "-q", "origin/"+gerrittest.CoreBranch)
	n, err := w.sb.Upload(gerrittest.Upload{Project: gerrittest.CoreProject, Branch: gerrittest.CoreBranch, Owner: "bob", Subject: "Hooks: return 2", Parent: old,
		Files: []gerrittest.File{{Path: "includes/Hooks.php", Content: "<?php\nfunction runHooks() {\n\treturn 2;\n}\n"}}})
	must(t, err)
	w.queue(w.win, "bob", n)
	p := patch(t, w.check(w.win), n)
	f := wantStatus(t, p, readiness.Blocked, readiness.KindUpstream)
	if f.Text != "merge conflict in includes/Hooks.php with the branch in staging" || f.Ask != "rebase" {
		t.Errorf("finding: %+v", f)
	}
	wantStatus(t, p, readiness.Blocked, readiness.KindMergeable)
}
