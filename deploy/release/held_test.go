package release_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/release"
)

// A data directory of the format before the log holds one file per host
// (hosts/<key>, the id of its release). The store takes them in: hosts
// keep getting only what changed after an upgrade, not a whole release.
func TestHeldRecordsOfTheOldFormat(t *testing.T) {
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("rsync is not installed")
	}
	ctx := context.Background()
	s, r1, r2 := twoReleases(t)
	h := hostsync.Host{Name: "mw1", Dest: filepath.Join(t.TempDir(), "mw1")}
	if err := (&release.Marked{Method: &hostsync.Rsync{}, Release: r1, Store: s}).Sync(ctx, h, "", nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(heldLog(s))
	key := string(b[len(b)-len(r1.ID)-2-32 : len(b)-len(r1.ID)-2])
	os.Remove(heldLog(s))
	write(t, filepath.Join(s.Dir, "hosts", key), r1.ID+"\n", 0o644)

	s = &release.Store{Dir: s.Dir}
	if got := s.Held(h.Dest); got != r1.ID {
		t.Fatalf("after the upgrade the store says %s holds %q, want %s", h.Dest, got, r1.ID)
	}
	m := &release.Marked{Method: &countingDeliverer{Rsync: &hostsync.Rsync{}}, Release: r2, Store: s}
	if err := m.Sync(ctx, h, "", nil); err != nil {
		t.Fatal(err)
	}
	if got := m.Method.(*countingDeliverer).whole; got != 0 {
		t.Errorf("a host the old record knew got the whole release %d time(s)", got)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "hosts", key)); !os.IsNotExist(err) {
		t.Errorf("the old record is still there (%v)", err)
	}
	if err := release.Holds(ctx, &hostsync.Verify{}, h, r2); err != nil {
		t.Error(err)
	}
}

// countingDeliverer counts the transfers of a whole release.
type countingDeliverer struct {
	*hostsync.Rsync
	whole int
}

func (c *countingDeliverer) Deliver(ctx context.Context, h hostsync.Host, src string, t hostsync.Transfer) ([]string, error) {
	if t.Paths == nil {
		c.whole++
	}
	return c.Rsync.Deliver(ctx, h, src, t)
}

// The log does not grow with the number of transfers: it is rewritten
// with one record per host when it holds many more.
func TestHeldLogStaysSmall(t *testing.T) {
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("rsync is not installed")
	}
	ctx := context.Background()
	s, r1, r2 := twoReleases(t)
	h := hostsync.Host{Name: "mw1", Dest: filepath.Join(t.TempDir(), "mw1")}
	for i := range 1500 {
		r := r1
		if i%2 == 1 {
			r = r2
		}
		m := &release.Marked{Method: nopDeliverer{}, Release: r, Store: s}
		if err := m.Sync(ctx, h, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(heldLog(s))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 1100*54 {
		t.Errorf("after 3,000 records of one host the log is %d bytes", fi.Size())
	}
	if got := (&release.Store{Dir: s.Dir}).Held(h.Dest); got != r2.ID {
		t.Errorf("read again, the log says %s holds %q, want %s", h.Dest, got, r2.ID)
	}
}

// Asking what hosts hold creates nothing: a store never written to has
// no log.
func TestHeldAsksWithoutWriting(t *testing.T) {
	s := &release.Store{Dir: filepath.Join(t.TempDir(), "releases")}
	if got := s.Held("mw1:/srv"); got != "" {
		t.Fatalf("an empty store says mw1 holds %q", got)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("Held made %s (%v)", s.Dir, err)
	}
}

// cutShort is a transfer killed part way: the host got r2's Hooks.php,
// but not the claim (it lands last), so its marker still names r1.
type cutShort struct{ cancel context.CancelFunc }

func (c *cutShort) Sync(context.Context, hostsync.Host, string, []string) error { return nil }

func (c *cutShort) Deliver(ctx context.Context, h hostsync.Host, _ string, _ hostsync.Transfer) ([]string, error) {
	os.WriteFile(filepath.Join(h.Dest, "php-1.0/includes/Hooks.php"), []byte("<?php\n// v2\n"), 0o644)
	c.cancel()
	return nil, ctx.Err()
}

// Two Stores on one directory (jouncebot started again in the same
// process, or a second process on the same data): a host one of them
// forgot before a transfer that was cut short is not believed by the
// other, which would send it nothing and leave its marker naming a
// release whose files it no longer holds.
func TestHeldSeenByEveryStore(t *testing.T) {
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("rsync is not installed")
	}
	ctx := context.Background()
	s1, r1, r2 := twoReleases(t)
	h := hostsync.Host{Name: "mw1", Dest: filepath.Join(t.TempDir(), "mw1")}
	if err := (&release.Marked{Method: &hostsync.Rsync{}, Release: r1, Store: s1}).Sync(ctx, h, "", nil); err != nil {
		t.Fatal(err)
	}
	s2 := &release.Store{Dir: s1.Dir}
	cctx, cancel := context.WithCancel(ctx)
	if err := (&release.Marked{Method: &cutShort{cancel: cancel}, Release: r2, Store: s2}).Sync(cctx, h, "", nil); err == nil {
		t.Fatal("the cut-short transfer did not fail")
	}
	if got := s1.Held(h.Dest); got != "" {
		t.Errorf("the other store still says %s holds %q", h.Dest, got)
	}
	if err := (&release.Marked{Method: &hostsync.Rsync{}, Release: r1, Store: s1}).Sync(ctx, h, "", nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(h.Dest, "php-1.0/includes/Hooks.php"))
	if err := release.Holds(ctx, &hostsync.Verify{}, h, r1); err != nil || string(b) != "<?php\n" {
		t.Errorf("back to %s: marker %v, Hooks.php %q", r1.ID, err, b)
	}
}

