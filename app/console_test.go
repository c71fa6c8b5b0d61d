package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// consoleSession runs the built-in default (the example calendar and the
// deploy sandbox) with a console the test types into and reads from.
type consoleSession struct {
	t     *testing.T
	app   *app.App
	in    *io.PipeWriter
	lines chan string
	stop  func() // stops the app and closes its database (also at the test's end)
	// stopping, if set, is called by stop once the app's context is
	// cancelled, before stop waits for the app to return.
	stopping func()
}

func startConsole(t *testing.T, now time.Time) *consoleSession {
	t.Helper()
	return runConsole(t, now, "", nil, app.Options{})
}

// runConsole builds the built-in default with the web server at addr (""
// for none), the configuration changed by adjust (if not nil) and the
// options in o, and runs it with a console the test types into and reads
// from until the test ends.
func runConsole(t *testing.T, now time.Time, addr string, adjust func(*config.Config), o app.Options) *consoleSession {
	t.Helper()
	cfg := demoConfig(t, addr)
	if adjust != nil {
		adjust(cfg)
	}
	return runConsoleConfig(t, now, cfg, o)
}

// demoConfig is the built-in default's configuration (the example file),
// with its data in a new temporary directory and the web server at addr
// ("" for none).
func demoConfig(t *testing.T, addr string) *config.Config {
	t.Helper()
	data, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Demo(data, "config.example.yaml", t.TempDir(), addr)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// runConsoleConfig runs cfg with the options in o and a console the test
// types into and reads from until the test ends (or stop is called).
func runConsoleConfig(t *testing.T, now time.Time, cfg *config.Config, o app.Options) *consoleSession {
	t.Helper()
	return runConsoleOut(t, now, cfg, o, nil)
}

// runConsoleOut is runConsoleConfig with the console's output going
// through out (if not nil) on its way to the test.
func runConsoleOut(t *testing.T, now time.Time, cfg *config.Config, o app.Options, out func(io.Writer) io.Writer) *consoleSession {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	o.Config, o.Log, o.Stdin, o.Stdout = cfg, slog.New(slog.DiscardHandler), inR, io.Writer(outW)
	if out != nil {
		o.Stdout = out(outW)
	}
	if o.Now == nil {
		o.Now = func() time.Time { return now }
	}
	a, err := app.New(o)
	if err != nil {
		t.Fatal(err)
	}
	s := &consoleSession{t: t, app: a, in: inW, lines: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			inW.Close()
			cancel()
			if s.stopping != nil {
				s.stopping()
			}
			<-done
			a.Close()
			outW.Close()
		})
	}
	t.Cleanup(s.stop)
	return s
}

func (s *consoleSession) say(line string) {
	s.t.Helper()
	if _, err := io.WriteString(s.in, line+"\n"); err != nil {
		s.t.Fatal(err)
	}
}

// expect reads lines until one starts with prefix, failing after a minute.
func (s *consoleSession) expect(prefix string) string {
	s.t.Helper()
	return s.expectLine(fmt.Sprintf("starting %q", prefix), testenv.Scale(time.Minute), func(l string) bool { return strings.HasPrefix(l, prefix) })
}

// expectLine reads lines until one matches, failing after within; what
// describes the line for the failure message.
func (s *consoleSession) expectLine(what string, within time.Duration, match func(string) bool) string {
	s.t.Helper()
	deadline := time.After(within)
	var seen []string
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				s.t.Fatalf("console closed waiting for a line %s; saw:\n%s", what, strings.Join(seen, "\n"))
			}
			if match(l) {
				return l
			}
			seen = append(seen, l)
		case <-deadline:
			s.t.Fatalf("no line %s within %s; saw:\n%s", what, within, strings.Join(seen, "\n"))
		}
	}
}

// A newcomer's whole session in the built-in default: queue a change,
// deploy it through the sandbox's stages with "tested ok", and see it
// logged and marked deployed in the window's queue. A freeze blocks a
// deploy without --force.
func TestConsoleDeploySession(t *testing.T) {
	t.Parallel()
	s := startConsole(t, time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC)) // in the afternoon window
	s.expect("Try `jouncebot: plan")

	s.say("jouncebot: add 445113")
	s.expect("Queued change 445113 for UTC afternoon backport window (14:00–15:00 UTC); 1 of 6 patches queued.")

	s.say("jouncebot: freeze 2026-11-25 2026-11-26 incident follow-up")
	s.expect("Freeze 1 recorded")
	s.say("jouncebot: deploy 445113")
	s.expect("Deploys are frozen: incident follow-up until 2026-11-26 00:00 UTC.")
	s.say("jouncebot: unfreeze 1")
	s.expect("Freeze 1 lifted.")

	s.say("jouncebot: deploy 445113")
	s.expect("Deploy 1 started by amir")
	s.expect("445113 merged.")
	s.expect("amir, alice: Backport for [[gerrit:445113|Raise $wgExampleLimit to 20 (T1001)]] synced to the testservers.")
	s.say("tested ok")
	s.expect("production: synced 5/5 hosts")
	s.expect("Finished sync: Backport for [[gerrit:445113|Raise $wgExampleLimit to 20 (T1001)]]")
	s.expect("amir: deploy 1 is done: 445113.")

	s.say("jouncebot: sal 445113")
	s.expect("The 3 newest of 4 matching Server Admin Log entries (all: /sal?q=445113)")
	// The queue shows the change deployed (marked as the deploy finished).
	s.waitQueue("445113 by Alice", "— deployed")
}

