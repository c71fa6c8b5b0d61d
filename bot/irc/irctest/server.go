// Package irctest runs a real IRC network for tests: InspIRCd 3 linked to
// Atheme services, on free loopback ports in a temporary directory. It
// registers NickServ accounts and hands out girc clients that record what
// they hear, so tests can talk to the bot like people do.
//
//	srv := irctest.Start(t)              // skips if the servers are missing
//	srv.Register(t, "alice", "secret-pw") // NickServ account
//	alice := srv.Client(t, irctest.ClientConfig{Nick: "alice", Account: "alice", Password: "secret-pw"})
//	alice.Join(t, "#ops")
//	alice.Say("#ops", "jouncebot: next")
//	alice.Expect(t, irctest.From("jouncebot"))
//
// The servers are stopped in t.Cleanup and die with the test process
// (Pdeathsig). When the binaries are missing the test is skipped, unless
// JOUNCEBOT_TEST_SERVERS=required, in which case it fails.
package irctest

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/internal/testenv"
)

// Names of the two servers of the test network.
const (
	ServerName   = "irc.test"
	ServicesName = "services.test"
)

const linkPassword = "linkpassword"

// ServerPassword is the password PasswordAddr asks for (PASS).
const ServerPassword = "serverpassword"

// Option changes the test network.
type Option func(*Server)

// WithoutAccountTag leaves out InspIRCd's ircv3_accounttag module, like
// servers that track accounts only through extended-join and
// account-notify.
func WithoutAccountTag() Option { return func(s *Server) { s.noAccountTag = true } }

// WithoutEchoMessage leaves out InspIRCd's ircv3_echomessage module, like
// servers that do not echo a client's messages back to it.
func WithoutEchoMessage() Option { return func(s *Server) { s.noEchoMessage = true } }

// Server is a running InspIRCd + Atheme pair.
type Server struct {
	// Addr is the client address with generous flood limits, for test
	// clients that must never be throttled.
	Addr string
	// StrictAddr is a client address with InspIRCd's stock flood limits
	// (threshold 10, one command a second, no fakelag): a client that floods
	// is disconnected with "Excess Flood". The bot under test connects here.
	StrictAddr string
	// TLSAddr is a TLS client address (generous limits); its certificate is
	// signed by the CA in CAFile and valid for 127.0.0.1 and localhost.
	TLSAddr string
	// PasswordAddr is a client address (generous limits) that requires
	// the server password ServerPassword.
	PasswordAddr string
	// FastAddr is a client address whose flood limits allow more than
	// the stock ones, as some networks do for registered bots: a penalty
	// of 20 lines, four lines a second drained (threshold 20,
	// commandrate 4000, no fakelag). Excess Flood beyond that.
	FastAddr string
	// CAFile is the PEM file of the CA that signed the server certificate.
	CAFile string
	// Dir holds the configuration, logs and services database.
	Dir string

	linkPort      int
	tls           *testPKI
	noAccountTag  bool
	noEchoMessage bool

	mu      sync.Mutex
	ircd    *exec.Cmd
	atheme  *exec.Cmd
	stopped bool
}

// Start starts a linked InspIRCd and Atheme and waits until services have
// finished bursting. It skips the test when the binaries are missing, unless
// JOUNCEBOT_TEST_SERVERS=required.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	for _, bin := range []string{"inspircd", "atheme-services"} {
		if _, err := exec.LookPath(bin); err != nil {
			msg := fmt.Sprintf("%s is not installed (run scripts/install/irc.sh)", bin)
			testenv.Missing(t, msg)
		}
	}
	dir := t.TempDir()
	pki, err := newTestPKI(dir)
	if err != nil {
		t.Fatalf("irctest: make certificates: %v", err)
	}
	s := &Server{CAFile: pki.CAFile, Dir: dir, tls: pki}
	for _, o := range opts {
		o(s)
	}
	t.Cleanup(s.Stop)
	// The ports are free when chosen, but another process may bind one
	// before InspIRCd does (other test binaries run beside this one):
	// then choose again, a few times.
	for attempt := 1; ; attempt++ {
		ports := freePorts(t, 6)
		s.usePorts(ports)
		if err := s.writeConfigs(ports); err != nil {
			t.Fatalf("irctest: %v", err)
		}
		err := s.startIRCd(t)
		if err == nil {
			break
		}
		if attempt < 5 && strings.Contains(err.Error(), "Address already in use") {
			continue
		}
		t.Fatalf("irctest: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.startServices(t)
	s.stopped = false
	return s
}

// usePorts sets the server's addresses from ports (see freePorts).
func (s *Server) usePorts(ports []int) {
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	s.StrictAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	s.TLSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2]))
	s.linkPort = ports[3]
	s.PasswordAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[4]))
	s.FastAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[5]))
}

