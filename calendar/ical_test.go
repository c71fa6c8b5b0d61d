package calendar

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goical "github.com/emersion/go-ical"

	"github.com/jouncebot/jouncebot/store"
)

// The feed parses with a second, independent iCalendar parser and holds the
// windows and freezes with their UTC times.
func TestICalFeedParsesIndependently(t *testing.T) {
	cfg := exampleConfig(t)
	db, err := store.Open(filepath.Join(t.TempDir(), "j.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := mustTime(t, "2026-11-25T14:20:00Z")
	svc := NewService(ServiceOptions{Config: cfg, Book: NewBook(db), Now: func() time.Time { return now }})
	srv := httptest.NewServer(ICalHandler(svc))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/calendar.ics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/calendar") {
		t.Errorf("Content-Type = %q", ct)
	}
	body, _ := io.ReadAll(resp.Body)
	cal, err := goical.NewDecoder(strings.NewReader(string(body))).Decode()
	if err != nil {
		t.Fatalf("feed does not parse: %v\n%s", err, body)
	}
	events := cal.Events()
	if want := len(svc.Calendar().Between(now.Add(-7*24*time.Hour), now.Add(cfg.Calendar.Horizon))) + 1; len(events) != want {
		t.Errorf("feed has %d events; want %d (windows and the freeze)", len(events), want)
	}
	found := false
	for _, e := range events {
		summary, _ := e.Props.Text(goical.PropSummary)
		start, err := e.DateTimeStart(time.UTC)
		if err != nil {
			t.Fatalf("event %q: bad DTSTART: %v", summary, err)
		}
		end, _ := e.DateTimeEnd(time.UTC)
		if summary == "UTC afternoon backport window" && start.Equal(mustTime(t, "2026-11-25T14:00:00Z")) {
			found = true
			if !end.Equal(mustTime(t, "2026-11-25T15:00:00Z")) {
				t.Errorf("end = %s", end)
			}
		}
		if strings.HasPrefix(summary, "Deployment freeze") && !start.Equal(mustTime(t, "2026-12-19T00:00:00Z")) {
			t.Errorf("freeze starts %s", start)
		}
	}
	if !found {
		t.Errorf("today's afternoon window (14:00 UTC) is not in the feed")
	}
}
