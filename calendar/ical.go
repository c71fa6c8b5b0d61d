package calendar

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	ics "github.com/arran4/golang-ical"

	"github.com/jouncebot/jouncebot/bot"
)

// ICal renders windows and freezes as an RFC 5545 calendar, for people to
// subscribe to from their calendar application. queues holds the patch
// queues by window id (chat and wiki patches alike); it may be nil.
func ICal(ws []Window, queues map[string][]Patch, freezes []Freeze, now time.Time, baseURL string) string {
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
			desc = append(desc, "Deployers: "+bot.JoinNames(w.Deployers))
		}
		if w.MaxPatches > 0 {
			desc = append(desc, "Max "+bot.Count(w.MaxPatches, "patch"))
		}
		if in, over := Split(w, queues[w.ID]); len(in) > 0 {
			desc = append(desc, "Queued: "+PatchList(in))
			if len(over) > 0 {
				desc = append(desc, "Beyond the limit: "+PatchList(over))
			}
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
// coming horizon, or further when the wiki's page reaches further, and
// every freeze not yet over.
func ICalHandler(s *Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := s.now()
		to := now.Add(s.horizon)
		s.mu.Lock()
		for _, w := range s.wiki {
			if w.End.After(to) {
				to = w.End
			}
		}
		s.mu.Unlock()
		ws := s.Calendar().Between(now.Add(-7*24*time.Hour), to)
		queues := map[string][]Patch{}
		if s.book != nil {
			for _, win := range ws {
				queues[win.ID], _ = s.book.Queue(win.ID)
			}
		}
		var fs []Freeze
		for _, f := range s.Freezes() {
			if f.To.After(now) {
				fs = append(fs, f)
			}
		}
		w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
		w.Header().Set("Content-Disposition", `inline; filename="deployments.ics"`)
		fmt.Fprint(w, ICal(ws, queues, fs, now, ""))
	})
}
