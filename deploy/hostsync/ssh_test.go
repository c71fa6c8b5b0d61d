package hostsync

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// startSSHD starts an sshd on loopback that lets the current user in with
// a fresh key, and returns the rsync -e command that logs in with it.
func startSSHD(t *testing.T) (port int, rsh string, stop func()) {
	t.Helper()
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
	}
	_, errSSH := exec.LookPath("ssh")
	if _, err := os.Stat(sshd); err != nil || errSSH != nil {
		if os.Getenv("JOUNCEBOT_TEST_SERVERS") == "required" {
			t.Fatal("sshd or ssh is not installed; run scripts/install/openssh.sh")
		}
		t.Skip("sshd or ssh is not installed; run scripts/install/openssh.sh (set JOUNCEBOT_TEST_SERVERS=required to make this a failure)")
	}
	dir := t.TempDir()
	for _, k := range []string{"host_key", "client_key"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "client_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{"authorized_keys": string(pub)})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s/host_key
PidFile %s/sshd.pid
AuthorizedKeysFile %s/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
`, port, dir, dir, dir)
	writeTree(t, dir, map[string]string{"sshd_config": conf})
	if os.Getuid() == 0 {
		// Root's sshd separates privileges and needs this directory; an
		// sshd run by another user lets in only that user, which is
		// all a test needs.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop = func() { cmd.Process.Kill(); <-exited }
	t.Cleanup(stop)
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not listen on port %d: %v\n%s", port, err, logs.String())
		}
		time.Sleep(10 * time.Millisecond) // polling a port; nothing to wait on
	}
	rsh = fmt.Sprintf("ssh -p %d -i %s/client_key -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR", port, dir)
	return port, rsh, stop
}

func TestSSHHosts(t *testing.T) {
	t.Parallel()
	needRsync(t)
	_, rsh, stop := startSSHD(t)
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
