package canary

import (
	"math"
	"strings"
	"testing"
)

func repeat(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// spread returns n values around mid, evenly from mid−w to mid+w.
func spread(mid, w float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = mid - w + 2*w*float64(i)/float64(n-1)
	}
	return out
}

func TestJudgeClassifies(t *testing.T) {
	errors := Metric{Name: "errors", Direction: Increase, Unit: "/min"}
	success := Metric{Name: "success", Direction: Decrease}
	either := Metric{Name: "rps", Direction: Either}
	tests := []struct {
		name   string
		in     Input
		class  Class
		reason string
	}{
		{"same", Input{errors, spread(10, 2, 40), spread(10, 2, 400)}, ClassPass, ""},
		{"doubled errors", Input{errors, spread(20, 4, 40), spread(10, 2, 400)}, ClassHigh, ""},
		{"fewer errors are fine", Input{errors, spread(5, 1, 40), spread(10, 2, 400)}, ClassPass, ""},
		{"significant but small", Input{errors, spread(11, 1, 40), spread(10, 1, 400)}, ClassPass, ""},
		{"success dropped", Input{success, spread(50, 5, 40), spread(100, 5, 400)}, ClassLow, ""},
		{"success rose", Input{success, spread(150, 5, 40), spread(100, 5, 400)}, ClassPass, ""},
		{"either up", Input{either, spread(150, 5, 40), spread(100, 5, 400)}, ClassHigh, ""},
		{"either down", Input{either, spread(50, 5, 40), spread(100, 5, 400)}, ClassLow, ""},
		{"too few", Input{errors, spread(20, 4, 5), spread(10, 2, 400)}, ClassNoData, "too few samples (5 canary, 400 baseline; 8 each needed)"},
		{"NaN only", Input{errors, repeat(math.NaN(), 40), spread(10, 2, 400)}, ClassNoData, "too few samples (0 canary, 400 baseline; 8 each needed)"},
		{"all zero", Input{errors, repeat(0, 40), repeat(0, 400)}, ClassNoData, "every sample is zero"},
		{"errors from nothing", Input{errors, spread(3, 1, 40), repeat(0, 400)}, ClassHigh, ""},
		// Rare errors: nearly every sample is a tied zero, where the
		// normal approximation is far off (p 0.0008 for one error, when
		// one error in 440 samples lands on a canary 9% of the time).
		{"one rare error", Input{errors, ones(1, 40), repeat(0, 400)}, ClassPass, ""},
		{"two rare errors", Input{errors, ones(2, 40), ones(3, 400)}, ClassPass, ""},
		{"rare errors, all on the canaries", Input{errors, ones(6, 40), repeat(0, 400)}, ClassHigh, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Judge([]Input{tt.in}, Options{})
			got := r.Results[0]
			if got.Class != tt.class || got.Reason != tt.reason {
				t.Errorf("class %q (%s), want %q (%s); %s", got.Class, got.Reason, tt.class, tt.reason, got.Phrase())
			}
		})
	}
}

func TestJudgeScores(t *testing.T) {
	good := func(name string, w float64) Input {
		return Input{Metric{Name: name, Weight: w}, spread(10, 2, 40), spread(10, 2, 400)}
	}
	bad := func(name string, w float64) Input {
		return Input{Metric{Name: name, Weight: w}, spread(30, 2, 40), spread(10, 2, 400)}
	}
	none := Input{Metric{Name: "none"}, nil, nil}
	tests := []struct {
		name    string
		in      []Input
		score   float64
		verdict Verdict
	}{
		{"all pass", []Input{good("a", 1), good("b", 1)}, 100, Pass},
		{"no data is left out", []Input{good("a", 1), none}, 100, Pass},
		{"one of two fails", []Input{good("a", 1), bad("b", 1)}, 50, Fail},
		{"light failure is marginal", []Input{good("a", 4), bad("b", 1)}, 80, Marginal},
		{"nothing to judge asks", []Input{none}, math.NaN(), Marginal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Judge(tt.in, Options{})
			if r.Verdict != tt.verdict || !(r.Score == tt.score || math.IsNaN(r.Score) && math.IsNaN(tt.score)) {
				t.Errorf("score %v, verdict %s; want %v, %s", r.Score, r.Verdict, tt.score, tt.verdict)
			}
		})
	}
}

func TestLine(t *testing.T) {
	r := Judge([]Input{
		{Metric{Name: "errors", Unit: "/min"}, spread(20, 4, 40), spread(10, 2, 400)},
		{Metric{Name: "p95 latency", Unit: " ms"}, spread(200, 20, 40), spread(200, 20, 400)},
	}, Options{})
	got := r.Line()
	for _, want := range []string{"canary analysis: 1/2 metrics pass (", "errors high: +10/min (+100%), 99% CI +", "p95 latency 0 ms (0%)", "score 50: fail"} {
		if !strings.Contains(got, want) {
			t.Errorf("line %q lacks %q", got, want)
		}
	}
}

func TestSigned(t *testing.T) {
	for x, want := range map[float64]string{0.2: "+0.2", -1.1: "−1.1", 12.54: "+12.5", 120.4: "+120", 0.0234: "+0.023", 0: "0", math.Inf(-1): "−∞", 2.5: "+2.5", 1: "+1"} {
		if got := Signed(x); got != want {
			t.Errorf("Signed(%v) = %q, want %q", x, got, want)
		}
	}
}

// ones is n samples, the first k of them 1 and the rest 0.
func ones(k, n int) []float64 {
	v := make([]float64, n)
	for i := range k {
		v[i] = 1
	}
	return v
}
