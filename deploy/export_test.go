package deploy

import "testing"

// SetTestPoint sets the runner's test hook (testPoint) to f until the
// test ends. Only for tests that do not run in parallel: the hook is the
// package's.
func SetTestPoint(t testing.TB, f func(step string, id ID)) {
	testPoint = f
	t.Cleanup(func() { testPoint = nil })
}

// SetTestFault sets the flow's fault hook (testFault) to f until the test
// ends. Only for tests that do not run in parallel.
func SetTestFault(t testing.TB, f func(step string, id ID) error) {
	testFault = f
	t.Cleanup(func() { testFault = nil })
}
