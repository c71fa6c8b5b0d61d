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

// The store's record of what a host holds is overwritten in place, so a
// write cut short by a crash leaves the start of the new record over the
// rest of the old one. Whatever such a record says, the next transfer
// must leave the host holding its release exactly: the record is only a
// hint, which the transfer checks against the host's marker. Every cut of
// the two writes of a transfer (the record forgotten, then the new
// release recorded) is tried, and the cut of the new record over the old
// one too (the forgetting never reached the disk).
func TestTornHeldRecord(t *testing.T) {
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("rsync is not installed")
	}
	ctx := context.Background()
	s, r1, r2 := twoReleases(t)
	forgotten := strings.Repeat("-", len(r1.ID)) + "\n"
	old, next := r1.ID+"\n", r2.ID+"\n"
	var cases []struct{ name, rec string }
	for k := 0; k <= len(next); k++ {
		cases = append(cases,
			struct{ name, rec string }{"forgetting cut", forgotten[:k] + old[k:]},
			struct{ name, rec string }{"recording cut", next[:k] + forgotten[k:]},
			struct{ name, rec string }{"recording over the old record cut", next[:k] + old[k:]})
	}
	verify := &hostsync.Verify{}
	for _, c := range cases {
		h := hostsync.Host{Name: "mw1", Dest: filepath.Join(t.TempDir(), "mw1")}
		// The host holds r1, the store says so.
		if err := (&release.Marked{Method: &hostsync.Rsync{}, Release: r1, Store: s}).Sync(ctx, h, "", nil); err != nil {
			t.Fatal(err)
		}
		recs, _ := filepath.Glob(filepath.Join(s.Dir, "hosts", "*"))
		var p string
		for _, r := range recs {
			if b, _ := os.ReadFile(r); string(b) == old {
				p = r
			}
		}
		if p == "" {
			t.Fatalf("no record of %s holding %s among %v", h.Dest, r1.ID, recs)
		}
		if err := os.WriteFile(p, []byte(c.rec), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := (&release.Marked{Method: &hostsync.Rsync{}, Release: r2, Store: s}).Sync(ctx, h, "", nil); err != nil {
			t.Fatalf("%s (%q): %v", c.name, c.rec, err)
		}
		b, _ := os.ReadFile(filepath.Join(h.Dest, "php-1.0/includes/Hooks.php"))
		if err := release.Holds(ctx, verify, h, r2); err != nil || string(b) != "<?php\n// v2\n" {
			t.Errorf("%s (%q): the host does not hold release %s (marker: %v; Hooks.php %q)", c.name, c.rec, r2.ID, err, b)
		}
		os.Remove(p)
	}
}
