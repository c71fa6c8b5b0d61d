package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/store"
)

// TestCrashAtEveryWorkflowPoint is the crash matrix generated from the
// deploy's own workflow: for every point the sandbox deploy's workflow
// lists (after each step's completion is recorded, and around each side
// effect made by key: the +2, each host's sync, each SAL line of the
// sync), the process stops there for good, is killed and
// started again, and the deploy finishes with every side effect made
// once: one +2, each host synced once, the SAL lines in pairs and each
// announcement said once.
func TestCrashAtEveryWorkflowPoint(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two jouncebot processes per point of the workflow")
	}
	needTools(t, "git", "rsync")
	points := sandboxPoints(t)
	// Every host's sync and every SAL line of the sync has its points,
	// so the matrix stops between two hosts and around each line.
	want := []string{"intent:sal/start-sync", "done:sal/start-sync", "intent:sal/finished-sync", "done:sal/finished-sync"}
	for _, st := range deploy.SandboxStages {
		for _, h := range st.Hosts {
			want = append(want, "intent:sync/"+st.Name+"/"+h, "done:sync/"+st.Name+"/"+h)
		}
	}
	wantPoints(t, "the workflow's", points, want...)
	// The test question is asked inside the first sync stage: a point
	// from its completion on is reached only after "tested ok".
	asked := slices.Index(points, "after:"+deploy.SandboxStages[0].Name)
	if asked < 0 {
		t.Fatalf("the workflow's points %v do not include the first sync stage's completion", points)
	}
	for i, p := range points {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			tested := i >= asked
			data := t.TempDir()
			first := startSandboxBot(t, data, "JOUNCEBOT_TEST_CRASH_AT="+p)
			first.waitLine("Try `jouncebot: plan")
			first.say("deploy --force 445113 crash test")
			if tested {
				first.waitLine("Please test it there")
				first.say("tested ok")
			}
			first.waitLine("test crash point " + p + " reached")
			first.kill()

			second := startSandboxBot(t, data)
			second.waitLine("Resuming deploy 1 (445113) after a restart")
			if !tested {
				second.waitLine("Please test it there")
				second.say("tested ok")
			}
			second.waitLine("deploy 1 is done: 445113.", "deploy 1 stopped: ")
			second.quit()
			chat := first.output() + "\n" + second.output()
			// Said exactly once by the deploy (its history, written in
			// bbolt as it says a line), and at least once in chat: a line
			// still waiting for the chat when the first process was
			// killed waits in the database and is sent after the
			// restart; only the one being sent at the kill may be sent
			// twice (README, "After a restart").
			history := deployHistory(t, data)
			checkCrashRun(t, data, chat+"\n"+strings.Join(history, "\n"), false)
			twice := 0
			for _, said := range []string{"Code-Review +2 given on 445113", "445113 merged.", "Froze release ", "deploy 1 is done: 445113."} {
				if n := countIn(history, said); n != 1 {
					t.Errorf("%q in the deploy's history %d times, want once:\n%s", said, n, strings.Join(history, "\n"))
				}
				switch n := countSaid(chat, said); {
				case n == 0:
					t.Errorf("%q never said in chat:\n%s", said, chat)
				case n == 2 && twice == 0:
					twice++ // the line in flight at the kill
				case n > 1:
					t.Errorf("%q said %d times in chat, want once (twice for the one line being sent at the kill):\n%s", said, n, chat)
				}
			}
			if n := countSaid(second.output(), "deploy 1 is done: 445113."); n != 1 {
				t.Errorf("the restarted process said %q %d times, want once:\n%s", "deploy 1 is done: 445113.", n, second.output())
			}
		})
	}
}

