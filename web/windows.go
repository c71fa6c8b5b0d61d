package web

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/jouncebot/jouncebot/readiness"
	"github.com/jouncebot/jouncebot/sal/wikitext"
)

// Readiness gives the last readiness check of a window, by any of its ids.
type Readiness interface {
	Report(ctx context.Context, windowID string) (readiness.Result, bool, error)
}

type windowPage struct {
	Name, Span, Checked, Counts, Estimate, Length, EstimateFrom string
	Window                                                      []readiness.Finding
	Patches                                                     []patchView
	links                                                       *wikitext.Renderer
}

// Wiki renders a commit subject or reason as SAL lines are rendered.
func (p windowPage) Wiki(s string) template.HTML { return p.links.HTML(s) }

type patchView struct {
	readiness.PatchResult
	Estimate string
}

// windowReport serves /windows/{id}: the full readiness report, every
// field escaped by html/template. Details naming a security patch are not
// part of a stored result, so they cannot appear here.
func (s *Server) windowReport(w http.ResponseWriter, r *http.Request) {
	res, ok, err := s.opts.Readiness.Report(r.Context(), r.PathValue("id"))
	if err != nil {
		s.log.Error("readiness report", "id", r.PathValue("id"), "err", err)
		http.Error(w, "The report cannot be read now; try again later.", http.StatusInternalServerError)
		return
	}
	if !ok {
		http.Error(w, "No readiness check of this window yet; say \"check <window id>\" in chat.", http.StatusNotFound)
		return
	}
	ready, blocked := res.Count()
	p := windowPage{Name: res.WindowName,
		Span:     res.Start.UTC().Format("Mon 2 Jan 2006 15:04") + "–" + res.End.UTC().Format("15:04") + " UTC",
		Checked:  res.CheckedAt.UTC().Format("15:04 UTC"),
		Counts:   fmt.Sprintf("%d ready, %d blocked", ready, blocked),
		Estimate: readiness.Minutes(res.Estimate), Length: readiness.Minutes(res.Length()), EstimateFrom: res.EstimateFrom,
		Window: res.Window, links: s.opts.Links}
	for _, pr := range res.Patches {
		p.Patches = append(p.Patches, patchView{PatchResult: pr, Estimate: readiness.Minutes(pr.Estimate)})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Last-Modified", res.CheckedAt.UTC().Format(time.RFC1123))
	if err := pages.ExecuteTemplate(w, "window", p); err != nil {
		s.log.Error("render readiness report", "err", err)
	}
}
