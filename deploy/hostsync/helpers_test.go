package hostsync

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/internal/testenv"
)

// needRsync skips the test when rsync is missing, unless the README's test
// command said servers are required.
func needRsync(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("rsync")
	if err != nil {
		testenv.Missing(t, "rsync is not installed; run scripts/install/rsync.sh")
	}
	return p
}

// writeTree writes files (path → content) under dir; an empty content
// with a trailing "/" in the path makes a directory.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readTree returns every regular file under dir (path → content), the way
// a host would serve it: .git directories left out.
func readTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// localHosts makes n host directories under a temp dir.
func localHosts(t testing.TB, n int) []Host {
	t.Helper()
	root := t.TempDir()
	hosts := make([]Host, n)
	for i := range hosts {
		name := "mw" + string(rune('a'+i))
		hosts[i] = Host{Name: name, Dest: filepath.Join(root, name)}
	}
	return hosts
}

var edits atomic.Int64

// edit writes files under dir as a later change would: rsync compares
// size and modification time, and a test runs within one second, so the
// edited files get a modification time an hour ahead.
func edit(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	writeTree(t, dir, files)
	later := time.Now().Add(time.Duration(edits.Add(1)) * time.Hour)
	for p := range files {
		if err := os.Chtimes(filepath.Join(dir, p), later, later); err != nil {
			t.Fatal(err)
		}
	}
}
