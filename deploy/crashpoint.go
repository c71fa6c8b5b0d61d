package deploy

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/release"
)

// crashAt names the step at which a test wants the process to stop (the
// environment variable JOUNCEBOT_TEST_CRASH_AT); empty in production.
var crashAt = os.Getenv("JOUNCEBOT_TEST_CRASH_AT")

// crashPoint is a test hook for the crash matrix: when step is the one
// named by JOUNCEBOT_TEST_CRASH_AT, the deploy says so on stderr and stops
// there for good, so the test kills the process at exactly that point
// instead of guessing with sleeps. Otherwise it does nothing.
func crashPoint(step string) {
	if crashAt == "" || crashAt != step {
		return
	}
	fmt.Fprintf(os.Stderr, "jouncebot: test crash point %s reached\n", step)
	select {}
}

// crashMethod stops at the crash point step after a host's tree was
// synced, before its release marker is written.
type crashMethod struct {
	hostsync.Method
	step string
}

func (m crashMethod) Sync(ctx context.Context, h hostsync.Host, src string, paths []string) error {
	err := m.Method.Sync(ctx, h, src, paths)
	if err == nil && !slices.Equal(paths, []string{release.MarkerName}) {
		crashPoint(m.step)
	}
	return err
}

// Deliver implements hostsync.Deliverer: the transfer (marker included),
// then the crash point.
func (m crashMethod) Deliver(ctx context.Context, h hostsync.Host, src string, t hostsync.Transfer) ([]string, error) {
	d, ok := m.Method.(hostsync.Deliverer)
	if !ok {
		return nil, fmt.Errorf("%T cannot deliver", m.Method)
	}
	out, err := d.Deliver(ctx, h, src, t)
	// (Not after a failed transfer's claim is taken back: that is no
	// step of the deploy.)
	if err == nil && !(len(t.Paths) == 1 && strings.HasPrefix(t.Paths[0], hostsync.ClaimDir+"/")) {
		crashPoint(m.step)
	}
	return out, err
}

// withCrashPoint wraps m with the crash point step when a test asks for it.
func withCrashPoint(m hostsync.Method, step string) hostsync.Method {
	if crashAt != step {
		return m
	}
	return crashMethod{Method: m, step: step}
}
