package hostsync

import (
	"errors"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jouncebot/jouncebot/deploy/hostsync/hostsynctest"
)

// startSSHD starts an sshd on loopback that lets the current user in with
// a fresh key, and returns the rsync -e command that logs in with it.
func startSSHD(t *testing.T) (rsh string, stop func()) {
	t.Helper()
	srv := hostsynctest.SSHD(t)
	return srv.Rsh, srv.Stop
}

func TestSSHHosts(t *testing.T) {
	t.Parallel()
	needRsync(t)
	rsh, stop := startSSHD(t)
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	writeTree(t, src, baseTree)
	root := t.TempDir()
	hosts := []Host{
		{Name: "mw1", Dest: u.Username + "@127.0.0.1:" + filepath.Join(root, "mw1")},
		{Name: "mw2", Dest: u.Username + "@127.0.0.1:" + filepath.Join(root, "mw2")},
	}
	st := &Stage{Name: "production", Hosts: hosts, Method: &Rsync{Rsh: rsh, Compress: true}, Timeout: time.Minute}
	if rep, err := st.Sync(t.Context(), Job{Source: src}); err != nil {
		t.Fatalf("sync over ssh: %v %v", err, rep.Failed())
	}
	verify := &Stage{Name: "verify", Hosts: hosts, Method: &Verify{Rsync: Rsync{Rsh: rsh}}}
	if rep, err := verify.Sync(t.Context(), Job{Source: src}); err != nil {
		t.Fatalf("verify over ssh: %v %v", err, rep.Failed())
	}
	for _, h := range []string{"mw1", "mw2"} {
		if diff := cmp.Diff(withoutGit(baseTree), readTree(t, filepath.Join(root, h))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", h, diff)
		}
	}

	// The host goes away.
	stop()
	rep, err := st.Sync(t.Context(), Job{Source: src})
	if !errors.Is(err, ErrStageFailed) {
		t.Fatalf("err = %v, want a failed stage", err)
	}
	for _, f := range rep.Failed() {
		if msg := f.Err.Error(); !strings.HasPrefix(msg, "rsync failed (exit code ") ||
			!strings.Contains(msg, "): ssh: connect to host 127.0.0.1 port ") || !strings.HasSuffix(msg, "Connection refused") {
			t.Errorf("%s: %v", f.Host, f.Err)
		}
	}
}
