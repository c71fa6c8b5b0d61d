package canary

import (
	"math"
	"slices"
)

// Test is the outcome of a two-sample Wilcoxon rank-sum (Mann–Whitney U)
// test of x against y, with the Hodges–Lehmann estimate of the shift
// x − y and its confidence interval. The numbers are those R's
// wilcox.test(x, y, conf.int = TRUE) reports: the exact distribution
// when both samples are smaller than 50 and nothing is tied, otherwise
// the normal approximation with tie and continuity corrections. One
// difference: in the normal case R's estimate comes from a root search
// that may stop anywhere between the two middle differences (the
// statistic is zero all along); Shift is always their median.
type Test struct {
	// W is the rank-sum statistic of x (R's W).
	W float64
	// P is the p-value for the alternative asked.
	P float64
	// Shift is the Hodges–Lehmann estimate: the median of all
	// differences x[i] − y[j].
	Shift float64
	// Low and High bound the confidence interval of the shift; an
	// unbounded side (one-sided alternatives) is ±Inf.
	Low, High float64
	// Exact reports whether the exact distribution was used.
	Exact bool
}

// Alternative is the hypothesis a test looks for.
type Alternative int

// Alternatives, as R names them.
const (
	TwoSided Alternative = iota // x differs from y
	Greater                     // x is shifted up from y
	Less                        // x is shifted down from y
)

// RankSum tests x against y at the given confidence level (0.95 for a
// 95% interval). Both samples must hold at least one finite value; NaNs
// must have been removed by the caller.
func RankSum(x, y []float64, alt Alternative, level float64) Test {
	nx, ny := len(x), len(y)
	combined := make([]float64, 0, nx+ny)
	combined = append(combined, x...)
	combined = append(combined, y...)
	ranks, ties := rank(combined)
	var rx float64
	for i := range nx {
		rx += ranks[i]
	}
	w := rx - float64(nx*(nx+1))/2
	t := Test{W: w}
	diffs := newPairs(x, y)
	t.Shift = diffs.median()
	alpha := 1 - level
	if nx < 50 && ny < 50 && len(ties) == 0 {
		t.Exact = true
		d := newWilcoxDist(nx, ny)
		switch alt {
		case TwoSided:
			var p float64
			if w > float64(nx*ny)/2 {
				p = 1 - d.cdf(int(w)-1)
			} else {
				p = d.cdf(int(w))
			}
			t.P = math.Min(2*p, 1)
		case Greater:
			t.P = 1 - d.cdf(int(w)-1)
		case Less:
			t.P = d.cdf(int(w))
		}
		n := nx * ny
		switch alt {
		case TwoSided:
			qu := max(d.quantile(alpha/2), 1)
			ql := n - qu
			t.Low, t.High = diffs.kth(qu-1), diffs.kth(ql)
		case Greater:
			qu := max(d.quantile(alpha), 1)
			t.Low, t.High = diffs.kth(qu-1), math.Inf(1)
		case Less:
			qu := max(d.quantile(alpha), 1)
			ql := n - qu
			t.Low, t.High = math.Inf(-1), diffs.kth(ql)
		}
		return t
	}
	n := float64(nx + ny)
	var tieSumAll float64
	for _, c := range ties {
		tieSumAll += float64(c*c*c - c)
	}
	sigma := math.Sqrt(float64(nx*ny) / 12 * ((n + 1) - tieSumAll/(n*(n-1))))
	z := w - float64(nx*ny)/2
	var corr float64
	switch alt {
	case TwoSided:
		corr = sign(z) * 0.5
	case Greater:
		corr = 0.5
	case Less:
		corr = -0.5
	}
	if sigma == 0 {
		t.P = 1
		t.Low, t.High = t.Shift, t.Shift
		return t
	}
	z = (z - corr) / sigma
	switch alt {
	case TwoSided:
		t.P = math.Min(2*math.Min(normalCDF(z), 1-normalCDF(z)), 1)
	case Greater:
		t.P = 1 - normalCDF(z)
	case Less:
		t.P = normalCDF(z)
	}
	// The interval's ends are the differences at which the corrected
	// statistic crosses the normal quantiles, as R's root search finds
	// them: order statistics of the differences.
	// Between two adjacent differences no x − d equals a y, so the only
	// ties R's root search sees there are those within x and within y:
	// its σ is not the test's, which also counts the ties between the
	// samples (on counts, most of them).
	within := tieSum(x) + tieSum(y)
	sigmaCI := math.Sqrt(float64(nx*ny) / 12 * ((n + 1) - within/(n*(n-1))))
	end := func(zq float64, lower bool) float64 {
		// dz(d) = #{x−d > y} + ties/2 − nx·ny/2 falls as d grows; the
		// end is the k-th smallest difference where dz − 0.5 crosses
		// zq·σ (upper side: dz + 0.5 crosses −zq·σ).
		m := float64(diffs.len())
		c := zq*sigmaCI + 0.5
		k := int(math.Ceil(m/2 - c))
		if !lower {
			k = int(math.Floor(m/2 + c))
			k++
		}
		k = min(max(k, 1), diffs.len())
		return diffs.kth(k - 1)
	}
	switch alt {
	case TwoSided:
		zq := normalQuantile(1 - alpha/2)
		t.Low, t.High = end(zq, true), end(zq, false)
	case Greater:
		t.Low, t.High = end(normalQuantile(1-alpha), true), math.Inf(1)
	case Less:
		t.Low, t.High = math.Inf(-1), end(normalQuantile(1-alpha), false)
	}
	return t
}

