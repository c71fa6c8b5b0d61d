// Package canary judges a canary the way Kayenta does: for each metric it
// compares the samples of the freshly synced canaries with those of a
// baseline over the same period (the fleet not yet synced, or the
// canaries before the deploy), with a Wilcoxon rank-sum (Mann–Whitney U)
// test and a Hodges–Lehmann estimate of the shift, classifies the metric
// and scores the whole.
//
//	r := canary.Judge([]canary.Input{{
//		Metric:  canary.Metric{Name: "errors", Direction: canary.Increase, Weight: 1, Unit: "/min"},
//		Canary:  canarySamples,
//		Baseline: baselineSamples,
//	}}, canary.Options{})
//	say(r.Line()) // "canary analysis: 1/1 metrics pass (errors +0.2/min, 99% CI −0.1…+0.4), score 100"
//	switch r.Verdict { case canary.Pass: …; case canary.Marginal: ask(); case canary.Fail: rollback() }
//
// Judge is pure: it takes samples, never fetches them. Sources (a
// Prometheus server, the sandbox's simulated hosts) live elsewhere.
package canary

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Direction says which change of a metric is bad.
type Direction int

// Directions.
const (
	Increase Direction = iota // more is worse (errors, latency)
	Decrease                  // less is worse (successful requests)
	Either                    // any change is suspect
)

// String names the direction as the configuration does.
func (d Direction) String() string {
	switch d {
	case Decrease:
		return "decrease"
	case Either:
		return "either"
	}
	return "increase"
}

// ParseDirection reads a configured direction; "" is Increase.
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "", "increase":
		return Increase, nil
	case "decrease":
		return Decrease, nil
	case "either":
		return Either, nil
	}
	return 0, fmt.Errorf("direction %q is not increase, decrease or either", s)
}

// Metric describes one measured quantity.
type Metric struct {
	Name      string
	Direction Direction
	// Weight counts the metric in the score; 0 means 1.
	Weight float64
	// Unit follows numbers in texts ("/min", " ms").
	Unit string
}

func (m Metric) weight() float64 {
	if m.Weight <= 0 {
		return 1
	}
	return m.Weight
}

// Input is a metric with its samples.
type Input struct {
	Metric   Metric
	Canary   []float64
	Baseline []float64
}

// Class is a metric's classification.
type Class string

// Classes.
const (
	ClassPass   Class = "pass"
	ClassHigh   Class = "high"
	ClassLow    Class = "low"
	ClassNoData Class = "no data"
)

// Verdict is the judgement of the whole analysis.
type Verdict string

// Verdicts. Pass lets the deploy go on, Marginal asks the deployer, Fail
// rolls back.
const (
	Pass     Verdict = "pass"
	Marginal Verdict = "marginal"
	Fail     Verdict = "fail"
)

// Options tune the judge. The zero value gives the defaults.
type Options struct {
	// Confidence is the level of the test and of the interval
	// (default 0.99).
	Confidence float64
	// MinSamples is the fewest samples each side needs (default 8).
	MinSamples int
	// Effect is the change that is tolerated (default 0.15: 15%): a
	// metric is High only when the canaries' samples, scaled down by
	// 1 + Effect, still test higher than the baseline (Low: scaled up
	// by 1 − Effect, still lower). A real but small difference between
	// hosts passes: a canary is not rolled back for it.
	Effect float64
	// PassScore and MarginalScore are the score thresholds (defaults 95
	// and 75, Kayenta's).
	PassScore, MarginalScore float64
}

func (o Options) withDefaults() Options {
	if o.Confidence <= 0 || o.Confidence >= 1 {
		o.Confidence = 0.99
	}
	if o.MinSamples <= 0 {
		o.MinSamples = 8
	}
	if o.Effect <= 0 {
		o.Effect = 0.15
	}
	if o.PassScore <= 0 {
		o.PassScore = 95
	}
	if o.MarginalScore <= 0 {
		o.MarginalScore = 75
	}
	return o
}

// Result is one metric's judgement.
type Result struct {
	Metric Metric
	Class  Class
	// Reason says why a metric has no data.
	Reason string
	// Test is the rank-sum test of canary against baseline.
	Test Test
	// Relative is the effect size people read: the canaries' mean over
	// the baseline's, less one (+1 is twice the baseline; NaN when the
	// baseline's mean is zero). Means, not the shift, because counts
	// such as errors a minute are discrete: their median shift is often
	// zero even when the rate doubled.
	Relative float64
	// CanaryMedian and BaselineMedian summarise the samples.
	CanaryMedian, BaselineMedian float64
	// CanaryN and BaselineN count the finite samples used.
	CanaryN, BaselineN int
	// Confidence is the interval's level.
	Confidence float64
}

// Failed reports whether the metric counts against the canary.
func (r Result) Failed() bool { return r.Class == ClassHigh || r.Class == ClassLow }

// Report is the judgement of all metrics.
type Report struct {
	Results []Result
	// Score is the weighted share of passing metrics among those with
	// data, 0–100; NaN when no metric had data.
	Score   float64
	Verdict Verdict
}