// Stop stops both servers. It is safe to call more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Atheme writes its database when asked to stop, so accounts survive
	// Restart. InspIRCd keeps nothing worth a graceful stop, and Debian's
	// build sometimes dumps core on SIGTERM: kill it.
	for _, c := range []*exec.Cmd{s.atheme, s.ircd} {
		if c == nil || c.Process == nil {
			continue
		}
		_ = c.Process.Signal(syscall.SIGCONT)
		if c == s.ircd {
			_ = c.Process.Kill()
		} else {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
		exited := make(chan struct{})
		go func() { _ = c.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			_ = c.Process.Kill()
			<-exited
		}
	}
	s.atheme, s.ircd = nil, nil
	s.stopped = true
}

// Pause freezes InspIRCd (SIGSTOP): connections stay open but the server
// says nothing, as in a network partition. Resume undoes it.
func (s *Server) Pause() { s.signalIRCd(syscall.SIGSTOP) }

// Resume lets a paused InspIRCd run again.
func (s *Server) Resume() { s.signalIRCd(syscall.SIGCONT) }

// PauseServices freezes Atheme (SIGSTOP): the IRC server still thinks
// services are there and offers SASL, but nothing answers.
// ResumeServices undoes it.
func (s *Server) PauseServices() { s.signalServices(syscall.SIGSTOP) }

// ResumeServices lets paused services run again.
func (s *Server) ResumeServices() { s.signalServices(syscall.SIGCONT) }

func (s *Server) signalServices(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.atheme != nil && s.atheme.Process != nil {
		_ = s.atheme.Process.Signal(sig)
	}
}

func (s *Server) signalIRCd(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ircd != nil && s.ircd.Process != nil {
		_ = s.ircd.Process.Signal(sig)
	}
}

// Restart starts the servers again after Stop, on the same ports and with
// the same accounts.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.start(t)
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	if err := s.startIRCd(t); err != nil {
		t.Fatalf("irctest: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.startServices(t)
	s.stopped = false
}

// startIRCd starts InspIRCd and waits until it listens. When it does not,
// it is killed, and the error carries the tail of its output.
func (s *Server) startIRCd(t testing.TB) error {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	ircdLog := filepath.Join(s.Dir, "ircd.log")
	_ = os.Remove(ircdLog)
	s.ircd = startProcess(t, filepath.Join(s.Dir, "ircd.out"), "inspircd",
		"--config="+filepath.Join(s.Dir, "inspircd.conf"), "--nofork", "--runasroot", "--nopid")
	out := filepath.Join(s.Dir, "ircd.out")
	bindFailed := func() bool {
		b, _ := os.ReadFile(out)
		return bytes.Contains(b, []byte("Address already in use"))
	}
	err := waitFor(testenv.Scale(5*time.Second), func() bool { return canDial(s.Addr) || bindFailed() })
	if err == nil && bindFailed() {
		err = errors.New("a port was taken")
	}
	if err != nil {
		_ = s.ircd.Process.Kill()
		_ = s.ircd.Wait()
		s.ircd = nil
		return fmt.Errorf("inspircd did not listen on %s: %v\n%s", s.Addr, err, readTail(out))
	}
	return nil
}

// StopServices stops Atheme alone: the IRC server runs on without
// accounts or SASL, as when services restart separately.
func (s *Server) StopServices(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.atheme; c != nil && c.Process != nil {
		_ = c.Process.Signal(syscall.SIGTERM)
		exited := make(chan struct{})
		go func() { _ = c.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			_ = c.Process.Kill()
			<-exited
		}
		// A child services forked (a background database save) would
		// keep the uplink socket open, and the link up, after services
		// exited: end the whole process group.
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
	s.atheme = nil
	// Until the IRC server has noticed the split it still offers SASL.
	var caps string
	if err := waitFor(testenv.Scale(30*time.Second), func() bool { caps = capList(s.Addr); return !strings.Contains(caps, "sasl") }); err != nil {
		t.Fatalf("irctest: the IRC server still offers SASL after services stopped: %v (CAP LS: %q)\n%s", err, caps, readTail(filepath.Join(s.Dir, "ircd.log")))
	}
}

// capList returns the capabilities the server at addr lists.
func capList(addr string) string {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("CAP LS 302\r\n")); err != nil {
		return ""
	}
	r := bufio.NewReader(c)
	var caps []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return strings.Join(caps, " ")
		}
		if _, list, ok := strings.Cut(line, " CAP * LS * :"); ok {
			caps = append(caps, strings.TrimSpace(list))
			continue
		}
		if _, list, ok := strings.Cut(line, " CAP * LS :"); ok {
			return strings.Join(append(caps, strings.TrimSpace(list)), " ")
		}
	}
}

