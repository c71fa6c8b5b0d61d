// Package mainttest runs a maintenance host for tests: a real sshd on
// loopback letting the current user in with a fresh key, and a wrapper
// that runs real MediaWiki maintenance scripts (Debian's mediawiki under
// PHP) against test wikis, standing in for production's
// "mwscript <script> --wiki=<wiki>".
//
//	h := mainttest.StartHost(t, "testwiki", "test2wiki") // two wikis
//	cfg := h.Config                                       // a config.Maint for it
//	h.SSHD.Stop(); h.SSHD.Start()                         // the host drops and comes back
//
// Like wikitest it skips the test when sshd, ssh, php or MediaWiki are
// missing, or fails it when JOUNCEBOT_TEST_SERVERS=required.
package mainttest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/internal/testenv"
	"github.com/jouncebot/jouncebot/wiki/wikitest"
)

// SSHD is a real sshd on loopback letting the current user in with a
// fresh key; Stop and Start drop and bring back the host on the same port.
type SSHD struct {
	t      testing.TB
	dir    string
	port   int
	Remote []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

func StartSSHD(t testing.TB) *SSHD {
	t.Helper()
	bin := "/usr/sbin/sshd"
	_, errSSH := exec.LookPath("ssh")
	if _, err := os.Stat(bin); err != nil || errSSH != nil {
		testenv.Missing(t, "sshd or ssh is not installed; run scripts/install/openssh.sh")
	}
	if os.Getuid() != 0 {
		t.Skip("sshd needs root for its privilege separation")
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
	write(t, filepath.Join(dir, "authorized_keys"), string(pub))
	ports, err := testenv.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	port := ports[0]
	write(t, filepath.Join(dir, "sshd_config"), fmt.Sprintf("Port %d\nListenAddress 127.0.0.1\nHostKey %s/host_key\nPidFile %s/sshd.pid\n"+
		"AuthorizedKeysFile %s/authorized_keys\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"+
		"PermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n", port, dir, dir, dir))
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	s := &SSHD{t: t, dir: dir, port: port, Remote: []string{"ssh", "-p", fmt.Sprint(port), "-i", dir + "/client_key",
		"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "{host}"}}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts sshd and waits until it listens.
func (s *SSHD) Start() {
	s.t.Helper()
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", filepath.Join(s.dir, "sshd_config"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("sshd did not listen on port %d: %v\n%s", s.port, err, logs.String())
		}
		time.Sleep(10 * time.Millisecond) // polling a port; nothing to wait on
	}
}

// Stop kills sshd and every connection it serves.
func (s *SSHD) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
}

func write(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o755); err != nil {
		t.Fatal(err)
	}
}

// Host is the maintenance host of a test: loopback sshd running a
// wrapper that runs a real MediaWiki maintenance script with the named
// wiki's LocalSettings.php (production uses mwscript <script> --wiki=<wiki>).
type Host struct {
	SSHD    *SSHD
	Wikis   map[string]*wikitest.Wiki
	WorkDir string
	Config  config.Maint
}

func StartHost(t testing.TB, names ...string) *Host {
	t.Helper()
	h := &Host{SSHD: StartSSHD(t), Wikis: map[string]*wikitest.Wiki{}, WorkDir: filepath.Join(t.TempDir(), "maint")}
	var cases strings.Builder
	for _, n := range names {
		w := wikitest.Start(t)
		h.Wikis[n] = w
		fmt.Fprintf(&cases, "%s) cfg=%s/LocalSettings.php ;;\n", n, w.Dir)
	}
	wrapper := filepath.Join(t.TempDir(), "mwscript-test")
	write(t, wrapper, "#!/bin/sh\nwiki=$1; script=$2; shift 2\ncase $wiki in\n"+cases.String()+"*) echo \"unknown wiki $wiki\"; exit 2 ;;\nesac\n"+
		"MW_CONFIG_FILE=$cfg exec php "+wikitest.MediaWikiDir+"/maintenance/$script \"$@\"\n")
	h.Config = config.Maint{Host: "root@127.0.0.1", Remote: h.SSHD.Remote, Command: []string{wrapper, "{wiki}", "{script}"}, WorkDir: h.WorkDir,
		Scripts: config.MaintScriptNames("namespaceDupes.php", "runJobs.php", "showSiteStats.php"), Wikis: names, Lists: map[string][]string{"both": names},
		DryRun: config.DefaultMaintDryRuns}
	return h
}

// AddNamespace adds namespace Foo (3000) to a wiki, after pages whose
// titles start with "Foo:" were created in the main namespace.
func (h *Host) AddNamespace(t testing.TB, wiki string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(h.Wikis[wiki].Dir, "LocalSettings.php"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n$wgExtraNamespaces[3000] = 'Foo';\n$wgExtraNamespaces[3001] = 'Foo_talk';\n"); err != nil {
		t.Fatal(err)
	}
}

// NamespaceOf asks the wiki which namespace a title is in and whether the
// page exists there.
func NamespaceOf(t testing.TB, w *wikitest.Wiki, title string) (ns int, exists bool) {
	t.Helper()
	resp, err := http.Get(w.API + "?action=query&format=json&formatversion=2&titles=" + url.QueryEscape(title))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Query struct {
			Pages []struct {
				NS      int  `json:"ns"`
				Missing bool `json:"missing"`
			} `json:"pages"`
		} `json:"query"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || len(v.Query.Pages) != 1 {
		t.Fatalf("query %q: %v %+v", title, err, v)
	}
	return v.Query.Pages[0].NS, !v.Query.Pages[0].Missing
}
