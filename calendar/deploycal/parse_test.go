package deploycal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseFixtures(t *testing.T) {
	ids := func(events []Event) []string {
		var out []string
		for _, e := range events {
			out = append(out, e.ID)
		}
		return out
	}
	tests := []struct {
		file     string
		want     []Event // nil: only check the ids in wantIDs
		wantIDs  []string
		warnings []Warning
		err      string
	}{{
		file: "deployments.html", // recorded from the real MediaWiki (go test -run TestFetchFromRealWiki -update)
		wantIDs: []string{"deploycal-item-20240109T1400", "deploycal-item-train_blockers",
			"deploycal-item-20240308T1400", "deploycal-item-20240311T1300", "deploycal-item-20240709T1300"},
	}, {
		file: "missing-attributes.html",
		want: []Event{{ID: "deploycal-item-20240109T2000", Start: at("2024-01-09T20:00:00Z"), End: at("2024-01-09T21:00:00Z"),
			Window: "Good window", Deployers: []string{"bob"}}},
		warnings: []Warning{
			{"the 1st deploycal-item", []string{"it has no id attribute"}},
			{`event "deploycal-item-20240109T1600"`, []string{"it has no data-utcend attribute"}},
			{`event "deploycal-item-20240109T1700"`, []string{"it has no window name (.deploycal-item-window)"}},
			{`event "deploycal-item-20240109T1800"`, []string{"it has no data-utcstart attribute", "it has no window name (.deploycal-item-window)"}},
		},
	}, {
		file: "bad-times.html",
		want: []Event{{ID: "deploycal-item-offset", Start: at("2024-01-09T14:00:00Z"), End: at("2024-01-09T15:00:00Z"),
			Window: "Offset and short forms", MaxPatches: 3}},
		warnings: []Warning{
			{`event "deploycal-item-words"`, []string{`its data-utcstart "tomorrow at noon" is not an ISO 8601 time like 2024-05-01T13:00:00+00:00`}},
			{`event "deploycal-item-impossible"`, []string{`its data-utcstart "2024-13-45T99:00:00+00:00" is not an ISO 8601 time like 2024-05-01T13:00:00+00:00`}},
			{`event "deploycal-item-backwards"`, []string{"it ends at 2024-01-09T14:00:00Z, which is not after its start at 2024-01-09T15:00:00Z"}},
			{`event "deploycal-item-empty"`, []string{"it ends at 2024-01-09T15:00:00Z, which is not after its start at 2024-01-09T15:00:00Z"}},
			{`event "deploycal-item-error"`, []string{`its data-utcstart "<strong class=\"error\">Error: Invalid time.</strong>" is not an ISO 8601 time like 2024-05-01T13:00:00+00:00`}},
		},
	}, {
		file: "garbage.html",
		want: []Event{{ID: "deploycal-item-in_table", Start: at("2024-01-10T14:00:00Z"), End: at("2024-01-10T15:00:00Z"),
			Window: "Morning & backport", MaxPatches: 6, Deployers: []string{"zed"}}},
		warnings: []Warning{{`event "deploycal-item-unterminated data-utcstart="`, []string{
			"it has no data-utcstart attribute", "it has no data-utcend attribute", "it has no window name (.deploycal-item-window)"}}},
	}, {
		file: "duplicates-and-nesting.html",
		want: []Event{{
			ID: "deploycal-item-one", Start: at("2024-01-09T14:00:00Z"), End: at("2024-01-09T15:00:00Z"), Window: "First",
			Deployers: []string{"alice"},
			Owners:    []string{"carol"},
			Changes: []Change{
				{Number: 1111, URL: "https://gerrit.wikimedia.org/r/c/x/+/1111", Title: "orphan"},
				{Number: 2222, URL: "https://gerrit.wikimedia.org/r/c/x/+/2222", Title: "c1", Owner: "carol"},
			},
		}, {
			ID: "deploycal-item-nested", Start: at("2024-01-09T14:30:00Z"), End: at("2024-01-09T14:45:00Z"), Window: "Nested",
			Deployers: []string{"dan"},
		},
			{ID: "deploycal-item-row", Start: at("2024-01-11T14:00:00Z"), End: at("2024-01-11T15:00:00Z"), Window: "Row form", MaxPatches: 2},
		},
		warnings: []Warning{{`event "deploycal-item-one"`, []string{"another event before it has the same id"}}},
	}, {
		file:     "all-broken.html",
		err:      "none of the 2 deploycal-item entries on the page could be read",
		warnings: []Warning{{`event "a"`, []string{"it has no data-utcstart attribute", "it has no data-utcend attribute"}}, {`event "b"`, nil}},
	}, {
		file:     "binary.html",
		err:      "none of the 1 deploycal-item entries on the page could be read",
		warnings: []Warning{{"event \"bin\uFFFDary\"", nil}},
	}, {
		file: "moved.html",
		err:  "the page has no deploycal-item entries; was it moved?",
	}, {
		file: "empty.html",
		err:  "the page has no deploycal-item entries; was it moved?",
	}}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			events, warnings, err := Parse(f)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("Parse error = %v, want %q", err, tt.err)
			case strings.Contains(tt.err, "no deploycal-item") && !errors.Is(err, ErrNoEvents):
				t.Errorf("error %v is not ErrNoEvents", err)
			}
			if tt.want != nil {
				if diff := cmp.Diff(tt.want, events, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			}
			if tt.wantIDs != nil {
				if diff := cmp.Diff(tt.wantIDs, ids(events)); diff != "" {
					t.Errorf("event ids (-want +got):\n%s", diff)
				}
			}
			// A nil Problems list in the table only checks the event name.
			for i := range min(len(tt.warnings), len(warnings)) {
				if tt.warnings[i].Problems == nil {
					warnings[i].Problems = nil
				}
			}
			if diff := cmp.Diff(tt.warnings, warnings, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGerritChange(t *testing.T) {
	tests := []struct {
		href string
		want int
	}{
		{"https://gerrit.wikimedia.org/r/c/mediawiki/core/+/123456", 123456},
		{"https://gerrit.wikimedia.org/r/c/mediawiki/core/+/123456/3", 123456},
		{"https://gerrit.wikimedia.org/r/c/operations/mediawiki-config/+/123456/", 123456},
		{"https://gerrit.wikimedia.org/r/123456", 123456},
		{"https://gerrit.wikimedia.org/r/c/123456", 123456},
		{"https://gerrit.wikimedia.org/r/#/c/123456/", 123456},
		{"https://gerrit.wikimedia.org/r/#/c/mediawiki/core/+/123456/2", 123456},
		{"https://gerrit.example.org/c/project/+/42", 42},
		{"https://gerrit.wikimedia.org/r/", 0},
		{"https://gerrit.wikimedia.org/r/q/owner:alice", 0},
		{"https://gerrit.wikimedia.org/r/c/mediawiki/core/+/abc", 0},
		{"https://example.org/c/project/+/42", 0},
		{"https://phabricator.wikimedia.org/T123", 0},
		{"/r/123", 0},
		{"javascript:alert(1)", 0},
		{"https://gerrit.wikimedia.org/r/0", 0},
	}
	for _, tt := range tests {
		got, ok := GerritChange(tt.href)
		if got != tt.want || ok != (tt.want != 0) {
			t.Errorf("GerritChange(%q) = %d, %v; want %d", tt.href, got, ok, tt.want)
		}
	}
}

func TestParseNeverPanics(t *testing.T) {
	// Truncations of a real page at every few bytes must parse or fail cleanly.
	b, err := os.ReadFile(filepath.Join("testdata", "deployments.html"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(b); i += 97 {
		Parse(strings.NewReader(string(b[:i])))
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.html"))
	for _, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, page string) {
		events, _, err := Parse(strings.NewReader(page))
		if err == nil && len(events) == 0 {
			t.Error("no error and no events")
		}
		for _, e := range events {
			if e.ID == "" || e.Window == "" || !e.End.After(e.Start) {
				t.Errorf("invalid event accepted: %+v", e)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	page, err := os.ReadFile(filepath.Join("testdata", "deployments.html"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		if _, _, err := Parse(strings.NewReader(string(page))); err != nil {
			b.Fatal(err)
		}
	}
}

func TestKind(t *testing.T) {
	for name, want := range map[string]string{
		"UTC late backport window":        "backport",
		"MediaWiki train - Utc-7 Version": "train",
		"Puppet request window":           "puppet",
		"Wikidata Query Service weekly":   "other",
	} {
		if got := (Event{Window: name}).Kind(); got != want {
			t.Errorf("Kind of %q = %q, want %q", name, got, want)
		}
	}
}

func TestLink(t *testing.T) {
	got := Event{ID: "deploycal-item-20240109T1400"}.Link("https://wikitech.wikimedia.org/wiki/Deployments")
	if want := "https://wikitech.wikimedia.org/wiki/Deployments#deploycal-item-20240109T1400"; got != want {
		t.Errorf("Link = %q, want %q", got, want)
	}
}
