// Package testenv fits the time limits of tests to the machine they run
// on. A limit on waiting for a real server (a deadline, a "took at most"
// bound) is written for a quiet machine and passed through Scale, so that a
// busy machine (CI, or ../shared/load-test.sh) makes the test slower, not
// red:
//
//	deadline := time.Now().Add(testenv.Scale(10 * time.Second))
//
// The factor is JOUNCEBOT_TEST_SCALE (a positive number; e.g. 10 on a very
// slow machine) and 3 by default. Tests that control time themselves
// (testing/synctest) need none of this.
package testenv

import (
	"os"
	"strconv"
	"sync"
	"time"
)

// DefaultFactor is the factor when JOUNCEBOT_TEST_SCALE is not set: generous
// enough for a two-core machine with other work running.
const DefaultFactor = 3

// Factor is how much longer than on a quiet machine a test may wait.
var Factor = sync.OnceValue(func() float64 {
	if f, err := strconv.ParseFloat(os.Getenv("JOUNCEBOT_TEST_SCALE"), 64); err == nil && f > 0 {
		return f
	}
	return DefaultFactor
})

// Scale returns d stretched by Factor.
func Scale(d time.Duration) time.Duration {
	return time.Duration(float64(d) * Factor())
}
