package calendar

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	ics "github.com/arran4/golang-ical"
)

// ICal renders windows and freezes as an RFC 5545 calendar, for people to
// subscribe to from their calendar application.
func ICal(ws []Window, freezes []Freeze, now time.Time, baseURL string) string {
	cal := ics.NewCalendarFor("jouncebot")
	cal.SetMethod(ics.MethodPublish)
	cal.SetName("Deployment windows")
	cal.SetDescription("Deployment windows and freezes, from jouncebot")
	cal.SetRefreshInterval("PT15M")
	for _, w := range ws {
		e := cal.AddEvent(w.ID + "@jouncebot")
		e.SetDtStampTime(now.UTC())
		e.SetStartAt(w.Start.UTC())
		e.SetEndAt(w.End.UTC())
		e.SetSummary(w.Name)
		var desc []string
		if len(w.Deployers) > 0 {
			desc = append(desc, "Deployers: "+JoinNames(w.Deployers))
		}
		if w.MaxPatches > 0 {
			desc = append(desc, fmt.Sprintf("Max %d patches", w.MaxPatches))
		}
		if len(desc) > 0 {
			e.SetDescription(strings.Join(desc, "\n"))
		}
		e.AddCategory(w.Kind)
		if w.URL != "" {
			e.SetURL(w.URL)
		}
	}
	for i, f := range freezes {
		id := fmt.Sprintf("freeze-%d-%d@jouncebot", f.ID, i)
		e := cal.AddEvent(id)
		e.SetDtStampTime(now.UTC())
		e.SetStartAt(f.From.UTC())
		e.SetEndAt(f.To.UTC())
		e.SetSummary("Deployment freeze: " + f.Reason)
		e.AddCategory("freeze")
	}
	return cal.Serialize()
}

// ICalHandler serves /calendar.ics: the windows of the past week and the
// coming horizon, and every freeze not yet over.
func ICalHandler(s *Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := s.now()
		ws := s.Calendar().Between(now.Add(-7*24*time.Hour), now.Add(s.horizon))
		var fs []Freeze
		for _, f := range s.Freezes() {
			if f.To.After(now) {
				fs = append(fs, f)
			}
		}
		w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
		w.Header().Set("Content-Disposition", `inline; filename="deployments.ics"`)
		fmt.Fprint(w, ICal(ws, fs, now, ""))
	})
}
