package canary

import (
	"slices"
	"sort"
	"time"
)

// Analysis is a canary analysis as a deploy records it: the samples
// host by host, the judgement, and what the report page draws.
type Analysis struct {
	From, To time.Time
	// Baseline says what the canaries were compared with: later,
	// before or both.
	Baseline string
	Metrics  []MetricSamples
	// Options are those the analysis was judged with.
	Options Options
	// Report is the judgement. It is not stored: Judge recomputes it
	// from the samples (JSON has no NaN or infinity, which a report may
	// hold).
	Report Report `json:"-"`
}

// MetricSamples are one metric's samples, by host.
type MetricSamples struct {
	Metric   Metric
	Canary   map[string][]float64
	Baseline map[string][]float64
}

// Add records a metric's samples; several baseline sets are merged.
func (a *Analysis) Add(m Metric, canaries map[string][]float64, baselines ...map[string][]float64) {
	ms := MetricSamples{Metric: m, Canary: canaries, Baseline: map[string][]float64{}}
	for i, b := range baselines {
		for h, v := range b {
			key := h
			if i > 0 {
				key = h + " (before)"
			}
			ms.Baseline[key] = append(ms.Baseline[key], v...)
		}
	}
	a.Metrics = append(a.Metrics, ms)
}

// Judge judges the recorded samples with o (and remembers o).
func (a *Analysis) Judge(o Options) {
	a.Options = o
	in := make([]Input, 0, len(a.Metrics))
	for _, m := range a.Metrics {
		in = append(in, Input{Metric: m.Metric, Canary: pool(m.Canary), Baseline: pool(m.Baseline)})
	}
	a.Report = Judge(in, o)
}

// pool joins the hosts' samples, in the hosts' order.
func pool(byHost map[string][]float64) []float64 {
	hosts := make([]string, 0, len(byHost))
	for h := range byHost {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	var out []float64
	for _, h := range hosts {
		out = append(out, byHost[h]...)
	}
	return out
}

// Means returns, step by step, the mean over hosts of a sample set: the
// line the report page draws.
func Means(byHost map[string][]float64) []float64 {
	var out []float64
	var n []int
	for _, v := range byHost {
		for i, x := range v {
			if i >= len(out) {
				out = append(out, 0)
				n = append(n, 0)
			}
			out[i] += x
			n[i]++
		}
	}
	for i := range out {
		out[i] /= float64(n[i])
	}
	return slices.Clip(out)
}
