package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// salMessages are the Server Admin Log's messages in the data directory.
func salMessages(t *testing.T, data string) []string {
	t.Helper()
	var msgs []string
	eachRecord(t, data, store.SALEntries, func(v []byte) error {
		var e struct{ Message string }
		json.Unmarshal(v, &e)
		msgs = append(msgs, e.Message)
		return nil
	})
	return msgs
}

// eachRecord calls each with every value of bucket in the data
// directory's database, in key order, and fails the test on an error.
func eachRecord(t *testing.T, data string, bucket []byte, each func(v []byte) error) {
	t.Helper()
	db, err := store.Open(filepath.Join(data, "jouncebot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(_, v []byte) error { return each(v) })
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A revert whose process stops at a point of its workflow that a
// deploy's has not (after its own steps, around its SAL lines and its
// comments on Gerrit; the points it shares with a deploy's are tried by
// TestCrashAtEveryWorkflowPoint) finishes after the restart and writes
// its "Reverted … locally and synced" SAL line once: the Server Admin
// Log is the record of what production runs, and the comments on Gerrit
// being made at most once must not take the SAL line with them (before,
// a stop at intent:revert-comment lost it for good).
func TestCrashAtEveryRevertPoint(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two jouncebot processes per point")
	}
	flows := sandboxFlows(t)
	var points []string
	for _, p := range flows.revert {
		if !slices.Contains(flows.deploy, p) {
			points = append(points, p)
		}
	}
	wantPoints(t, "the revert's own", points, "after:revert", "after:push-revert", "intent:revert-sal", "done:revert-sal", "intent:revert-comment", "done:revert-comment")
	for _, p := range points {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			data := t.TempDir()
			first := atTestQuestion(t, data, "JOUNCEBOT_TEST_CRASH_AT="+p)
			first.say("tested ok")
			first.waitLine("deploy 1 is done: 445113.")
			first.say("revert --force 445113 crash test")
			first.waitLine("test crash point " + p + " reached")
			first.kill()

			second := startSandboxBot(t, data)
			second.waitLine("Resuming deploy 2")
			if end := second.waitLine("revert 2 is done", "deploy 2 is done", "deploy 2 stopped"); !strings.Contains(end, "revert 2 is done") {
				t.Errorf("the revert did not finish after a restart at %s: %s", p, end)
			}
			second.quit()
			history := deployHistory(t, data)
			if n := countIn(history, "Pushed the revert of 445113"); n != 1 {
				t.Errorf("%q in the deploys' history %d times, want once:\n%s", "Pushed the revert of 445113", n, strings.Join(history, "\n"))
			}
			msgs := salMessages(t, data)
			if n := countIn(msgs, "Reverted "); n != 1 {
				t.Errorf("%d \"Reverted …\" SAL lines after a restart at %s, want 1:\n%s", n, p, strings.Join(msgs, "\n"))
			}
		})
	}
}
