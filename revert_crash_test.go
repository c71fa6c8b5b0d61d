package main

import (
	"encoding/json"
	"path/filepath"
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

// A revert whose process stops around its SAL lines or its comments on
// Gerrit (the workflow points of the push-revert step's effects) writes
// its "Reverted … locally and synced" SAL line once after the restart:
// the Server Admin Log is the record of what production runs, and the
// comments on Gerrit being made at most once must not take the SAL line
// with them (before, a stop at intent:revert-comment lost it for good).
func TestRevertCrashAroundItsEffectsKeepsSALLine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two jouncebot processes per point")
	}
	for _, p := range []string{"intent:revert-sal", "done:revert-sal", "intent:revert-comment", "done:revert-comment"} {
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
			second.waitLine("Pushed the revert of 445113")
			second.waitLine("revert 2 is done", "deploy 2 is done", "deploy 2 stopped")
			second.quit()
			n := 0
			msgs := salMessages(t, data)
			for _, m := range msgs {
				if strings.HasPrefix(m, "Reverted ") {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d \"Reverted …\" SAL lines after a restart at %s, want 1:\n%s", n, p, strings.Join(msgs, "\n"))
			}
		})
	}
}