// A Store that rewrote the log (compaction renames a new file over it)
// does not leave another Store writing into the file replaced: what the
// other records after it survives a restart.
func TestHeldAfterAnotherStoreRewroteTheLog(t *testing.T) {
	ctx := context.Background()
	sA, r1, r2 := twoReleases(t)
	h := hostsync.Host{Name: "mw1", Dest: "mw1:/srv"}
	if err := (&release.Marked{Method: nopDeliverer{}, Release: r1, Store: sA}).Sync(ctx, h, "", nil); err != nil {
		t.Fatal(err)
	}
	sB := &release.Store{Dir: sA.Dir}
	if got := sB.Held(h.Dest); got != r1.ID {
		t.Fatalf("the second store says %s holds %q, want %s", h.Dest, got, r1.ID)
	}
	for i := range 600 { // enough records of other hosts to rewrite the log
		o := hostsync.Host{Name: "o", Dest: fmt.Sprint("other", i%3)}
		if err := (&release.Marked{Method: nopDeliverer{}, Release: r1, Store: sA}).Sync(ctx, o, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	if err := (&release.Marked{Method: &cutShort{cancel: cancel}, Release: r2, Store: sB}).Sync(cctx, h, "", nil); err == nil {
		t.Fatal("the cut-short transfer did not fail")
	}
	if got := (&release.Store{Dir: sA.Dir}).Held(h.Dest); got != "" {
		t.Errorf("after a restart the log says %s holds %q, though it was forgotten before its transfer", h.Dest, got)
	}
}

// On a full disk the record of a host already known still changes (its
// space is reserved ahead): a rollback to a release already frozen does
// not fail for want of a few bytes, and no other host is forgotten.
func TestHeldOnAFullDisk(t *testing.T) {
	ctx := context.Background()
	s, r1, _ := twoReleases(t)
	hosts := filepath.Join(s.Dir, "hosts")
	if err := os.MkdirAll(hosts, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", hosts).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small file system (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", hosts).Run() })
	h := hostsync.Host{Name: "mw1", Dest: "mw1:/srv"}
	other := hostsync.Host{Name: "mw2", Dest: "mw2:/srv"}
	for _, x := range []hostsync.Host{h, other} {
		if err := (&release.Marked{Method: nopDeliverer{}, Release: r1, Store: s}).Sync(ctx, x, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(filepath.Join(hosts, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	f.Close()
	for i := range 200 {
		if err := (&release.Marked{Method: nopDeliverer{}, Release: r1, Store: s}).Sync(ctx, h, "", nil); err != nil {
			t.Fatalf("sync %d of a known host on a full disk: %v", i+1, err)
		}
	}
	if got := (&release.Store{Dir: s.Dir}).Held(other.Dest); got != r1.ID {
		t.Errorf("mw2, not synced meanwhile, is now %q, want %s", got, r1.ID)
	}
}

// An older jouncebot run after this one kept its records in per-host
// files, and this one's log no longer says what it did: with both, no
// host is believed.
func TestHeldOldFilesBesideTheLog(t *testing.T) {
	ctx := context.Background()
	s, r1, r2 := twoReleases(t)
	h := hostsync.Host{Name: "mw1", Dest: "mw1:/srv"}
	if err := (&release.Marked{Method: nopDeliverer{}, Release: r1, Store: s}).Sync(ctx, h, "", nil); err != nil {
		t.Fatal(err)
	}
	other := hostsync.Host{Name: "mw2", Dest: "mw2:/srv"}
	if err := (&release.Marked{Method: nopDeliverer{}, Release: r1, Store: s}).Sync(ctx, other, "", nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(heldLog(s))
	key := string(b[len(b)-len(r1.ID)-2-32 : len(b)-len(r1.ID)-2]) // mw2's
	write(t, filepath.Join(s.Dir, "hosts", key), r2.ID+"\n", 0o644)
	s = &release.Store{Dir: s.Dir}
	for _, x := range []hostsync.Host{h, other} {
		if got := s.Held(x.Dest); got != "" {
			t.Errorf("with old records beside the log, %s is believed to hold %q", x.Name, got)
		}
	}
}
