package hostsync

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// An rsync that moved from one directory of PATH to another while
// jouncebot runs (a package upgrade: /usr/local/bin to /usr/bin) is found
// where it is now: the remembered path of the first sync is not used
// once it is gone.
func TestRsyncFoundAfterItMoved(t *testing.T) {
	real := needRsync(t)
	bin := t.TempDir()
	first, second := filepath.Join(bin, "first"), filepath.Join(bin, "second")
	for _, d := range []string{first, second} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "rsync"), []byte("#!/bin/sh\nexec "+real+" \"$@\"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", first+string(os.PathListSeparator)+second+string(os.PathListSeparator)+os.Getenv("PATH"))
	src := t.TempDir()
	writeTree(t, src, map[string]string{"a.php": "one"})
	h := localHosts(t, 1)[0]
	r := &Rsync{}
	if err := r.Sync(context.Background(), h, src, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(first, "rsync")); err != nil {
		t.Fatal(err)
	}
	edit(t, src, map[string]string{"a.php": "two"})
	if err := r.Sync(context.Background(), h, src, nil); err != nil {
		t.Fatalf("sync after rsync moved to another directory of PATH: %v", err)
	}
	if got := readTree(t, h.Dest)["a.php"]; got != "two" {
		t.Errorf("a.php = %q after the second sync, want two", got)
	}
}
