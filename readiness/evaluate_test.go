package readiness_test

import (
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/readiness"
)

// Evaluate is pure: facts in, verdicts out. Localisation files and a
// maintenance footer (Maintenance-Script: or Maintenance:) are reported,
// and the localisation rebuild counts in the estimate.
func TestEvaluateFilesAndFooters(t *testing.T) {
	start := time.Date(2026, 11, 27, 23, 0, 0, 0, time.UTC)
	w := calendar.Window{ID: "w", Name: "UTC late backport window", Start: start, End: start.Add(time.Hour)}
	ch := &gerrit.Change{Number: 1, Project: "mediawiki/core", Branch: "wmf/1.46.0-wmf.3", Status: "NEW", PatchSet: 1,
		Message: "Add messages\n\nMaintenance-Script: extensions/Example/maintenance/migrate.php\nChange-Id: I1\n",
		Labels:  map[string][]gerrit.Approval{"Verified": {{Account: gerrit.Account{Username: "jenkins-bot"}, Value: 1}}}}
	in := readiness.Input{Window: w, Now: start.Add(-10 * time.Minute),
		Patches: []calendar.Patch{{Change: 1, Owner: "bob"}},
		Facts: map[int]readiness.Facts{1: {Change: ch, Kind: "core", Repo: "php-1.46.0-wmf.3", Merge: readiness.Merge{Checked: true},
			Files: []string{"languages/i18n/en.json", "includes/Hooks.php"}}}}
	res := readiness.Evaluate(in)
	p := res.Patches[0]
	wantStatus(t, p, readiness.Ready, readiness.KindL10n)
	f := wantStatus(t, p, readiness.Ready, readiness.KindMaintenance)
	if f.Text != "it needs the maintenance script extensions/Example/maintenance/migrate.php run after the sync" {
		t.Errorf("text: %q", f.Text)
	}
	if p.Estimate != readiness.DefaultMedian+readiness.L10nExtra {
		t.Errorf("estimate %s", p.Estimate)
	}
	ch.Message = "Fix\n\nMaintenance: run refreshLinks.php\nChange-Id: I1\n"
	if _, ok := finding(readiness.Evaluate(in).Patches[0], readiness.KindMaintenance); !ok {
		t.Error("a Maintenance: footer is not reported")
	}
}

// Work in progress, Code-Review -2, a missing CI vote, an unmerged
// dependency queued nowhere and an unknown owner are all named.
func TestEvaluateGerritStates(t *testing.T) {
	start := time.Date(2026, 11, 27, 23, 0, 0, 0, time.UTC)
	w := calendar.Window{ID: "w", Name: "UTC late backport window", Start: start, End: start.Add(time.Hour)}
	ch := &gerrit.Change{Number: 2, Project: "operations/mediawiki-config", Branch: "master", Status: "NEW", WIP: true, PatchSet: 1,
		Labels: map[string][]gerrit.Approval{"Code-Review": {{Account: gerrit.Account{Name: "Carol"}, Value: -2}}}}
	res := readiness.Evaluate(readiness.Input{Window: w, Now: start,
		Patches: []calendar.Patch{{Change: 2}},
		Facts:   map[int]readiness.Facts{2: {Change: ch, Kind: "config", Deps: []readiness.Dep{{Change: 1, Why: "Depends-On"}}}}})
	p := res.Patches[0]
	for kind, text := range map[string]string{
		readiness.KindWIP:        "the change is a work in progress",
		readiness.KindReview:     "Code-Review -2 from Carol",
		readiness.KindCI:         "no CI vote (Verified) yet",
		readiness.KindDependency: "it depends on 1 (Depends-On), which is not merged and not queued",
		readiness.KindOwner:      "nobody is known to own it",
	} {
		if f := wantStatus(t, p, readiness.Blocked, kind); f.Text != text {
			t.Errorf("%s: %q, want %q", kind, f.Text, text)
		}
	}
}

// A dependency queued for an earlier window is a note: it should be
// deployed there first.
func TestEvaluateDependencyInEarlierWindow(t *testing.T) {
	start := time.Date(2026, 11, 27, 23, 0, 0, 0, time.UTC)
	w := calendar.Window{ID: "w", Name: "UTC late backport window", Start: start, End: start.Add(time.Hour)}
	ch := &gerrit.Change{Number: 2, Project: "operations/mediawiki-config", Branch: "master", Status: "NEW", PatchSet: 1,
		Labels: map[string][]gerrit.Approval{"Verified": {{Value: 1}}}}
	res := readiness.Evaluate(readiness.Input{Window: w, Now: start.Add(-time.Hour),
		Patches:   []calendar.Patch{{Change: 2, Owner: "bob"}},
		Elsewhere: map[int]readiness.Queued{1: {WindowID: "e", Name: "UTC afternoon backport window", Start: start.Add(-9 * time.Hour)}},
		Facts:     map[int]readiness.Facts{2: {Change: ch, Kind: "config", Deps: []readiness.Dep{{Change: 1, Why: "relation chain"}}}}})
	f := wantStatus(t, res.Patches[0], readiness.Ready, readiness.KindDependency)
	if f.Text != "it depends on 1 (relation chain), which is not merged yet and is queued for an earlier window (UTC afternoon backport window)" {
		t.Errorf("text: %q", f.Text)
	}
}

// A dependency queued after it in the same window blocks it until the
// order is changed.
func TestEvaluateDependencyQueuedAfter(t *testing.T) {
	start := time.Date(2026, 11, 27, 23, 0, 0, 0, time.UTC)
	w := calendar.Window{ID: "w", Name: "UTC late backport window", Start: start, End: start.Add(time.Hour)}
	mk := func(n int) *gerrit.Change {
		return &gerrit.Change{Number: n, Project: "operations/mediawiki-config", Branch: "master", Status: "NEW", PatchSet: 1,
			Labels: map[string][]gerrit.Approval{"Verified": {{Value: 1}}}}
	}
	res := readiness.Evaluate(readiness.Input{Window: w, Now: start.Add(-time.Hour),
		Patches: []calendar.Patch{{Change: 2, Owner: "bob"}, {Change: 1, Owner: "alice"}},
		Facts: map[int]readiness.Facts{
			1: {Change: mk(1), Kind: "config"},
			2: {Change: mk(2), Kind: "config", Deps: []readiness.Dep{{Change: 1, Why: "relation chain"}}}}})
	f := wantStatus(t, res.Patches[0], readiness.Blocked, readiness.KindDependency)
	if f.Text != "it depends on 1 (relation chain), which is queued after it" || f.Ask != "queue it after 1" {
		t.Errorf("finding: %+v", f)
	}
	wantStatus(t, res.Patches[1], readiness.Ready, "")
}
