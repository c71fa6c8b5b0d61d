package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strings"
)

// CanaryReports gives the canary analyses of a deploy as plain values.
type CanaryReports interface {
	// CanaryPage returns deploy id's analyses; ErrNotFound when there
	// are none.
	CanaryPage(ctx context.Context, id string) (CanaryPage, error)
}

// ErrNotFound says a page has nothing to show.
var ErrNotFound = errors.New("not found")

// CanaryPage is a deploy's canary analyses.
type CanaryPage struct {
	Deploy   string
	Analyses []CanaryAnalysis
}

// CanaryAnalysis is one stage's analysis.
type CanaryAnalysis struct {
	Stage, Check string
	// Period is "14:02:10–14:07:10 UTC"; Baseline says what the
	// canaries were compared with.
	Period, Baseline string
	Line             string // the chat line
	Verdict          string // pass, marginal, fail
	Metrics          []CanaryMetric
}

// CanaryMetric is a row of the table and its chart.
type CanaryMetric struct {
	Name, Class, Direction                string
	Shift, Interval, Relative, P, Medians string
	CanaryHosts, BaselineHosts, Samples   string
	Canary, Baseline                      []float64 // mean over hosts, step by step
	Failed                                bool
}

// chart draws the canary and baseline lines as an inline SVG: no script,
// nothing fetched.
func chart(m CanaryMetric) template.HTML {
	const w, h, pad = 320.0, 90.0, 4.0
	lo, hi := math.Inf(1), math.Inf(-1)
	n := max(len(m.Canary), len(m.Baseline))
	for _, s := range [][]float64{m.Canary, m.Baseline} {
		for _, v := range s {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if n < 2 || math.IsInf(lo, 0) {
		return ""
	}
	if hi == lo {
		hi = lo + 1
	}
	line := func(s []float64) string {
		var b strings.Builder
		for i, v := range s {
			x := pad + (w-2*pad)*float64(i)/float64(n-1)
			y := h - pad - (h-2*pad)*(v-lo)/(hi-lo)
			fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
		}
		return strings.TrimSpace(b.String())
	}
	// Only numbers reach the markup, so it is safe as HTML.
	return template.HTML(fmt.Sprintf(`<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="canaries and baseline over the window"><polyline fill="none" stroke="#72777d" stroke-width="1.5" points="%s"/><polyline fill="none" stroke="#d33" stroke-width="2" points="%s"/></svg>`,
		w, h, line(m.Baseline), line(m.Canary)))
}

// canaryReport serves /deploys/{id}/canary: the table of each analysis
// with a small chart of canaries against baseline.
func (s *Server) canaryReport(w http.ResponseWriter, r *http.Request) {
	p, err := s.opts.Canary.CanaryPage(r.Context(), r.PathValue("id"))
	if errors.Is(err, ErrNotFound) {
		http.Error(w, "This deploy has no canary analysis.", http.StatusNotFound)
		return
	}
	if err != nil {
		s.log.Error("canary report", "id", r.PathValue("id"), "err", err)
		http.Error(w, "The canary report cannot be read now; try again later.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pages.ExecuteTemplate(w, "canary", p); err != nil {
		s.log.Error("render canary report", "err", err)
	}
}
