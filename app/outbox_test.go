package app_test

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// heldOutput passes the console's output on until a write holds text
// (a frozen terminal), and from then on keeps every write waiting until
// the test lets go: the writes then fail, delivering nothing.
type heldOutput struct {
	w    io.Writer
	text []byte

	mu      sync.Mutex
	held    bool
	release chan struct{}
	reached chan struct{} // closed at the first write held
}

func (h *heldOutput) Write(p []byte) (int, error) {
	h.mu.Lock()
	if !h.held && bytes.Contains(p, h.text) {
		h.held = true
		close(h.reached)
	}
	held := h.held
	h.mu.Unlock()
	if held {
		<-h.release
		return 0, errors.New("console output is gone")
	}
	return h.w.Write(p)
}

// A deploy event not yet in chat when jouncebot stops (here the console
// stops taking output at "Code-Review +2 given" while the deploy goes on
// to the test question) is said after the restart, in order, once: the
// events wait in the database, not in memory.
func TestDeployEventsWaitingForChatSurviveARestart(t *testing.T) {
	t.Parallel()
	cfg := demoConfig(t, "")
	now := time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC) // in the afternoon window
	out := &heldOutput{text: []byte("Code-Review +2 given"), release: make(chan struct{}), reached: make(chan struct{})}
	first := runConsoleOut(t, now, cfg, app.Options{}, func(w io.Writer) io.Writer { out.w = w; return out })
	first.stopping = func() { close(out.release) }
	first.expect("Try `jouncebot: plan")
	first.say("jouncebot: deploy 445113")
	first.expect("Deploy 1 started by amir")
	<-out.reached
	// The deploy goes on without chat, to the test question.
	eng := first.app.Sandbox().Engine
	deadline := time.Now().Add(testenv.Scale(2 * time.Minute))
	for {
		d, err := eng.Record("1")
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(d.History, func(e deploy.Entry) bool { return strings.Contains(e.Text, "synced to the testservers") }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deploy did not reach the test question while the console was held; its history:\n%v", d.History)
		}
		time.Sleep(50 * time.Millisecond) // polling the deploy's record, not ordering
	}
	first.stop()

	second := runConsoleConfig(t, now, cfg, app.Options{})
	var lines []string
	next := func(prefix string) {
		t.Helper()
		second.expectLine("starting "+prefix, testenv.Scale(time.Minute), func(l string) bool {
			lines = append(lines, l)
			return strings.HasPrefix(l, prefix)
		})
	}
	// What the first process did not get to say, in the order it was
	// said, then the resumed deploy.
	next("Code-Review +2 given on 445113")
	next("445113 merged.")
	next("amir, alice: Backport for [[gerrit:445113|Raise $wgExampleLimit to 20 (T1001)]] synced to the testservers.")
	next("Resuming deploy 1 (445113) after a restart")
	second.say("tested ok")
	next("amir: deploy 1 is done: 445113.")
	for _, l := range []string{"Code-Review +2 given on 445113", "445113 merged."} {
		if n := countPrefix(lines, l); n != 1 {
			t.Errorf("%q said %d times after the restart, want once:\n%s", l, n, strings.Join(lines, "\n"))
		}
	}
}

// countPrefix counts the lines starting with prefix.
func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}
