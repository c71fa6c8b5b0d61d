package readiness

import (
	"fmt"
	"slices"
	"time"
)

// Sample is one past deploy: how long it took per patch and what kind of
// change it deployed ("config", "core", "submodule"; "" when mixed).
type Sample struct {
	Kind     string
	PerPatch time.Duration
}

// Documented defaults for the window estimate.
const (
	// DefaultMedian and Default90 are one patch's time when there is no
	// deploy history.
	DefaultMedian = 10 * time.Minute
	Default90     = 15 * time.Minute
	// L10nExtra is added for a patch that touches localisation files.
	L10nExtra = 10 * time.Minute
	// minSamples is how many deploys of a kind the estimate needs before
	// it uses that kind's figures rather than all deploys'.
	minSamples = 3
)

// perPatch estimates one patch of a kind: the median and the 90th
// percentile of past deploys of that kind (of all deploys when there are
// fewer than minSamples of it), else the defaults.
func perPatch(history []Sample, kind string) (median, p90 time.Duration, n int) {
	var ds []time.Duration
	for _, s := range history {
		if s.Kind == kind {
			ds = append(ds, s.PerPatch)
		}
	}
	if len(ds) < minSamples {
		ds = ds[:0]
		for _, s := range history {
			ds = append(ds, s.PerPatch)
		}
	}
	if len(ds) == 0 {
		return DefaultMedian, Default90, 0
	}
	slices.Sort(ds)
	return ds[(len(ds)-1)/2], ds[(len(ds)*9+9)/10-1], len(ds)
}

// estimateFrom says where the figures come from.
func estimateFrom(history []Sample) string {
	if len(history) == 0 {
		return fmt.Sprintf("no deploy history yet: %s per patch, %s at the 90th percentile", Minutes(DefaultMedian), Minutes(Default90))
	}
	return fmt.Sprintf("the median and 90th percentile of the last %d deploys, per kind of change", len(history))
}