// StartServices starts Atheme again after StopServices and waits until it
// has linked.
func (s *Server) StartServices(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.startServices(t)
}

func (s *Server) startServices(t testing.TB) {
	t.Helper()
	athemeLog := filepath.Join(s.Dir, "atheme.log")
	_ = os.Remove(athemeLog)
	s.atheme = startProcess(t, filepath.Join(s.Dir, "atheme.out"), "atheme-services",
		"-n", "-c", filepath.Join(s.Dir, "atheme.conf"), "-D", filepath.Join(s.Dir, "atheme"),
		"-l", athemeLog, "-p", filepath.Join(s.Dir, "atheme.pid"))
	// Atheme says this once the burst has been exchanged both ways.
	err := waitFor(testenv.Scale(10*time.Second), func() bool {
		b, _ := os.ReadFile(athemeLog)
		return bytes.Contains(b, []byte("finished synching with uplink"))
	})
	if err != nil {
		t.Fatalf("irctest: services did not link: %v\n%s\n%s", err, readTail(filepath.Join(s.Dir, "ircd.log")), readTail(athemeLog))
	}
}

func startProcess(t testing.TB, out, name string, args ...string) *exec.Cmd {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatalf("irctest: %v", err)
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = filepath.Dir(out) // so that a core dump lands in the temp dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("irctest: start %s: %v", name, err)
	}
	f.Close() // the child has its own copy
	// A real network's servers run on their own machines: here they run
	// beside the suite, and a server starved of CPU reads seconds of a
	// client's paced lines at once and counts them as a flood. Ahead of
	// the tests in the scheduler (as root, as CI runs; else as they are),
	// InspIRCd measures flood as a server of its own would.
	_ = syscall.Setpriority(syscall.PRIO_PGRP, cmd.Process.Pid, -10)
	return cmd
}

func (s *Server) writeConfigs(ports []int) error {
	if err := os.MkdirAll(filepath.Join(s.Dir, "atheme"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "inspircd.conf"), []byte(s.inspircdConf(ports)), 0o644); err != nil {
		return err
	}
	conf, err := s.athemeConf()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.Dir, "atheme.conf"), []byte(conf), 0o644)
}

