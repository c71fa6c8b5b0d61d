package canary

import (
	"math"
	"testing"
)

// Reference values printed by R 4.2.2 (Debian's r-base-core):
//
//	r <- wilcox.test(x, y, alternative = alt, conf.int = TRUE, conf.level = 0.95)
//	sprintf("W=%.10g p=%.10g est=%.10g ci=[%.10g, %.10g]", r$statistic, r$p.value, r$estimate, r$conf.int[1], r$conf.int[2])
//
// In the exact case R's numbers are exact; with ties R finds the
// estimate and the interval's ends by a root search (tolerance 1e-4) on
// a step function, so they are compared within a small tolerance.
func TestRankSumMatchesR(t *testing.T) {
	exactX := []float64{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46}
	exactY := []float64{1.15, 0.88, 0.90, 0.74, 1.21}
	tiesX := []float64{1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30}
	tiesY := []float64{0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29}
	poisX := []float64{3, 5, 4, 6, 7, 5, 4, 8, 6, 5, 9, 7}
	poisY := []float64{2, 3, 3, 4, 2, 5, 3, 4, 1, 3, 2, 4, 3, 5, 2, 3}
	largeX := []float64{1.012, 1.291, 0.951, 1.971, 1.348, 0.955, 1.414, 1.524, 1.452, 1.114, 1.922, 1.373, 1.014, 0.629, 1.712, 1.205, 1.215, 1.621, 1.563, 1.46, 1.609, 1.544, 1.249, 0.672, 1.471, 1.201, 1.166, 0.786, 1.058, 1.385, 1.836, 1.184, 1.372, 1.202, 0.808, 1.078, 1.085, 1.2, 1.699, 1.536, 1.163, 1.132, 1.505, 1.443, 0.993, 0.988, 1.363, 1.538, 1.181, 1.591, 1.376, 1.017, 1.353, 0.87, 1.877, 2.212, 1.094, 0.893, 1.449, 1.173}
	largeY := []float64{2.055, 0.988, 1.23, 1.008, 0.8, 1.058, 0.582, 1.552, 1.047, 1.919, 1.153, 0.808, 1.201, 0.756, 0.687, 1.091, 0.875, 1, 1.023, 0.838, 0.843, 0.96, 1.424, 0.633, 1.195, 1.105, 1.376, 0.913, 1.117, 1.083, 0.85, 1.437, 1.416, 1.234, 1.61, 1.182, 0.682, 0.842, 0.693, 0.868, 0.83, 1.013, 0.761, 1.049, 0.822, 1.699, 1.24, 1.314, 1.122, 1.656, 0.826, 0.871, 1.537, 0.823, 0.94, 0.889, 0.908, 0.92, 1.16, 0.948, 0.859, 1.496, 0.938, 0.948, 0.97, 1.238, 0.978, 0.989, 0.815, 0.907}
	// Error counts a step: most values are tied across the samples.
	stepX := []float64{3, 0, 4, 0, 1, 8, 1, 3, 6, 2, 2, 4, 7, 6, 5, 4}
	stepY := []float64{3, 2, 1, 3, 2, 4, 2, 2, 1, 3, 2, 0, 1, 2, 3, 2, 2, 2, 4, 3, 2, 1, 2, 1, 2, 2, 3, 4, 2, 5, 3, 0, 3, 5, 3, 3, 3, 2, 2, 3}
	inf := math.Inf(1)
	tests := []struct {
		name      string
		x, y      []float64
		alt       Alternative
		w, p      float64
		est       float64
		low, high float64
		exact     bool
	}{
		{"exact two-sided", exactX, exactY, TwoSided, 35, 0.2544122544, 0.305, -0.15, 0.76, true},
		{"exact greater", exactX, exactY, Greater, 35, 0.1272061272, 0.305, -0.08, inf, true},
		{"exact less", exactX, exactY, Less, 35, 0.8967698968, 0.305, -inf, 0.72, true},
		{"ties two-sided", tiesX, tiesY, TwoSided, 58, 0.1329194582, 0.5600561608, -0.3699773747, 1.182970774, false},
		{"ties greater", tiesX, tiesY, Greater, 58, 0.06645972909, 0.5600561608, -0.09801934648, inf, false},
		{"ties less", tiesX, tiesY, Less, 58, 0.9442044003, 0.5600561608, -inf, 1.010023197, false},
		{"counts two-sided", poisX, poisY, TwoSided, 174, 0.0002599771474, 2.999964365, 1.000046896, 3.999965423, false},
		{"counts greater", poisX, poisY, Greater, 174, 0.0001299885737, 2.999964365, 1.999939407, inf, false},
		{"counts less", poisX, poisY, Less, 174, 0.9998919244, 2.999964365, -inf, 3.999959631, false},
		// The interval's ends: between two differences R's root search
		// sees only the ties within each sample, not those between them.
		{"step counts two-sided", stepX, stepY, TwoSided, 407.5, 0.1050483219, 1.000034914, -1.356311425e-05, 2.000017904, false},
		{"step counts greater", stepX, stepY, Greater, 407.5, 0.05252416094, 1.000034914, -2.400267923e-05, inf, false},
		{"step counts less", stepX, stepY, Less, 407.5, 0.9494441127, 1.000034914, -inf, 2.000071183, false},
		{"nearly all tied less", []float64{1, 1, 1, 2}, []float64{1, 1, 1, 1}, Less, 10, 0.8943502263, 0, -inf, 1, false},
		{"large two-sided", largeX, largeY, TwoSided, 3041, 1.121510784e-05, 0.2539930568, 0.1470227633, 0.3550092528, false},
		{"large greater", largeX, largeY, Greater, 3041, 5.607553922e-06, 0.2539930568, 0.166036907, inf, false},
		{"large less", largeX, largeY, Less, 3041, 0.9999945117, 0.2539930568, -inf, 0.339024829, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RankSum(tt.x, tt.y, tt.alt, 0.95)
			if got.Exact != tt.exact {
				t.Errorf("exact = %v, want %v", got.Exact, tt.exact)
			}
			if got.W != tt.w {
				t.Errorf("W = %v, want %v", got.W, tt.w)
			}
			if !close(got.P, tt.p, 1e-8) {
				t.Errorf("p = %.10g, want %.10g", got.P, tt.p)
			}
			// R's root search stops within 1e-4 of the jump.
			tol := 1e-9
			if !tt.exact {
				tol = 2e-4
			}
			if !near(got.Shift, tt.est, tol) {
				t.Errorf("estimate = %.10g, want %.10g", got.Shift, tt.est)
			}
			if !near(got.Low, tt.low, tol) || !near(got.High, tt.high, tol) {
				t.Errorf("interval = [%.10g, %.10g], want [%.10g, %.10g]", got.Low, got.High, tt.low, tt.high)
			}
		})
	}
}

