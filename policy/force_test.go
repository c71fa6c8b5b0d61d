package policy

import (
	"strings"
	"testing"
	"time"
)

// forceRules is the wiki page's policy: backports in backport windows, the
// train for its own deployers, nothing in puppet windows.
var forceRules = Rules{
	Kinds: map[string]KindRule{
		"backport": {Allow: []Action{Deploy, Revert}},
		"train":    {Allow: []Action{Deploy, Revert}, DeployersOnly: true},
		"puppet":   {Allow: []Action{}},
	},
	AskClaimer: true, MinDeployTime: 10 * time.Minute,
}

// Each row of the --force table in the README's policy section: what the
// deploy meets, and the answer without and with --force (and a reason).
// "ok" goes ahead, "ask" waits for an approval, anything else is the
// start of the refusal.
func TestForceTable(t *testing.T) {
	now := time.Date(2026, 11, 25, 18, 30, 0, 0, time.UTC)
	win := func(name, kind string, deployers ...string) Window {
		return Window{ID: name, Name: name, Kind: kind, Start: now.Add(-30 * time.Minute), End: now.Add(time.Hour), Deployers: deployers}
	}
	next := func(in time.Duration) []Window {
		return []Window{{Name: "late backport window", Kind: "backport", Start: now.Add(in), End: now.Add(in + time.Hour), Deployers: []string{"Jeena"}}}
	}
	amir := Person{Name: "Amir", Roles: []string{"deployer"}}
	claimed := win("backport window", "backport", "Lucas")
	claimed.ClaimedBy = "Lucas"
	rows := []struct {
		row           string
		in            Input
		without, with string
	}{
		{"outside any window", Input{Upcoming: next(2 * time.Hour)}, "Deploying now: outside any window; needs --force", "ok"},
		{"in a freeze", Input{Active: []Window{win("backport window", "backport")}, Frozen: "incident until 2026-11-26 00:00 UTC", Upcoming: next(2 * time.Hour)},
			"Deploys are frozen: incident", "ok"},
		{"another deployer's claimed window", Input{Active: []Window{claimed}, Upcoming: next(2 * time.Hour)}, "ask", "ok"},
		{"the next calendar cannot be checked", Input{Active: []Window{win("backport window", "backport")}, Unchecked: "the wiki's Deployments page has not been read yet"},
			"Deploying now: in the backport window; the next window cannot be checked", "ok"},
		{"a deployers-only window of others", Input{Active: []Window{win("MediaWiki train", "train", "Jeena")}, Upcoming: next(2 * time.Hour)},
			"Not now, not even with --force: the MediaWiki train is for its deployers (Jeena) only", "Not now, not even with --force: the MediaWiki train is for its deployers (Jeena) only"},
		{"a window whose kind allows no deploys", Input{Active: []Window{win("Puppet request window", "puppet", "Urbanecm")}, Upcoming: next(2 * time.Hour)},
			"Not now, not even with --force: the Puppet request window allows no deploys", "Not now, not even with --force: the Puppet request window allows no deploys"},
		{"the next window too close, outside", Input{Upcoming: next(5 * time.Minute)}, "Not now: the next window", "Not now: the next window"},
		{"the next window too close, inside a window", Input{Active: []Window{win("backport window", "backport")}, Upcoming: next(5 * time.Minute)},
			"Not now: the next window", "Not now: the next window"},
		{"time rule approvals", Input{Active: []Window{win("backport window", "backport")}, Upcoming: next(2 * time.Hour), Now: time.Date(2026, 11, 27, 18, 30, 0, 0, time.UTC)}, "ask", "ask"},
	}
	rules := forceRules
	rules.Times = []TimeRule{{Name: "Fridays", Days: []time.Weekday{time.Friday}, To: 24 * 60, Location: time.UTC, Roles: []string{"sre"}}}
	for _, tt := range rows {
		t.Run(tt.row, func(t *testing.T) {
			in := tt.in
			in.Action, in.By = Deploy, amir
			if in.Now.IsZero() {
				in.Now = now
			}
			d := rules.Evaluate(in)
			for _, c := range []struct {
				force bool
				want  string
			}{{false, tt.without}, {true, tt.with}} {
				got := d.Refusal(c.force, "urgent fix", "deploy --force 445113 <reason>")
				switch {
				case got == "" && len(d.Required(c.force)) > 0:
					got = "ask"
				case got == "":
					got = "ok"
				}
				if !strings.HasPrefix(got, c.want) {
					t.Errorf("force %v: got %q, want %q…", c.force, got, c.want)
				}
			}
			// --force without a reason is never enough.
			if got := d.Refusal(true, " ", "deploy --force 445113 <reason>"); !strings.HasPrefix(got, "--force needs a reason") {
				t.Errorf("--force without a reason: %q", got)
			}
		})
	}
}