// TestCrashAtEveryRollbackPoint is the crash matrix of a rollback,
// generated from the rollback's own workflow: the deployer answers
// "tested fail", the process stops for good at a point of the rollback
// (around its SAL lines, after each of its steps), is killed and started
// again, and the rollback finishes once: the test servers hold the tree
// from before, "Rolling back" is in the history once, each SAL line of
// the rollback is written once.
func TestCrashAtEveryRollbackPoint(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two jouncebot processes per point of the rollback")
	}
	needTools(t, "git", "rsync")
	points := sandboxFlows(t).rollback
	wantPoints(t, "the rollback's", points, "rollback/intent:sal/start-rollback", "rollback/done:sal/finish-rollback", "rollback/after:stage/"+deploy.SandboxStages[0].Name, "rollback/after:outcome")
	for _, p := range points {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			data := t.TempDir()
			first := atTestQuestion(t, data, "JOUNCEBOT_TEST_CRASH_AT="+p)
			first.say("tested fail")
			first.waitLine("test crash point " + p + " reached")
			first.kill()

			second := startSandboxBot(t, data)
			second.waitLine("Resuming deploy 1 (445113) after a restart")
			stop := second.waitLine("deploy 1 stopped: ")
			second.quit()
			if !strings.Contains(stop, "said the changes do not work on testservers (tested fail): 1 host holds the previous tree again, verified byte for byte.") {
				t.Errorf("the deploy stopped without saying it was rolled back: %s", stop)
			}
			history := deployHistory(t, data)
			chat := first.output() + "\n" + second.output()
			checkCrashRun(t, data, chat+"\n"+strings.Join(history, "\n"), true)
			if n := countIn(history, "Rolling back "); n != 1 {
				t.Errorf("%q in the deploy's history %d times, want once:\n%s", "Rolling back ", n, strings.Join(history, "\n"))
			}
			for _, line := range []string{"Started rollback ", "Finished rollback "} {
				if n := countIn(salMessages(t, data), line); n != 1 {
					t.Errorf("SAL line %q written %d times, want once:\n%s", line, n, strings.Join(salMessages(t, data), "\n"))
				}
			}
		})
	}
}

// atTestQuestion starts a sandbox jouncebot in data with env, asks it
// to deploy 445113 and returns it once it asks for the test.
func atTestQuestion(t *testing.T, data string, env ...string) *sandboxBot {
	t.Helper()
	b := startSandboxBot(t, data, env...)
	b.waitLine("Try `jouncebot: plan")
	b.say("deploy --force 445113 crash test")
	b.waitLine("Please test it there")
	return b
}

// sandboxPoints are the crash points of a deploy in the sandbox, from the
// workflow of an engine built as the default run builds it.
func sandboxPoints(t *testing.T) []string {
	t.Helper()
	return sandboxFlows(t).deploy
}

// flowPoints are the crash points of each workflow of the sandbox.
type flowPoints struct{ deploy, revert, rollback []string }

// sandboxFlows are the crash points of a deploy in the sandbox, of a
// revert and of a rollback, from the workflows of an engine built as the
// default run builds it.
func sandboxFlows(t *testing.T) flowPoints {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "jouncebot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sb, err := deploy.NewSandbox(filepath.Join(dir, "sandbox"), db, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	var f flowPoints
	_, f.deploy = sb.Engine.Steps(&deploy.Deploy{})
	_, f.revert = sb.Engine.Steps(&deploy.Deploy{Revert: &deploy.RevertRecord{}})
	f.rollback = sb.Engine.RollbackPoints()
	return f
}

// deployHistory is every line the deploys in the data directory said, as
// their records in bbolt hold them.
func deployHistory(t *testing.T, data string) []string {
	t.Helper()
	var lines []string
	eachRecord(t, data, store.Deploys, func(v []byte) error {
		var d struct{ History []struct{ Text string } }
		if err := json.Unmarshal(v, &d); err != nil {
			return err
		}
		for _, e := range d.History {
			lines = append(lines, e.Text)
		}
		return nil
	})
	return lines
}

// countIn counts the lines holding s.
func countIn(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// countSaid counts the chat lines (not the log's) holding s.
func countSaid(chat, s string) int {
	n := 0
	for _, l := range strings.Split(chat, "\n") {
		if !strings.HasPrefix(l, "log: ") && strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// wantPoints fails the test for each of want missing from points, the
// crash points of whose workflow.
func wantPoints(t *testing.T, whose string, points []string, want ...string) {
	t.Helper()
	for _, p := range want {
		if !slices.Contains(points, p) {
			t.Errorf("%s points %v do not include %s", whose, points, p)
		}
	}
}
