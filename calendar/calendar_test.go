package calendar

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/config"
)

var update = flag.Bool("update", false, "rewrite golden files")

func exampleConfig(t testing.TB) *config.Config {
	t.Helper()
	data, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Demo(data, "config.example.yaml", t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func rule(t testing.TB, name, schedule, tz string, d time.Duration) config.Window {
	t.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf("windows:\n  - name: %s\n    schedule: %q\n    timezone: %s\n    duration: %s\n", name, schedule, tz, d)), "test.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Windows[0]
}

func starts(ws []Window) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Start.Format("Mon 2006-01-02 15:04Z"))
	}
	return out
}

// A window authored at 06:00 in San Francisco moves in UTC with daylight
// saving time, and is right on the changeover days themselves.
func TestExpandAcrossDST(t *testing.T) {
	r := rule(t, "UTC afternoon backport window", "0 6 * * *", "America/Los_Angeles", time.Hour)
	tests := []struct {
		name     string
		from, to string
		want     []string
	}{
		{"January", "2026-01-14T00:00:00Z", "2026-01-15T00:00:00Z", []string{"Wed 2026-01-14 14:00Z"}},
		{"July", "2026-07-15T00:00:00Z", "2026-07-16T00:00:00Z", []string{"Wed 2026-07-15 13:00Z"}},
		// Clocks go forward at 02:00 local on Sunday 8 March 2026.
		{"March change", "2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z", []string{"Sat 2026-03-07 14:00Z", "Sun 2026-03-08 13:00Z", "Mon 2026-03-09 13:00Z"}},
		// Clocks go back at 02:00 local on Sunday 1 November 2026.
		{"November change", "2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z", []string{"Sat 2026-10-31 13:00Z", "Sun 2026-11-01 14:00Z", "Mon 2026-11-02 14:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := starts(Expand([]config.Window{r}, mustTime(t, tt.from), mustTime(t, tt.to)))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("starts mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// A window whose local time does not exist on the spring-forward day (02:30)
// and one that happens twice on the fall-back day (01:30) each occur once.
func TestExpandAmbiguousLocalTimes(t *testing.T) {
	gap := rule(t, "gap", "30 2 * * *", "America/Los_Angeles", time.Hour)
	got := Expand([]config.Window{gap}, mustTime(t, "2026-03-08T00:00:00Z"), mustTime(t, "2026-03-09T00:00:00Z"))
	if len(got) > 1 {
		t.Errorf("02:30 on the spring-forward day occurs %d times: %v", len(got), starts(got))
	}
	twice := rule(t, "twice", "30 1 * * *", "America/Los_Angeles", time.Hour)
	got = Expand([]config.Window{twice}, mustTime(t, "2026-11-01T00:00:00Z"), mustTime(t, "2026-11-02T00:00:00Z"))
	if len(got) != 1 {
		t.Errorf("01:30 on the fall-back day occurs %d times: %v; want once", len(got), starts(got))
	}
}

func TestActiveListsOverlappingWindows(t *testing.T) {
	long := rule(t, "Train", "0 7 * * *", "UTC", 2*time.Hour)
	short := rule(t, "Puppet", "0 8 * * *", "UTC", time.Hour)
	cal := New(Expand([]config.Window{long, short}, mustTime(t, "2026-11-25T00:00:00Z"), mustTime(t, "2026-11-27T00:00:00Z")))
	tests := []struct {
		at   string
		want []string
	}{
		{"2026-11-25T06:59:59Z", nil},
		{"2026-11-25T07:00:00Z", []string{"Train"}},
		{"2026-11-25T08:30:00Z", []string{"Train", "Puppet"}},
		{"2026-11-25T09:00:00Z", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, w := range cal.Active(mustTime(t, tt.at)) {
			got = append(got, w.Name)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Active(%s) mismatch (-want +got):\n%s", tt.at, diff)
		}
	}
	// A window that started before from and is still open is included.
	open := Expand([]config.Window{long}, mustTime(t, "2026-11-25T08:00:00Z"), mustTime(t, "2026-11-25T08:01:00Z"))
	if len(open) != 1 {
		t.Errorf("Expand from mid-window found %d windows; want the open one", len(open))
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second:             "less than a minute",
		time.Minute:                  "1 minute",
		42 * time.Minute:             "42 minutes",
		time.Hour:                    "1 hour",
		2*time.Hour + 14*time.Minute: "2 hours and 14 minutes",
		25 * time.Hour:               "1 day and 1 hour",
		72 * time.Hour:               "3 days",
	} {
		if got := HumanDuration(d); got != want {
			t.Errorf("HumanDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

// The replies to now, next and nowandnext over the example calendar, at
// moments users care about, compared with golden files.
func TestRepliesGolden(t *testing.T) {
	cfg := exampleConfig(t)
	moments := []struct{ name, at string }{
		{"inside the afternoon window (winter)", "2026-11-25T14:20:00Z"},
		{"inside the afternoon window (summer)", "2026-07-15T13:05:00Z"},
		{"between windows", "2026-11-25T17:00:00Z"},
		{"train and puppet windows overlap", "2026-11-25T16:30:00Z"},
		{"friday: next is monday", "2026-11-27T12:00:00Z"},
	}
	var b strings.Builder
	for _, m := range moments {
		now := mustTime(t, m.at)
		cal := New(Expand(cfg.Windows, now.Add(-7*24*time.Hour), now.Add(8*7*24*time.Hour)))
		fmt.Fprintf(&b, "== %s (%s)\n-- now\n%s\n-- next\n%s\n-- nowandnext\n%s\n\n", m.name, m.at,
			FormatNow(cal, now, nil), FormatNext(cal, now, nil), FormatNowAndNext(cal, now, nil))
	}
	golden(t, "replies.golden", b.String())
}

func TestEmptyCalendarReplies(t *testing.T) {
	now := mustTime(t, "2026-11-25T14:20:00Z")
	got := FormatNowAndNext(New(nil), now, nil).String()
	want := "No deployments scheduled for the foreseeable future.\nNo deployments scheduled for the foreseeable future."
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// BenchmarkNowAndNext answers nowandnext over a calendar of 10,000 windows.
func BenchmarkNowAndNext(b *testing.B) {
	var ws []Window
	start := mustTime(b, "2026-01-01T00:00:00Z")
	for i := range 10000 {
		s := start.Add(time.Duration(i) * 90 * time.Minute)
		ws = append(ws, Window{ID: fmt.Sprint(i), Name: fmt.Sprintf("Window %d", i), Kind: "backport", Start: s, End: s.Add(time.Hour), MaxPatches: 6, Deployers: []string{"Amir", "Lucas"}})
	}
	cal := New(ws)
	now := start.Add(5000*90*time.Minute + 30*time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if out := FormatNowAndNext(cal, now, nil); len(out) == 0 {
			b.Fatal("empty answer")
		}
	}
}
