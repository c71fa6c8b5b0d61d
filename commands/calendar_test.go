package commands

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/store"
)

const windowsYAML = `
networks:
  - {name: libera, type: irc, server: "irc.example.org:6697", channels: [{name: "#ops"}]}
people:
  - {name: Amir, irc_account: amir, roles: [deployer]}
  - {name: Lucas, irc_account: lucas, roles: [deployer]}
  - {name: Kosta, irc_account: kharlan, roles: [owner]}
windows:
  - name: UTC afternoon backport window
    kind: backport
    schedule: "0 14 * * *"
    duration: 1h
    max_patches: 6
    deployers: [Amir, Lucas]
`

var windowsNow = time.Date(2026, 11, 25, 14, 10, 0, 0, time.UTC)

// windowDispatcher is a dispatcher with the calendar commands over a bbolt
// file at path.
func windowDispatcher(t *testing.T, path string) (*Dispatcher, *store.DB) {
	t.Helper()
	cfg, err := config.Parse([]byte(windowsYAML), "test.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return windowsNow }
	svc := calendar.NewService(calendar.ServiceOptions{Config: cfg, Book: calendar.NewBook(db), Now: now})
	d := NewDispatcher(Options{Config: cfg, Log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	d.Register(CalendarCommands(CalendarOptions{Source: svc, Now: now, Notes: Notes(svc), Banner: FreezeBanner(svc)})...)
	d.Register(WindowCommands(WindowOptions{Schedule: svc, Now: now,
		ChangeURL: func(n int) string { return fmt.Sprintf("https://gerrit.wikimedia.org/r/c/%d", n) }})...)
	for _, tr := range ClaimTriggers {
		d.AddTrigger(tr)
	}
	return d, db
}

func one(t *testing.T, got []string) string {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("got %d replies %q; want 1", len(got), got)
	}
	return got[0]
}

func TestMaxPatchesEnforcedWithNextWindowSuggested(t *testing.T) {
	d, db := windowDispatcher(t, filepath.Join(t.TempDir(), "j.db"))
	defer db.Close()
	for i := 1; i <= 6; i++ {
		got := one(t, ask(t, d, "kosta", "kharlan", fmt.Sprintf("jouncebot: add %d", 445110+i)))
		want := fmt.Sprintf("Queued change %d for UTC afternoon backport window (14:00–15:00 UTC); %d of 6 patches queued.", 445110+i, i)
		if got != want {
			t.Fatalf("add %d: %q\nwant %q", i, got, want)
		}
	}
	got := one(t, ask(t, d, "kosta", "kharlan", "jouncebot: add 445117"))
	want := `UTC afternoon backport window is full (6 of 6 patches). The next backport window with room is UTC afternoon backport window (Thu 26 Nov 14:00–15:00 UTC); say "add 445117 to 20261126T1400".`
	if got != want {
		t.Errorf("seventh add: %q\nwant %q", got, want)
	}
	got = one(t, ask(t, d, "kosta", "kharlan", "jouncebot: add 445117 to 20261126T1400"))
	if !strings.HasPrefix(got, "Queued change 445117 for UTC afternoon backport window (Thu 26 Nov 14:00–15:00 UTC); 1 of 6") {
		t.Errorf("add to the suggested window: %q", got)
	}
	if got := one(t, ask(t, d, "kosta", "kharlan", "jouncebot: add 445111")); !strings.Contains(got, "already queued") {
		t.Errorf("duplicate add: %q", got)
	}
	if got := one(t, ask(t, d, "kosta", "kharlan", "jouncebot: add I2c3b4")); got != `"I2c3b4" is not a change number or a Gerrit change URL.` {
		t.Errorf("garbage change: %q", got)
	}
}

func TestClaimByPhraseAndRelease(t *testing.T) {
	d, db := windowDispatcher(t, filepath.Join(t.TempDir(), "j.db"))
	defer db.Close()
	// Someone using a deployer's nick without the account: no claim, and
	// one explanation.
	if got := ask(t, d, "amir", "", "I can deploy today"); len(got) != 1 || !strings.Contains(got[0], "needs you to be identified") {
		t.Errorf("unidentified phrase answered %q; want an explanation", got)
	}
	got := one(t, ask(t, d, "amir", "amir", "I can do the deploys today!"))
	if got != `Noted: Amir is deploying UTC afternoon backport window (14:00–15:00 UTC). Say "release" when you are done.` {
		t.Errorf("claim: %q", got)
	}
	if got := one(t, ask(t, d, "lucas", "lucas", "jouncebot: claim")); !strings.HasPrefix(got, "Amir already claimed UTC afternoon backport window at 14:10 UTC") {
		t.Errorf("second claim: %q", got)
	}
	if got := one(t, ask(t, d, "x", "", "jouncebot: now")); !strings.Contains(got, "claimed by Amir") {
		t.Errorf("now does not show the claim: %q", got)
	}
	got = one(t, ask(t, d, "amir", "amir", "!log amir@deploy1002 backport deploys done"))
	if got != "Amir released UTC afternoon backport window; the rest of the window is free." {
		t.Errorf("release by !log: %q", got)
	}
	if got := one(t, ask(t, d, "x", "", "jouncebot: now")); strings.Contains(got, "claimed") {
		t.Errorf("claim still shown after release: %q", got)
	}
}

// TestAddRefusesOtherGerrit: a link to another Gerrit host names a change
// there, not ours; it is refused naming the configured host.
func TestAddRefusesOtherGerrit(t *testing.T) {
	d, _ := windowDispatcher(t, filepath.Join(t.TempDir(), "j.db"))
	got := one(t, ask(t, d, "kosta", "kharlan", "jouncebot: add https://gerrit.evil.example/r/c/operations/mediawiki-config/+/445113"))
	want := "https://gerrit.evil.example/r/c/operations/mediawiki-config/+/445113 links to gerrit.evil.example, but I deploy only from the Gerrit at gerrit.wikimedia.org; give the change number or a link to gerrit.wikimedia.org."
	if !strings.Contains(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := one(t, ask(t, d, "kosta", "kharlan", "jouncebot: add https://gerrit.wikimedia.org/r/c/operations/mediawiki-config/+/445113")); !strings.Contains(got, "445113") || strings.Contains(got, "evil") {
		t.Errorf("a link to our Gerrit: %q", got)
	}
}

// What the bot was told is in bbolt before it answers: a new process on
// the same file sees it.
func TestWindowStateSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	d, db := windowDispatcher(t, path)
	one(t, ask(t, d, "amir", "amir", `jouncebot: window add "Extra window" 2026-11-25T18:00Z 1h`))
	one(t, ask(t, d, "kosta", "kharlan", "jouncebot: add 445113 to extra"))
	one(t, ask(t, d, "amir", "amir", "jouncebot: claim"))
	one(t, ask(t, d, "amir", "amir", "jouncebot: freeze 2026-11-25T16:00Z 2026-11-26 incident"))
	db.Close()

	d, db = windowDispatcher(t, path)
	defer db.Close()
	got := one(t, ask(t, d, "x", "", "jouncebot: windows"))
	for _, want := range []string{"Wed 25 Nov 18:00–19:00 — Extra window (id w1; backport; deployers: Amir; 1 queued)", "UTC afternoon backport window (id 20261125T1400; backport; deployers: Amir and Lucas; claimed by Amir; 0/6 queued)"} {
		if !strings.Contains(got, want) {
			t.Errorf("windows after restart lacks %q:\n%s", want, got)
		}
	}
	if got := one(t, ask(t, d, "x", "", "jouncebot: freezes")); !strings.Contains(got, "[1] Wed 25 Nov 16:00 – Thu 26 Nov 00:00 UTC: incident") {
		t.Errorf("freezes after restart: %q", got)
	}
	if got := one(t, ask(t, d, "lucas", "lucas", "jouncebot: window cancel w1 no time")); !strings.Contains(got, "Kosta: your patch 445113 moved to UTC afternoon backport window (Thu 26 Nov") {
		t.Errorf("cancel does not move the queue: %q", got)
	}
}

func TestOwnersRemoveOnlyTheirOwnPatches(t *testing.T) {
	d, db := windowDispatcher(t, filepath.Join(t.TempDir(), "j.db"))
	defer db.Close()
	one(t, ask(t, d, "amir", "amir", "jouncebot: add 1"))
	if got := one(t, ask(t, d, "kosta", "kharlan", "jouncebot: remove 1")); got != "Change 1 was queued by Amir; only they or a deployer can remove it." {
		t.Errorf("owner removing another's patch: %q", got)
	}
	if got := one(t, ask(t, d, "lucas", "lucas", "jouncebot: remove 1")); got != "Removed change 1 from UTC afternoon backport window." {
		t.Errorf("deployer removing: %q", got)
	}
	if got := one(t, ask(t, d, "lucas", "lucas", "jouncebot: remove 1")); got != "Change 1 is not queued for any window." {
		t.Errorf("removing twice: %q", got)
	}
}

func TestParseChange(t *testing.T) {
	for in, want := range map[string]int{
		"445113":                                445113,
		"https://gerrit.wikimedia.org/r/445113": 445113,
		"https://gerrit.wikimedia.org/r/c/operations/mediawiki-config/+/445113":   445113,
		"https://gerrit.wikimedia.org/r/c/operations/mediawiki-config/+/445113/3": 445113,
		"https://gerrit.wikimedia.org/r/c/mediawiki/core/+/445113/":               445113,
	} {
		if got, err := ParseChange(in); err != nil || got != want {
			t.Errorf("ParseChange(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "abc", "I0123456789abcdef", "-5", "https://example.org/x"} {
		if _, err := ParseChange(bad); err == nil {
			t.Errorf("ParseChange(%q) succeeded", bad)
		}
	}
}
