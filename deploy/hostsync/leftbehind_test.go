package hostsync

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A remote shell may leave a process behind that keeps the standard error
// it inherited open after rsync is done: an ssh ControlPersist master of
// an OpenSSH that does not detach it from stderr, a wrapper that starts
// an agent. rsync exits 0 and its itemized output ends, so the transfer
// is complete: the host must count as synced, with all of the output
// (the release marker is judged from it), not fail with Go's "WaitDelay
// expired".
func TestRemoteShellLeavingAProcessBehind(t *testing.T) {
	t.Parallel()
	needRsync(t)
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	// The process left behind holds stderr; it is in its own session, as
	// a daemon is, so killing rsync's process group does not end it.
	script := `#!/bin/sh
shift
setsid sh -c 'echo $$ >> ` + pids + `; exec sleep 600' &
exec "$@"
`
	if err := os.WriteFile(filepath.Join(dir, "rsh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b, _ := os.ReadFile(pids)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	src := t.TempDir()
	writeTree(t, src, baseTree)
	r := &Rsync{Rsh: filepath.Join(dir, "rsh")}
	dest := filepath.Join(dir, "mw1")
	out, err := r.Deliver(t.Context(), Host{Name: "mw1", Dest: "mw1:" + dest}, src, Transfer{})
	if err != nil {
		t.Fatalf("the transfer failed: %v", err)
	}
	if !strings.Contains(strings.Join(out, "\n"), "index.php") {
		t.Errorf("itemized output lacks index.php: %q", out)
	}
	if d := cmp.Diff(withoutGit(baseTree), readTree(t, dest)); d != "" {
		t.Errorf("mw1 (-want +got):\n%s", d)
	}
	st := &Stage{Name: "canaries", Hosts: []Host{{Name: "mw2", Dest: "mw2:" + filepath.Join(dir, "mw2")}}, Method: r, Timeout: time.Minute}
	if rep, err := st.Sync(t.Context(), Job{Source: src}); err != nil {
		t.Errorf("stage: %v %v", err, rep.Failed())
	}
}
