package canary

import (
	"math"
	"math/rand/v2"
	"testing"
)

// fleet simulates one deploy's observation window: 2 canaries and 20
// baseline hosts, 20 samples each (5 minutes at 15 s scrapes), on a
// noisy fleet: the traffic level differs from deploy to deploy (a quiet
// or a busy hour) and each host differs a little from the others.
type fleet struct {
	rng *rand.Rand
	// errorFactor and latencyFactor are the regression the canaries
	// carry (1: a good change).
	errorFactor, latencyFactor float64
}

const (
	canaries      = 2
	baselineHosts = 20
	samplesEach   = 20
	errorsPerMin  = 12.0  // per host at average traffic
	requestsPer15 = 150.0 // per host at average traffic
	latencyMedian = 200.0 // ms
	latencySigma  = 0.5   // of log latency
)

type observation struct {
	errors, latency Input
	// canaryErrorsLastMinute and canaryP95LastMinute are what a fixed
	// threshold check reads: the canaries' error count over the last
	// minute and their worst p95 latency in it.
	canaryErrorsLastMinute float64
	canaryP95LastMinute    float64
}

func (f *fleet) observe() observation {
	traffic := math.Exp(0.5 * f.rng.NormFloat64())
	o := observation{
		errors:  Input{Metric: Metric{Name: "errors", Unit: "/min"}},
		latency: Input{Metric: Metric{Name: "p95 latency", Unit: " ms"}},
	}
	for h := range canaries + baselineHosts {
		canary := h < canaries
		rate := errorsPerMin * traffic * math.Exp(0.1*f.rng.NormFloat64())
		lat := latencyMedian * math.Exp(0.05*f.rng.NormFloat64())
		if canary {
			rate *= f.errorFactor
			lat *= f.latencyFactor
		}
		for s := range samplesEach {
			errs := 4 * float64(poisson(f.rng, rate/4))
			n := max(1, poisson(f.rng, requestsPer15*traffic))
			p95 := lat * math.Exp(latencySigma*(1.6449+quantileNoise(f.rng, n)))
			if canary {
				o.errors.Canary = append(o.errors.Canary, errs)
				o.latency.Canary = append(o.latency.Canary, p95)
				if s >= samplesEach-4 {
					o.canaryErrorsLastMinute += errs / 4
					o.canaryP95LastMinute = max(o.canaryP95LastMinute, p95)
				}
			} else {
				o.errors.Baseline = append(o.errors.Baseline, errs)
				o.latency.Baseline = append(o.latency.Baseline, p95)
			}
		}
	}
	return o
}

// quantileNoise is the error, in standard deviations of the log, of a
// 95th percentile estimated from n requests.
func quantileNoise(r *rand.Rand, n int) float64 {
	const phi = 0.10313 // standard normal density at 1.6449
	return r.NormFloat64() * math.Sqrt(0.95*0.05/float64(n)) / phi
}

// Fixed thresholds as scap sets them, tuned for an average hour: twice
// the canaries' usual errors a minute, and 1.5 times the usual p95.
var (
	fixedErrors  = 2 * canaries * errorsPerMin
	fixedLatency = 1.5 * latencyMedian * math.Exp(latencySigma*1.6449)
)

type rates struct {
	judged, fixed float64 // share of deploys flagged
}

// flagged runs deploys simulated deploys and counts how often each way
// of judging calls the canary bad on the given metric.
func flagged(seed uint64, deploys int, errorFactor, latencyFactor float64, metric string) rates {
	f := &fleet{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), errorFactor: errorFactor, latencyFactor: latencyFactor}
	var judged, fixed int
	for range deploys {
		o := f.observe()
		r := Judge([]Input{o.errors, o.latency}, Options{})
		var res Result
		var overFixed bool
		switch metric {
		case "errors":
			res, overFixed = r.Results[0], o.canaryErrorsLastMinute >= fixedErrors
		case "latency":
			res, overFixed = r.Results[1], o.canaryP95LastMinute >= fixedLatency
		default: // any metric: the deploy's verdict
			res.Class = ClassPass
			if r.Verdict != Pass {
				res.Class = ClassHigh
			}
			overFixed = o.canaryErrorsLastMinute >= fixedErrors || o.canaryP95LastMinute >= fixedLatency
		}
		if res.Failed() {
			judged++
		}
		if overFixed {
			fixed++
		}
	}
	return rates{float64(judged) / float64(deploys), float64(fixed) / float64(deploys)}
}

// TestRatesOnSimulatedFleet holds the judge to the figures the analysis
// promises, on seeded noise: under 1% false alarms over 1,000 good
// deploys, over 95% of 2× error-rate regressions caught, over 80% of
// 1.3× p95 latency regressions. The fixed thresholds on the same data
// are logged beside them.
func TestRatesOnSimulatedFleet(t *testing.T) {
	good := flagged(1, 1000, 1, 1, "any")
	errs := flagged(2, 1000, 2, 1, "errors")
	lat := flagged(3, 1000, 1, 1.3, "latency")
	t.Logf("false alarms over 1000 good deploys: judge %.1f%%, fixed thresholds %.1f%%", 100*good.judged, 100*good.fixed)
	t.Logf("2x error rate caught: judge %.1f%%, fixed threshold %.1f%%", 100*errs.judged, 100*errs.fixed)
	t.Logf("1.3x p95 latency caught: judge %.1f%%, fixed threshold %.1f%%", 100*lat.judged, 100*lat.fixed)
	if good.judged >= 0.01 {
		t.Errorf("false alarm rate %.1f%%, want under 1%%", 100*good.judged)
	}
	if errs.judged <= 0.95 {
		t.Errorf("2x error regressions caught %.1f%%, want over 95%%", 100*errs.judged)
	}
	if lat.judged <= 0.80 {
		t.Errorf("1.3x latency regressions caught %.1f%%, want over 80%%", 100*lat.judged)
	}
}

// BenchmarkJudge times the judge on 10 metrics × 22 hosts × 20 samples
// (2 canaries, 20 baseline hosts); the goal is under 5 ms.
func BenchmarkJudge(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 7))
	in := make([]Input, 10)
	for i := range in {
		in[i].Metric = Metric{Name: "m"}
		for range canaries * samplesEach {
			in[i].Canary = append(in[i].Canary, math.Round(10*r.ExpFloat64()))
		}
		for range baselineHosts * samplesEach {
			in[i].Baseline = append(in[i].Baseline, math.Round(10*r.ExpFloat64()))
		}
	}
	b.ResetTimer()
	for b.Loop() {
		Judge(in, Options{})
	}
}

// BenchmarkRates reports the simulated rates as benchmark figures.
func BenchmarkRates(b *testing.B) {
	for b.Loop() {
		good := flagged(1, 1000, 1, 1, "any")
		errs := flagged(2, 1000, 2, 1, "errors")
		lat := flagged(3, 1000, 1, 1.3, "latency")
		b.ReportMetric(100*good.judged, "false-alarm-%")
		b.ReportMetric(100*good.fixed, "fixed-false-alarm-%")
		b.ReportMetric(100*errs.judged, "errors-2x-caught-%")
		b.ReportMetric(100*errs.fixed, "fixed-errors-2x-caught-%")
		b.ReportMetric(100*lat.judged, "p95-1.3x-caught-%")
		b.ReportMetric(100*lat.fixed, "fixed-p95-1.3x-caught-%")
	}
}