func (s *Server) inspircdConf(ports []int) string {
	d := s.Dir
	accountTag := `<module name="ircv3_accounttag">`
	if s.noAccountTag {
		accountTag = ""
	}
	if !s.noEchoMessage {
		accountTag += "\n<module name=\"ircv3_echomessage\">"
	}
	return fmt.Sprintf(`<server name="%[1]s" description="jouncebot test server" network="TestNet">
<admin name="Test" nick="test" email="test@example.org">
<bind address="127.0.0.1" port="%[3]d" type="clients">
<bind address="127.0.0.1" port="%[4]d" type="clients">
<bind address="127.0.0.1" port="%[5]d" type="clients" sslprofile="test">
<bind address="127.0.0.1" port="%[6]d" type="servers">
<bind address="127.0.0.1" port="%[13]d" type="clients">
<bind address="127.0.0.1" port="%[15]d" type="clients">
<sslprofile name="test" provider="gnutls" certfile="%[7]s" keyfile="%[8]s" cafile="%[9]s" dhfile="" requestclientcert="yes" hash="sha256">
<connect name="strict" allow="*" port="%[4]d" timeout="20" pingfreq="120" sendq="262144" recvq="8192" threshold="10" commandrate="1000" fakelag="no" localmax="200" globalmax="200" maxchans="50" limit="5000" resolvehostnames="no" useident="no">
<connect name="fast" allow="*" port="%[15]d" timeout="20" pingfreq="120" sendq="262144" recvq="8192" threshold="20" commandrate="4000" fakelag="no" localmax="200" globalmax="200" maxchans="50" limit="5000" resolvehostnames="no" useident="no">
<connect name="password" allow="*" port="%[13]d" password="%[14]s" timeout="20" pingfreq="120" sendq="1048576" recvq="1048576" threshold="1000000" commandrate="1000000" fakelag="no" localmax="200" globalmax="200" maxchans="50" limit="5000" resolvehostnames="no" useident="no">
<connect name="main" allow="*" port="%[3]d,%[5]d" timeout="20" pingfreq="120" sendq="1048576" recvq="1048576" threshold="1000000" commandrate="1000000" fakelag="no" localmax="200" globalmax="200" maxchans="50" limit="5000" resolvehostnames="no" useident="no">
<module name="spanningtree">
<module name="services_account">
<module name="sasl">
<module name="cap">
<module name="ircv3">
%[12]s
<module name="ircv3_servertime">
<module name="ircv3_capnotify">
<module name="ssl_gnutls">
<module name="sslinfo">
<link name="%[2]s" ipaddr="127.0.0.1" port="%[6]d" allowmask="127.0.0.0/8" sendpass="%[10]s" recvpass="%[10]s">
<uline server="%[2]s" silent="yes">
<sasl target="%[2]s">
<options prefixquit="Quit: " prefixpart="" suffixpart="">
<security hideserver="" announceinvites="dynamic" runasuser="" runasgroup="">
<performance softlimit="1024" clonesonconnect="no" timeskipwarn="0">
<dns timeout="1">
<pid file="%[11]s/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="%[11]s/ircd.log">
`, ServerName, ServicesName, ports[0], ports[1], ports[2], s.linkPort,
		s.tls.ServerCert, s.tls.ServerKey, s.tls.CAFile, linkPassword, d, accountTag, ports[4], ServerPassword, ports[5])
}

// athemeConf is Debian's example configuration as TESTING.md describes it
// (inspircd protocol, our server names, one uplink, logs in the temp dir,
// rate limits raised), kept in this package because slim images drop
// /usr/share/doc.
//
//go:embed atheme.conf
var athemeConf string

func (s *Server) athemeConf() (string, error) {
	return strings.NewReplacer(
		"@SERVICES@", ServicesName,
		"@SERVER@", ServerName,
		"@DIR@", s.Dir,
		"@LINKPASS@", linkPassword,
		"@LINKPORT@", strconv.Itoa(s.linkPort),
	).Replace(athemeConf), nil
}

// freePorts finds n free ports below the kernel's ephemeral range (see
// testenv.FreePorts).
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports, err := testenv.FreePorts(n)
	if err != nil {
		t.Fatalf("irctest: %v", err)
	}
	return ports
}

func canDial(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func waitFor(d time.Duration, ok func() bool) error {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("gave up after %v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func readTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return path + ":\n" + string(b)
}
