package canary

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Line says the analysis in one chat line: how many metrics pass, each
// metric's shift with its interval, the score and the verdict, e.g.
//
//	canary analysis: 1/2 metrics pass (errors high: +2.5/min (+104%), 99% CI +1.8…+3.3; p95 latency +3 ms (+1%), 99% CI −4…+9), score 50: fail
func (r Report) Line() string {
	var withData, pass int
	parts := make([]string, 0, len(r.Results))
	for _, m := range r.Results {
		parts = append(parts, m.Phrase())
		if m.Class == ClassNoData {
			continue
		}
		withData++
		if m.Class == ClassPass {
			pass++
		}
	}
	score := "no score"
	if !math.IsNaN(r.Score) {
		score = fmt.Sprintf("score %.0f", r.Score)
	}
	return fmt.Sprintf("canary analysis: %d/%d metrics pass (%s), %s: %s", pass, withData, strings.Join(parts, "; "), score, r.Verdict)
}

// Phrase says one metric's result: "errors +0.2/min (+4%), 99% CI −0.1…+0.4".
func (m Result) Phrase() string {
	name := m.Metric.Name
	if m.Class == ClassNoData {
		return name + ": no data, " + m.Reason
	}
	if m.Failed() {
		name += " " + string(m.Class) + ":"
	}
	// Rounding noise of the arithmetic is not a shift.
	scale := math.Max(math.Abs(m.BaselineMedian), math.Abs(m.CanaryMedian))
	shift := m.Test.Shift
	if math.Abs(shift) <= 1e-9*scale {
		shift = 0
	}
	s := fmt.Sprintf("%s %s%s", name, Signed(shift), m.Metric.Unit)
	if !math.IsNaN(m.Relative) {
		s += fmt.Sprintf(" (%s%%)", Signed(math.Round(1000*m.Relative)/10))
	}
	return s + fmt.Sprintf(", %.0f%% CI %s…%s", 100*m.Confidence, Signed(m.Test.Low), Signed(m.Test.High))
}

// Signed writes x with its sign and about two significant digits:
// +0.2, −1.1, +12.5, +120, −∞.
func Signed(x float64) string {
	switch {
	case math.IsInf(x, 1):
		return "+∞"
	case math.IsInf(x, -1):
		return "−∞"
	case x == 0:
		return "0"
	}
	a := math.Abs(x)
	var s string
	switch {
	case a >= 100:
		s = strconv.FormatFloat(a, 'f', 0, 64)
	case a >= 10:
		s = strconv.FormatFloat(a, 'f', 1, 64)
	case a >= 0.001:
		s = strconv.FormatFloat(a, 'f', -1, 64)
		s = strconv.FormatFloat(a, 'f', max(0, 1-int(math.Floor(math.Log10(a)))), 64)
	default:
		s = strconv.FormatFloat(a, 'e', 1, 64)
	}
	if strings.Contains(s, ".") && !strings.Contains(s, "e") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if x < 0 {
		return "−" + s
	}
	return "+" + s
}
