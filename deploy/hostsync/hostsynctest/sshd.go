// Package hostsynctest starts the servers hosts are reached through, for
// tests and benchmarks of syncs: an sshd on loopback that lets the
// current user in with a fresh key.
//
//	srv := hostsynctest.SSHD(t)
//	rs := &hostsync.Rsync{Rsh: srv.Rsh} // hosts: "127.0.0.1:/some/dir"
package hostsynctest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/internal/testenv"
)

// Server is a running sshd.
type Server struct {
	// Rsh is the rsync -e command that logs in to it.
	Rsh  string
	pid  int
	stop func()
}

// Stop ends the server (a host that goes away); it is stopped anyway
// when the test ends.
func (s *Server) Stop() { s.stop() }

// ChildCPU is the user and system time of the sessions the server has
// finished (the remote rsync processes included): the work done on the
// host's side.
func (s *Server) ChildCPU() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (in parentheses, which may hold
	// spaces): cutime and cstime are the 14th and 15th after it.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 15 {
		return 0
	}
	cu, _ := strconv.ParseInt(f[13], 10, 64)
	cs, _ := strconv.ParseInt(f[14], 10, 64)
	return time.Duration(cu+cs) * time.Second / 100 // USER_HZ
}

// SSHD starts an sshd on 127.0.0.1, stopped when the test ends.
func SSHD(t testing.TB) *Server {
	t.Helper()
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
	}
	_, errSSH := exec.LookPath("ssh")
	if _, err := os.Stat(sshd); err != nil || errSSH != nil {
		testenv.Missing(t, "sshd or ssh is not installed; run scripts/install/openssh.sh")
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
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	ports, err := testenv.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	port := ports[0]
	conf := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %[2]s/host_key
PidFile %[2]s/sshd.pid
AuthorizedKeysFile %[2]s/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
MaxStartups 200
MaxSessions 200
`, port, dir)
	if err := os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		// Root's sshd separates privileges and needs this directory.
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
	stop := func() { cmd.Process.Kill(); <-exited }
	t.Cleanup(stop)
	for deadline := time.Now().Add(testenv.Scale(5 * time.Second)); ; {
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
	return &Server{pid: cmd.Process.Pid, stop: stop,
		Rsh: fmt.Sprintf("ssh -p %d -i %s/client_key -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR", port, dir)}
}
