package deploy

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/release"
	"github.com/jouncebot/jouncebot/deploy/step"
)

// pauseAt names the step at which a test wants the deploy to wait (the
// environment variable JOUNCEBOT_TEST_PAUSE_AT); empty in production.
var pauseAt = os.Getenv("JOUNCEBOT_TEST_PAUSE_AT")

// pausePoint is a test hook like step.CrashPoint: when step is the one named by
// JOUNCEBOT_TEST_PAUSE_AT, the deploy says so on stderr and waits there
// until a line arrives on the process's standard input, so a test orders
// the step against what it does meanwhile (reconnect a client, answer)
// instead of guessing with sleeps. Otherwise it does nothing. Steps:
//
//   - resume: after a restart, before the unfinished deploys are resumed
//     (the process already answers: a deploy agent serves its status and
//     the pending question meanwhile).
func pausePoint(step string) {
	if pauseAt == "" || pauseAt != step {
		return
	}
	fmt.Fprintf(os.Stderr, "jouncebot: test pause point %s reached\n", step)
	bufio.NewReader(os.Stdin).ReadString('\n')
	fmt.Fprintf(os.Stderr, "jouncebot: test pause point %s released\n", step)
}

// testPoint, set only by the package's tests (export_test.go), is
// called at steps of a deploy's runner a test must order its own calls
// against, where no event tells it the runner got there; nil in
// production. Steps:
//
//   - pausing: the deploy is about to pause for a new patchset.
//   - paused: the deploy's flow returned because the deploy paused, and
//     its runner has not let go of it yet.
//   - busy: the deploy was set to run while a runner held it.
//   - stopped: the deploy's run returned (for any reason), and its
//     runner has not let go of it yet.
//   - released: the deploy's runner let go of it.
//   - gate timeout: a testing gate found its timeout passed with no
//     verdict and is about to act on it.
var testPoint func(step string, id ID)

// testFault, set only by the package's tests (export_test.go), is asked
// before each step of a deploy's flow ("before <step>") whether reading
// the deploy's record fails there, as a full disk or a broken database
// would make it; nil in production.
var testFault func(step string, id ID) error

// crashMethod stops at the crash point step after a host's tree was
// synced, before its release marker is written.
type crashMethod struct {
	hostsync.Method
	step string
}

func (m crashMethod) Sync(ctx context.Context, h hostsync.Host, src string, paths []string) error {
	err := m.Method.Sync(ctx, h, src, paths)
	if err == nil && !slices.Equal(paths, []string{release.MarkerName}) {
		step.CrashPoint(m.step)
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
		step.CrashPoint(m.step)
	}
	return out, err
}

// withCrashPoint wraps m with the crash point step when a test asks for it.
func withCrashPoint(m hostsync.Method, point string) hostsync.Method {
	if !step.CrashingAt(point) {
		return m
	}
	return crashMethod{Method: m, step: point}
}
