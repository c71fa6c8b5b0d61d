package release_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/release"
)

// heldLog is where the store records what each host holds.
func heldLog(s *release.Store) string { return filepath.Join(s.Dir, "hosts", "held.log") }

// The store's record of what a host holds is a log appended to, so a
// crash of the machine can leave its last record cut short, or leave a
// record that says more than the host got. Whatever the log says when
// jouncebot starts again, the next transfer must leave the host holding
// its release exactly: the record is only a hint, which the transfer
// checks against the host's marker. Cuts of the two records of a
// transfer (the host forgotten, then the new release recorded) is tried,
// and a new record that reached the disk although the transfer did not.
func TestTornHeldRecord(t *testing.T) {
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("rsync is not installed")
	}
	ctx := context.Background()
	s, r1, r2 := twoReleases(t)
	verify := &hostsync.Verify{}
	for i := 0; ; i++ {
		h := hostsync.Host{Name: "mw1", Dest: filepath.Join(t.TempDir(), "mw1")}
		// The host holds r1, the store says so.
		s = &release.Store{Dir: s.Dir}
		if err := os.RemoveAll(filepath.Dir(heldLog(s))); err != nil {
			t.Fatal(err)
		}
		if err := (&release.Marked{Method: &hostsync.Rsync{}, Release: r1, Store: s}).Sync(ctx, h, "", nil); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(heldLog(s))
		if err != nil || !strings.HasSuffix(string(b), " "+r1.ID+"\n") {
			t.Fatalf("the log does not record %s holding %s: %q (%v)", h.Dest, r1.ID, b, err)
		}
		held := string(b)
		key := held[len(held)-len(r1.ID)-2-32 : len(held)-len(r1.ID)-2]
		forgotten := key + " " + strings.Repeat("-", len(r1.ID)) + "\n"
		next := key + " " + r2.ID + "\n"
		var cases []struct{ name, log string }
		// Cut within the key, at the space, within the id, before
		// the newline, and whole.
		for _, k := range []int{0, 1, 31, 32, 33, 52, 53, 54} {
			cases = append(cases,
				struct{ name, log string }{"forgetting cut", held + forgotten[:k]},
				struct{ name, log string }{"recording cut", held + forgotten + next[:k]})
		}
		cases = append(cases,
			struct{ name, log string }{"recorded, not transferred", held + forgotten + next},
			struct{ name, log string }{"garbage", held + strings.Repeat("x", len(next))},
			struct{ name, log string }{"empty", ""})
		if i == len(cases) {
			break
		}
		c := cases[i]
		if err := os.WriteFile(heldLog(s), []byte(c.log), 0o644); err != nil {
			t.Fatal(err)
		}
		s = &release.Store{Dir: s.Dir} // jouncebot started again
		if err := (&release.Marked{Method: &hostsync.Rsync{}, Release: r2, Store: s}).Sync(ctx, h, "", nil); err != nil {
			t.Fatalf("%s (%q): %v", c.name, c.log, err)
		}
		b, _ = os.ReadFile(filepath.Join(h.Dest, "php-1.0/includes/Hooks.php"))
		if err := release.Holds(ctx, verify, h, r2); err != nil || string(b) != "<?php\n// v2\n" {
			t.Errorf("%s (%q): the host does not hold release %s (marker: %v; Hooks.php %q)", c.name, c.log, r2.ID, err, b)
		}
		if got := (&release.Store{Dir: s.Dir}).Held(h.Dest); got != r2.ID {
			t.Errorf("%s: after the transfer the log says %s holds %q, want %s", c.name, h.Dest, got, r2.ID)
		}
	}
}
