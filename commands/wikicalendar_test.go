package commands

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/calendar/deploycal"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/store"
	"github.com/jouncebot/jouncebot/wiki/wikitest"
)

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs; got:\n%s", path, got)
	}
}

// People ask about windows of a real wiki's Deployments page months ahead:
// by the wiki's ids as they type them, by date, weekday and week, and see
// the wiki's patches in the queues, with the patch beyond a window's limit
// and where it waits.
func TestWikiWindowsByIDAndDate(t *testing.T) {
	w := wikitest.Start(t)
	w.EditPage(t, deploycal.IrcnickTemplatePage, deploycal.IrcnickTemplate)
	w.EditPage(t, deploycal.TemplatePage, deploycal.Template)
	sf, _ := time.LoadLocation("America/Los_Angeles")
	link := func(n int) deploycal.Link {
		return deploycal.Link{URL: fmt.Sprintf("https://gerrit.wikimedia.org/r/c/mediawiki/core/+/%d", n), Title: fmt.Sprintf("Fix %d", n)}
	}
	req := func(nick string, ns ...int) deploycal.Request {
		r := deploycal.Request{Owner: deploycal.Nick{Nick: nick}}
		for _, n := range ns {
			r.Changes = append(r.Changes, link(n))
		}
		return r
	}
	lucas := []deploycal.Nick{{Nick: "Lucas_WMDE"}}
	w.EditPage(t, "Deployments", deploycal.PageWikitext([]deploycal.Card{
		{When: time.Date(2027, 3, 8, 6, 0, 0, 0, sf), Window: "UTC afternoon backport window", MaxPatches: 6, Deployers: lucas,
			Requests: []deploycal.Request{req("alice", 501001, 501002), req("bob_b", 501003)}},
		{When: time.Date(2027, 3, 8, 13, 0, 0, 0, sf), Hours: 2, Window: "MediaWiki train - Utc-7 Version", Deployers: []deploycal.Nick{{Nick: "dancy"}}},
		{When: time.Date(2027, 3, 9, 6, 0, 0, 0, sf), Window: "UTC afternoon backport window", MaxPatches: 2, Deployers: lucas,
			Requests: []deploycal.Request{req("carol", 502001), req("dave", 502002), req("erin", 502003)}},
		{When: time.Date(2027, 3, 10, 6, 0, 0, 0, sf), Window: "UTC afternoon backport window", MaxPatches: 6, Deployers: lucas},
	}))
	cfg, err := config.Parse([]byte(windowsYAML+`
calendar:
  wiki: {api: "`+w.API+`", page: Deployments, page_url: "https://wikitech.example.org/wiki/Deployments"}
`), "test.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "j.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	log := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	f, err := calendar.NewWikiFetcher(cfg.Calendar.Wiki, log)
	if err != nil {
		t.Fatal(err)
	}
	now := windowsNow
	clock := func() time.Time { return now }
	svc := calendar.NewService(calendar.ServiceOptions{Config: cfg, Book: calendar.NewBook(db), Fetcher: f, MinRefresh: time.Millisecond, Now: clock})
	d := NewDispatcher(Options{Config: cfg, Log: log})
	d.Register(CalendarCommands(CalendarOptions{Source: svc, Now: clock, Notes: Notes(svc), Banner: FreezeBanner(svc)})...)
	d.Register(WindowCommands(WindowOptions{Schedule: svc, Now: clock})...)

	var g strings.Builder
	say := func(text string) {
		fmt.Fprintf(&g, "-- %s (%s)\n%s\n\n", text, now.Format("Mon 2 Jan 2006 15:04"), one(t, ask(t, d, "x", "", "jouncebot: "+text)))
	}
	for _, q := range []string{"refresh", "queue 20270308T1400", "queue deploycal-item-20270309T1400", "queue 20270308t2100",
		"windows 2027-03-09", "queue 20270311T1400", "windows 2027-02-30"} {
		say(q)
	}
	now = time.Date(2027, 3, 3, 12, 0, 0, 0, time.UTC) // a Wednesday
	for _, q := range []string{"windows next week", "windows tuesday", "queue train"} {
		say(q)
	}
	now = time.Date(2027, 3, 9, 13, 0, 0, 0, time.UTC)
	say("nowandnext")
	// The wiki goes down: a plain sentence, and the queues stay.
	w.Stop()
	say("refresh")
	say("queue 20270309T1400")
	golden(t, "wikicalendar.golden", g.String())
}

func TestParseDays(t *testing.T) {
	now := time.Date(2027, 3, 3, 12, 0, 0, 0, time.UTC) // Wednesday
	day := func(s string) time.Time { v, _ := time.Parse("2006-01-02", s); return v }
	for _, tt := range []struct {
		in       string
		from, to time.Time
		label    string
	}{
		{"", day("2027-03-03"), day("2027-03-04"), "today"},
		{"tomorrow", day("2027-03-04"), day("2027-03-05"), "tomorrow"},
		{"week", now, now.AddDate(0, 0, 7), "in the next seven days"},
		{"next week", day("2027-03-08"), day("2027-03-15"), "in the week of Mon 8 Mar"},
		{"Monday", day("2027-03-08"), day("2027-03-09"), "on Mon 8 Mar 2027"},
		{"wed", day("2027-03-03"), day("2027-03-04"), "on Wed 3 Mar 2027"},
		{"2027-06-01", day("2027-06-01"), day("2027-06-02"), "on Tue 1 Jun 2027"},
	} {
		from, to, label, err := ParseDays(strings.Fields(tt.in), now)
		if err != nil || !from.Equal(tt.from) || !to.Equal(tt.to) || label != tt.label {
			t.Errorf("ParseDays(%q) = %v, %v, %q, %v; want %v, %v, %q", tt.in, from, to, label, err, tt.from, tt.to, tt.label)
		}
	}
	if _, _, _, err := ParseDays([]string{"someday"}, now); err == nil {
		t.Errorf("ParseDays(someday) did not fail")
	}
}