// Judge classifies each metric and scores the analysis.
func Judge(in []Input, o Options) Report {
	o = o.withDefaults()
	var r Report
	var pass, total float64
	for _, m := range in {
		res := judgeMetric(m, o)
		r.Results = append(r.Results, res)
		if res.Class == ClassNoData {
			continue
		}
		total += m.Metric.weight()
		if res.Class == ClassPass {
			pass += m.Metric.weight()
		}
	}
	switch {
	case total == 0:
		r.Score = math.NaN()
		r.Verdict = Marginal
	default:
		r.Score = 100 * pass / total
		switch {
		case r.Score >= o.PassScore:
			r.Verdict = Pass
		case r.Score >= o.MarginalScore:
			r.Verdict = Marginal
		default:
			r.Verdict = Fail
		}
	}
	return r
}

func judgeMetric(in Input, o Options) Result {
	c, b := finite(in.Canary), finite(in.Baseline)
	res := Result{Metric: in.Metric, CanaryN: len(c), BaselineN: len(b), Confidence: o.Confidence, Relative: math.NaN()}
	switch {
	case len(c) < o.MinSamples || len(b) < o.MinSamples:
		res.Class = ClassNoData
		res.Reason = fmt.Sprintf("too few samples (%d canary, %d baseline; %d each needed)", len(c), len(b), o.MinSamples)
		return res
	case allZero(c) && allZero(b):
		res.Class = ClassNoData
		res.Reason = "every sample is zero"
		return res
	}
	res.CanaryMedian, res.BaselineMedian = medianOf(c), medianOf(b)
	alt := TwoSided
	switch in.Metric.Direction {
	case Increase:
		alt = Greater
	case Decrease:
		alt = Less
	}
	res.Test = RankSum(c, b, alt, o.Confidence)
	cm, bm := mean(c), mean(b)
	if bm != 0 {
		res.Relative = cm/math.Abs(bm) - 1
	}
	// A change counts when it is larger than Effect with confidence: the
	// canaries' samples, scaled back by the tolerated change, still test
	// as higher (or lower) than the baseline. Testing against zero
	// instead would flag every small, real difference between hosts.
	res.Class = ClassPass
	alpha := 1 - o.Confidence
	if alt != Less && classP(scale(c, 1/(1+o.Effect)), b, Greater, o.Confidence) < alpha {
		res.Class = ClassHigh
	}
	if alt != Greater && res.Class == ClassPass && classP(scale(c, 1/(1-o.Effect)), b, Less, o.Confidence) < alpha {
		res.Class = ClassLow
	}
	return res
}

// permutations is how many random splits estimate a p-value with ties.
const permutations = 10000

// classP is the one-sided p-value a classification rests on. Without
// ties it is the rank-sum test's. With ties the normal approximation can
// be far off: on a quiet error metric nearly every sample is a tied
// zero, and one error on a canary gets p = 0.0008 against 400 zeros,
// when one error among 440 samples lands on one of 40 canary samples 9%
// of the time. There the p-value is a permutation test's: the share of
// random splits of the pooled samples (the same ones each time, so a
// report judges the same when read again) whose canary rank sum is at
// least as extreme.
func classP(x, y []float64, alt Alternative, level float64) float64 {
	ranks, ties := rank(append(slices.Clone(x), y...))
	p := RankSum(x, y, alt, level).P
	if len(ties) == 0 || p >= 1-level {
		// Where ties abound the approximation's error that matters is
		// finding a change that is not there: only a change it finds
		// is confirmed by the permutations, so a metric that passes
		// costs one rank sum. (Near the threshold it may pass what the
		// permutations alone would flag.)
		return p
	}
	nx := len(x)
	var obs float64
	for _, r := range ranks[:nx] {
		obs += r
	}
	rng := rand.New(rand.NewPCG(uint64(nx), uint64(len(y))))
	const eps = 1e-7
	extreme := 0
	for n := range permutations {
		if extreme >= 200 {
			// Plainly not extreme: stop early (Besag and Clifford's
			// sequential test) with the share so far.
			return float64(extreme) / float64(n)
		}
		// A partial Fisher–Yates shuffle puts a random nx-subset first;
		// ranks stays a permutation of itself, so no reset is needed.
		var sum float64
		for i := range nx {
			j := i + rng.IntN(len(ranks)-i)
			ranks[i], ranks[j] = ranks[j], ranks[i]
			sum += ranks[i]
		}
		if (alt == Greater && sum >= obs-eps) || (alt == Less && sum <= obs+eps) {
			extreme++
		}
	}
	return float64(extreme+1) / float64(permutations+1)
}

func finite(v []float64) []float64 {
	out := make([]float64, 0, len(v))
	for _, x := range v {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			out = append(out, x)
		}
	}
	return out
}

func scale(v []float64, f float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x * f
	}
	return out
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func allZero(v []float64) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

func medianOf(v []float64) float64 {
	s := append([]float64(nil), v...)
	sortFloats(s)
	return median(s)
}
