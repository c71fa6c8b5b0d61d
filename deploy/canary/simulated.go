package canary

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// Simulated is a Source of made-up metrics for the deploy sandbox, so
// that `go run .` shows a canary analysis without Prometheus. A query's
// metric is the name before its first "{": errors (a Poisson count a
// step, 3 on average) or latency (a p95 in ms, log-normal around 450).
// The values are a function of host, metric and the step's place in the
// period, so the same question gets the same answer (and the sandbox's
// transcript stays the same from run to run). Factor, if set, multiplies a host's values (a
// bad change on it).
type Simulated struct {
	Factor func(host string) float64
}

// Samples makes the samples up.
func (s Simulated) Samples(ctx context.Context, q Query) (map[string][]float64, error) {
	metric, _, _ := strings.Cut(q.Template, "{")
	metric = strings.TrimSpace(metric)
	if metric != "errors" && metric != "latency" {
		return nil, fmt.Errorf("the simulated hosts report errors and latency, not %q", metric)
	}
	step := q.Step
	if step <= 0 {
		step = 15 * time.Second
	}
	out := map[string][]float64{}
	for _, h := range q.Hosts {
		f := 1.0
		if s.Factor != nil {
			f = s.Factor(h)
		}
		for i := 0; !q.From.Add(time.Duration(i) * step).After(q.To); i++ {
			hash := fnv.New64a()
			fmt.Fprintf(hash, "%s\x00%s\x00%d", h, metric, i)
			r := rand.New(rand.NewPCG(hash.Sum64(), 0x5eed))
			var v float64
			if metric == "errors" {
				v = float64(poisson(r, 3*f))
			} else {
				v = 450 * f * math.Exp(0.1*r.NormFloat64())
			}
			out[h] = append(out[h], v)
		}
	}
	return out, nil
}

// poisson draws a Poisson count; a large mean is drawn from its normal
// approximation (the product loop would take mean steps).
func poisson(r *rand.Rand, mean float64) int {
	if mean > 30 {
		return max(0, int(math.Round(mean+math.Sqrt(mean)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