func close(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(math.Abs(b), 1e-300)
}

func near(a, b, tol float64) bool {
	if math.IsInf(b, 0) {
		return a == b
	}
	return math.Abs(a-b) <= tol
}

// The interval's ends are differences of the samples, exactly: on counts
// they are whole numbers (chat once said "99% CI −8.9e-16…+∞" for 0).
func TestRankSumEndsAreDifferences(t *testing.T) {
	counts := func(seed, n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64((i*7 + seed*13 + i*i*seed) % 10)
		}
		return v
	}
	tests := []struct {
		name string
		x, y []float64
	}{
		{"two each", []float64{0, 9}, []float64{0, 9}},
		{"small counts", counts(1, 12), counts(2, 30)},
		{"large counts", counts(3, 60), counts(4, 2000)},
		{"exact", []float64{1e16, 3, 9, 12}, []float64{1, 7, 8}},
	}
	for _, tt := range tests {
		for _, alt := range []Alternative{TwoSided, Greater, Less} {
			got := RankSum(tt.x, tt.y, alt, 0.99)
			for _, v := range []float64{got.Low, got.High, 2 * got.Shift} {
				if !math.IsInf(v, 0) && v != math.Trunc(v) {
					t.Errorf("%s (%v): estimate %v, interval [%v, %v]: not differences of whole numbers", tt.name, alt, got.Shift, got.Low, got.High)
				}
			}
			d := newPairs(tt.x, tt.y)
			for k := range min(d.len(), 400) {
				if v := d.kth(k); v != math.Trunc(v) {
					t.Errorf("%s: difference %d is %v", tt.name, k, v)
					break
				}
			}
		}
	}
}
