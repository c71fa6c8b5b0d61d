package app

import (
	"context"
	"fmt"
	"math"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/canary"
	"github.com/jouncebot/jouncebot/web"
)

// canaryPages turns the engine's canary analyses into the report page's
// values. It implements web.CanaryReports.
type canaryPages struct {
	eng deploy.CanaryReports
}

func (c canaryPages) CanaryPage(ctx context.Context, id string) (web.CanaryPage, error) {
	as, err := c.eng.CanaryAnalyses(deploy.ID(id))
	if err != nil {
		return web.CanaryPage{}, err
	}
	if len(as) == 0 {
		return web.CanaryPage{}, web.ErrNotFound
	}
	p := web.CanaryPage{Deploy: id}
	for _, sa := range as {
		a := sa.Analysis
		v := web.CanaryAnalysis{Stage: sa.Stage, Check: sa.Check, Line: a.Report.Line(), Verdict: string(a.Report.Verdict),
			Period:   a.From.UTC().Format("Mon 2 Jan 15:04:05") + "–" + a.To.UTC().Format("15:04:05") + " UTC",
			Baseline: baselineText(a.Baseline)}
		for i, r := range a.Report.Results {
			ms := a.Metrics[i]
			m := web.CanaryMetric{Name: r.Metric.Name, Class: string(r.Class), Direction: r.Metric.Direction.String(),
				CanaryHosts:   bot.Count(len(ms.Canary), "canary host"),
				BaselineHosts: bot.Count(len(ms.Baseline), "baseline host"),
				Samples:       fmt.Sprintf("%d / %d", r.CanaryN, r.BaselineN),
				Canary:        canary.Means(ms.Canary), Baseline: canary.Means(ms.Baseline), Failed: r.Failed()}
			if r.Class == canary.ClassNoData {
				m.Shift = r.Reason
			} else {
				m.Shift = canary.Signed(r.Test.Shift) + r.Metric.Unit
				m.Interval = fmt.Sprintf("%.0f%%: %s…%s", 100*r.Confidence, canary.Signed(r.Test.Low), canary.Signed(r.Test.High))
				if !math.IsNaN(r.Relative) {
					m.Relative = canary.Signed(math.Round(1000*r.Relative)/10) + "%"
				}
				m.P = fmt.Sprintf("%.2g", r.Test.P)
				m.Medians = fmt.Sprintf("%.3g / %.3g", r.CanaryMedian, r.BaselineMedian)
			}
			v.Metrics = append(v.Metrics, m)
		}
		p.Analyses = append(p.Analyses, v)
	}
	return p, nil
}

func baselineText(b string) string {
	switch b {
	case "before":
		return "themselves before the sync"
	case "both":
		return "the later stages' hosts and themselves before the sync"
	}
	return "the later stages' hosts over the same period"
}