// tieSum is Σ(c³ − c) over the groups of c equal values of v.
func tieSum(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	var sum float64
	for i := 0; i < len(s); {
		j := i + 1
		for j < len(s) && s[j] == s[i] {
			j++
		}
		c := float64(j - i)
		sum += c*c*c - c
		i = j
	}
	return sum
}

// rank returns the mid-ranks of v (1-based, ties get their average) and
// the sizes of its groups of tied values.
func rank(v []float64) (ranks []float64, ties []int) {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case v[a] < v[b]:
			return -1
		case v[a] > v[b]:
			return 1
		}
		return 0
	})
	ranks = make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i + 1
		for j < len(idx) && v[idx[j]] == v[idx[i]] {
			j++
		}
		r := float64(i+j+1) / 2
		for k := i; k < j; k++ {
			ranks[idx[k]] = r
		}
		if j-i > 1 {
			ties = append(ties, j-i)
		}
		i = j
	}
	return ranks, ties
}

// pairs stands for the n·m differences x[i] − y[j] without making them:
// a 40 × 400 comparison has 16,000, and the estimate and the interval
// need only three of their order statistics. With x and y sorted, the
// number of differences at or below d is counted in one pass, so an
// order statistic is found by bisection over the float64 values.
type pairs struct {
	x, y []float64 // sorted
}

func newPairs(x, y []float64) pairs {
	p := pairs{x: slices.Clone(x), y: slices.Clone(y)}
	slices.Sort(p.x)
	slices.Sort(p.y)
	return p
}

func (p pairs) len() int { return len(p.x) * len(p.y) }

// atMost counts the differences ≤ d.
func (p pairs) atMost(d float64) int {
	// For x[i], the y[j] with x[i] − y[j] ≤ d qualify; the bound rises
	// with i. The differences are compared as computed: y[j] ≥ x[i] − d
	// is not the same test once rounded, and made kth return values
	// that are no difference (−8.9e-16 for 0).
	n, j := 0, 0
	for _, xi := range p.x {
		for j < len(p.y) && xi-p.y[j] > d {
			j++
		}
		n += len(p.y) - j
	}
	return n
}

// kth returns the k-th smallest difference (0-based).
func (p pairs) kth(k int) float64 {
	lo := key(p.x[0] - p.y[len(p.y)-1])
	hi := key(p.x[len(p.x)-1] - p.y[0])
	for lo < hi {
		mid := lo + (hi-lo)/2
		if p.atMost(value(mid)) >= k+1 {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return value(lo)
}

// median is the median of the differences.
func (p pairs) median() float64 {
	n := p.len()
	if n%2 == 1 {
		return p.kth(n / 2)
	}
	return (p.kth(n/2-1) + p.kth(n/2)) / 2
}

// key maps float64s to uint64s in the same order; value inverts it.
func key(f float64) uint64 {
	b := math.Float64bits(f)
	if b>>63 == 1 {
		return ^b
	}
	return b | 1<<63
}

func value(k uint64) float64 {
	if k>>63 == 1 {
		return math.Float64frombits(k &^ (1 << 63))
	}
	return math.Float64frombits(^k)
}

// median of sorted values.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

func normalCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// normalQuantile inverts normalCDF.
func normalQuantile(p float64) float64 { return -math.Sqrt2 * math.Erfcinv(2*p) }

// wilcoxDist is the exact null distribution of W for sample sizes m and
// n (R's dwilcox): counts[k] is the number of rank arrangements giving
// W = k.
type wilcoxDist struct {
	counts []float64
	total  float64
}

func newWilcoxDist(m, n int) wilcoxDist {
	// f[j][k]: arrangements of j items of x among j+n' positions… built
	// by the recurrence over the largest element: counts for (m, n) =
	// counts for (m−1, n) shifted by n + counts for (m, n−1).
	maxW := m * n
	prev := make([][]float64, n+1) // prev[b] = counts for (a−1, b)
	for b := range prev {
		prev[b] = []float64{1} // a = 0: W = 0 only
	}
	for a := 1; a <= m; a++ {
		cur := make([][]float64, n+1)
		cur[0] = []float64{1}
		for b := 1; b <= n; b++ {
			c := make([]float64, a*b+1)
			// x's largest is the overall largest: W grows by b.
			for k, v := range prev[b] {
				c[k+b] += v
			}
			// y's largest is the overall largest.
			for k, v := range cur[b-1] {
				c[k] += v
			}
			cur[b] = c
		}
		prev = cur
	}
	counts := prev[n]
	if len(counts) < maxW+1 {
		counts = append(counts, make([]float64, maxW+1-len(counts))...)
	}
	var total float64
	for _, v := range counts {
		total += v
	}
	return wilcoxDist{counts: counts, total: total}
}

// cdf is P(W ≤ q).
func (d wilcoxDist) cdf(q int) float64 {
	if q < 0 {
		return 0
	}
	var s float64
	for k := 0; k <= q && k < len(d.counts); k++ {
		s += d.counts[k]
	}
	return math.Min(s/d.total, 1)
}

// quantile is R's qwilcox: the smallest q with P(W ≤ q) ≥ p.
func (d wilcoxDist) quantile(p float64) int {
	var s float64
	for k, v := range d.counts {
		s += v
		if s/d.total >= p*(1-64*2.220446e-16) {
			return k
		}
	}
	return len(d.counts) - 1
}

func sortFloats(v []float64) { slices.Sort(v) }
