package deploycal_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/calendar/deploycal"
	"github.com/jouncebot/jouncebot/wiki"
	"github.com/jouncebot/jouncebot/wiki/wikitest"
)

var update = flag.Bool("update", false, "rewrite testdata/deployments.html from the real wiki")

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// testCards are authored in San Francisco time like the real page: the
// same 06:00 window starts at 14:00 UTC in winter (UTC-8) and 13:00 UTC in
// summer (UTC-7), also right around the changeover.
var testCards = []deploycal.Card{{
	When:       utc("2024-01-09T14:00:00Z"),
	Window:     "[[Backport windows|UTC late backport window]]",
	MaxPatches: 6,
	Deployers:  []deploycal.Nick{{"RoanKattouw", "Roan"}, {"Lucas_WMDE", "Lucas"}},
	Requests: []deploycal.Request{
		{Owner: deploycal.Nick{"alice", "Alice"}, Changes: []deploycal.Link{
			{"https://gerrit.wikimedia.org/r/c/mediawiki/core/+/123456", "Fix the login form (T1234)"},
			{"https://gerrit.wikimedia.org/r/c/operations/mediawiki-config/+/123457/2", "Config for T1234"},
		}},
		{Owner: deploycal.Nick{"bob_b", ""}, Changes: []deploycal.Link{
			{"https://gerrit.wikimedia.org/r/654321", "Old-style link"},
		}},
	},
}, {
	When:        utc("2024-01-09T21:00:00Z"),
	Hours:       2,
	ID:          "deploycal-item-train_blockers",
	Window:      "MediaWiki train - Utc-7 Version",
	Deployers:   []deploycal.Nick{{"dancy", "Ahmon"}},
	Placeholder: true,
}, {
	// The Friday before and the Monday after DST begins (2024-03-10).
	When: utc("2024-03-08T14:00:00Z"), Window: "Puppet request window", Deployers: []deploycal.Nick{{"jbond", ""}},
}, {
	When: utc("2024-03-11T13:00:00Z"), Window: "Puppet request window", Deployers: []deploycal.Nick{{"jbond", ""}},
}, {
	When:       utc("2024-07-09T13:00:00Z"),
	Window:     "[[Backport windows|UTC late backport window]]",
	MaxPatches: 4,
	Deployers:  []deploycal.Nick{{"TheresNoTime", "Sammy"}},
	Requests: []deploycal.Request{
		{Owner: deploycal.Nick{"carol", "Carol"}, Changes: []deploycal.Link{
			{"https://gerrit.wikimedia.org/r/#/c/777777/", "Very old UI link"},
		}},
	},
}}

var wantEvents = []deploycal.Event{{
	ID:         "deploycal-item-20240109T1400",
	Start:      utc("2024-01-09T14:00:00Z"),
	End:        utc("2024-01-09T15:00:00Z"),
	Window:     "UTC late backport window",
	MaxPatches: 6,
	Deployers:  []string{"RoanKattouw", "Lucas_WMDE"},
	Owners:     []string{"alice", "bob_b"},
	Changes: []deploycal.Change{
		{123456, "https://gerrit.wikimedia.org/r/c/mediawiki/core/+/123456", "Fix the login form (T1234)", "alice"},
		{123457, "https://gerrit.wikimedia.org/r/c/operations/mediawiki-config/+/123457/2", "Config for T1234", "alice"},
		{654321, "https://gerrit.wikimedia.org/r/654321", "Old-style link", "bob_b"},
	},
}, {
	ID:        "deploycal-item-train_blockers",
	Start:     utc("2024-01-09T21:00:00Z"),
	End:       utc("2024-01-09T23:00:00Z"),
	Window:    "MediaWiki train - Utc-7 Version",
	Deployers: []string{"dancy"},
}, {
	ID: "deploycal-item-20240308T1400", Start: utc("2024-03-08T14:00:00Z"), End: utc("2024-03-08T15:00:00Z"),
	Window: "Puppet request window", Deployers: []string{"jbond"},
}, {
	ID: "deploycal-item-20240311T1300", Start: utc("2024-03-11T13:00:00Z"), End: utc("2024-03-11T14:00:00Z"),
	Window: "Puppet request window", Deployers: []string{"jbond"},
}, {
	ID:         "deploycal-item-20240709T1300",
	Start:      utc("2024-07-09T13:00:00Z"),
	End:        utc("2024-07-09T14:00:00Z"),
	Window:     "UTC late backport window",
	MaxPatches: 4,
	Deployers:  []string{"TheresNoTime"},
	Owners:     []string{"carol"},
	Changes:    []deploycal.Change{{777777, "https://gerrit.wikimedia.org/r/#/c/777777/", "Very old UI link", "carol"}},
}}