// "tested fail" rolls the deploy back, and the window's queue keeps the
// change marked: merged but not live, needing a revert.
func TestConsoleRollbackMarksQueue(t *testing.T) {
	t.Parallel()
	s := startConsole(t, time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC))
	s.expect("Try `jouncebot: plan")
	s.say("jouncebot: add 445113")
	s.expect("Queued change 445113")
	s.say("jouncebot: deploy 445113")
	s.expect("amir, alice: Backport for [[gerrit:445113|Raise $wgExampleLimit to 20 (T1001)]] synced to the testservers.")
	s.expect(`Reply "tested ok"`)
	// status quotes the whole test request, not its first line.
	s.say("jouncebot: status")
	s.expect("Deploy 1 by Amir")
	next := func() string {
		return s.expectLine("at all", testenv.Scale(time.Minute), func(string) bool { return true })
	}
	if l := next(); !strings.HasPrefix(l, `- 445113 "Raise $wgExampleLimit to 20" (patchset 1) owner alice`) {
		t.Errorf("status does not go on with the changes to test: %q", l)
	}
	if l := next(); !strings.HasPrefix(l, `Reply "tested ok"`) {
		t.Errorf("status does not end with what to reply: %q", l)
	}
	s.say("tested fail")
	// Each fact once: the change stays merged, staging holds it.
	l := s.expect("amir: deploy 1 stopped: Rolled back because Amir said the changes do not work on testservers")
	if n := strings.Count(l, "merged in Gerrit"); n != 1 {
		t.Errorf("the stop says %d times that the change stays merged: %s", n, l)
	}
	s.waitQueue("445113 by Alice", "— rolled back: merged but not live; revert it before the next deploy")
}

// waitQueue asks for the afternoon window's queue until the line starting
// with entry ends with state (the queue is marked as the deploy finishes),
// failing after 30 seconds.
func (s *consoleSession) waitQueue(entry, state string) {
	s.t.Helper()
	deadline := time.Now().Add(testenv.Scale(30 * time.Second))
	for {
		s.say("jouncebot: queue")
		s.expect("UTC afternoon backport window (14:00–15:00 UTC)")
		if l := s.expect(entry); strings.HasSuffix(l, state) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s never marked %q in the queue", entry, state)
		}
	}
}

// A revert produces the tree from before the deploy, a release frozen
// before with other staging commits: the deploy says nothing about
// staging having changed, as nobody touched it.
func TestConsoleRevertToAFrozenTree(t *testing.T) {
	t.Parallel()
	s := startConsole(t, time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC))
	s.expect("Try `jouncebot: plan")
	s.say("jouncebot: deploy 445113")
	s.expect("amir, alice: Backport for [[gerrit:445113|Raise $wgExampleLimit to 20 (T1001)]] synced to the testservers.")
	s.say("tested ok")
	s.expect("amir: deploy 1 is done: 445113.")
	s.say("jouncebot: revert 445113 the limit breaks uploads")
	var drift []string
	s.expectLine(`"revert 2 is done"`, testenv.Scale(time.Minute), func(l string) bool {
		if strings.Contains(l, "staging changed") {
			drift = append(drift, l)
		}
		return strings.Contains(l, "revert 2 is done") || strings.Contains(l, "stopped")
	})
	if len(drift) > 0 {
		t.Errorf("the revert warned of a change in staging nobody made:\n%s", strings.Join(drift, "\n"))
	}
}

// A word that is not a change is refused as such before the deploy policy
// is asked: the policy's answer would suggest `deploy --force abc`.
func TestConsoleDeployOfNoChange(t *testing.T) {
	t.Parallel()
	s := startConsole(t, time.Date(2026, 11, 25, 20, 20, 0, 0, time.UTC)) // outside any window
	s.expect("Try `jouncebot: plan")
	s.say("jouncebot: deploy abc")
	s.expect(`"abc" is not a valid change number or URL; give a number like 445113 or a Gerrit link.`)
	s.say("jouncebot: revert --force abc oops")
	s.expect(`"abc" is not a valid change number or URL; give a number like 445113 or a Gerrit link.`)
}