// calendarWiki starts a wiki holding the templates and a Deployments page.
func calendarWiki(t *testing.T) *wikitest.Wiki {
	w := wikitest.Start(t)
	w.EditPage(t, deploycal.IrcnickTemplatePage, deploycal.IrcnickTemplate)
	w.EditPage(t, deploycal.TemplatePage, deploycal.Template)
	w.EditPage(t, "Deployments", deploycal.PageWikitext(testCards))
	return w
}

func TestFetchFromRealWiki(t *testing.T) {
	t.Parallel()
	w := calendarWiki(t)
	c := w.Client(t)
	ctx := t.Context()

	start := time.Now()
	events, warnings, err := deploycal.Fetch(ctx, c, "Deployments")
	t.Logf("Fetch (action=parse + HTML parse) took %v", time.Since(start))
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if len(warnings) > 0 {
		t.Errorf("warnings: %v", warnings)
	}
	if diff := cmp.Diff(wantEvents, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if *update {
		html, _, err := c.Parse(ctx, "Deployments")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", "deployments.html"), []byte(html), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Someone adds a patch to the July window; a new fetch sees it.
	cards := append([]deploycal.Card(nil), testCards...)
	cards[4].Requests = append(cards[4].Requests, deploycal.Request{
		Owner:   deploycal.Nick{"dave", "Dave"},
		Changes: []deploycal.Link{{"https://gerrit.wikimedia.org/r/c/mediawiki/extensions/Echo/+/888888", "Echo fix"}},
	})
	start = time.Now()
	if _, err := c.Edit(ctx, "Deployments", func(string) string { return deploycal.PageWikitext(cards) }, "add a patch"); err != nil {
		t.Fatal(err)
	}
	t.Logf("Edit took %v", time.Since(start))
	events, _, err = deploycal.Fetch(ctx, c, "Deployments")
	if err != nil {
		t.Fatal(err)
	}
	want := wantEvents[4]
	want.Owners = []string{"carol", "dave"}
	want.Changes = append(want.Changes[:1:1], deploycal.Change{888888, "https://gerrit.wikimedia.org/r/c/mediawiki/extensions/Echo/+/888888", "Echo fix", "dave"})
	if diff := cmp.Diff(want, events[4]); diff != "" {
		t.Errorf("July window after the edit (-want +got):\n%s", diff)
	}
}

func TestFetchErrors(t *testing.T) {
	t.Parallel()
	w := calendarWiki(t)
	w.EditPage(t, "Moved", "The calendar moved to [[Deployments/Calendar]].")
	c := w.Client(t, wiki.Options{Retries: 1, RetryDelay: time.Millisecond})
	ctx := t.Context()

	_, _, err := deploycal.Fetch(ctx, c, "Moved")
	if !errors.Is(err, deploycal.ErrNoEvents) || !strings.Contains(err.Error(), `"Moved"`) {
		t.Errorf("Fetch of a page without a calendar: err = %v, want ErrNoEvents naming the page", err)
	}
	_, _, err = deploycal.Fetch(ctx, c, "No such page")
	if !errors.Is(err, wiki.ErrMissingPage) {
		t.Errorf("Fetch of a missing page: err = %v, want ErrMissingPage", err)
	}
	w.Stop()
	_, _, err = deploycal.Fetch(ctx, c, "Deployments")
	if !errors.Is(err, wiki.ErrUnavailable) {
		t.Errorf("Fetch with the wiki down: err = %v, want ErrUnavailable", err)
	}
	t.Logf("wiki down: %v", err)
}

func BenchmarkFetchRealWiki(b *testing.B) {
	w := wikitest.Start(b)
	w.EditPage(b, deploycal.IrcnickTemplatePage, deploycal.IrcnickTemplate)
	w.EditPage(b, deploycal.TemplatePage, deploycal.Template)
	w.EditPage(b, "Deployments", deploycal.PageWikitext(testCards))
	c := w.Client(b)
	ctx := context.Background()
	for b.Loop() {
		if _, _, err := deploycal.Fetch(ctx, c, "Deployments"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEditRealWiki(b *testing.B) {
	w := wikitest.Start(b)
	c := w.Client(b)
	ctx := context.Background()
	e := wiki.SALEntry{Time: time.Now(), Nick: "bench", Message: "benchmark entry"}
	for b.Loop() {
		if _, err := c.Edit(ctx, "Log", func(old string) string { return wiki.AddSALEntry(old, e) }, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
