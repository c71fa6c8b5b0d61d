package maint_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
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

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/maint"
	"github.com/jouncebot/jouncebot/store"
	"github.com/jouncebot/jouncebot/wiki/wikitest"
)

// sshd is a real sshd on loopback letting the current user in with a
// fresh key; Stop and Start drop and bring back the host on the same port.
type sshd struct {
	t      *testing.T
	dir    string
	port   int
	remote []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

func startSSHD(t *testing.T) *sshd {
	t.Helper()
	bin := "/usr/sbin/sshd"
	_, errSSH := exec.LookPath("ssh")
	if _, err := os.Stat(bin); err != nil || errSSH != nil {
		if os.Getenv("JOUNCEBOT_TEST_SERVERS") == "required" {
			t.Fatal("sshd or ssh is not installed; run scripts/install/openssh.sh")
		}
		t.Skip("sshd or ssh is not installed; run scripts/install/openssh.sh (set JOUNCEBOT_TEST_SERVERS=required to make this a failure)")
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	write(t, filepath.Join(dir, "sshd_config"), fmt.Sprintf("Port %d\nListenAddress 127.0.0.1\nHostKey %s/host_key\nPidFile %s/sshd.pid\n"+
		"AuthorizedKeysFile %s/authorized_keys\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"+
		"PermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n", port, dir, dir, dir))
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	s := &sshd{t: t, dir: dir, port: port, remote: []string{"ssh", "-p", fmt.Sprint(port), "-i", dir + "/client_key",
		"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "{host}"}}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts sshd and waits until it listens.
func (s *sshd) Start() {
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
func (s *sshd) Stop() {
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

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o755); err != nil {
		t.Fatal(err)
	}
}

// host is the maintenance host of a test: loopback sshd running a
// wrapper that runs a real MediaWiki maintenance script with the named
// wiki's LocalSettings.php (production uses mwscript <script> --wiki=<wiki>).
type host struct {
	sshd    *sshd
	wikis   map[string]*wikitest.Wiki
	workDir string
	cfg     config.Maint
}

func startHost(t *testing.T, names ...string) *host {
	t.Helper()
	h := &host{sshd: startSSHD(t), wikis: map[string]*wikitest.Wiki{}, workDir: filepath.Join(t.TempDir(), "maint")}
	var cases strings.Builder
	for _, n := range names {
		w := wikitest.Start(t)
		h.wikis[n] = w
		fmt.Fprintf(&cases, "%s) cfg=%s/LocalSettings.php ;;\n", n, w.Dir)
	}
	wrapper := filepath.Join(t.TempDir(), "mwscript-test")
	write(t, wrapper, "#!/bin/sh\nwiki=$1; script=$2; shift 2\ncase $wiki in\n"+cases.String()+"*) echo \"unknown wiki $wiki\"; exit 2 ;;\nesac\n"+
		"MW_CONFIG_FILE=$cfg exec php "+wikitest.MediaWikiDir+"/maintenance/$script \"$@\"\n")
	h.cfg = config.Maint{Host: "root@127.0.0.1", Remote: h.sshd.remote, Command: []string{wrapper, "{wiki}", "{script}"}, WorkDir: h.workDir,
		Scripts: []string{"namespaceDupes.php", "runJobs.php", "showSiteStats.php"}, Wikis: names, Lists: map[string][]string{"both": names},
		DryRun: config.DefaultMaintDryRuns}
	return h
}

// addNamespace adds namespace Foo (3000) to a wiki, after pages whose
// titles start with "Foo:" were created in the main namespace.
func (h *host) addNamespace(t *testing.T, wiki string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(h.wikis[wiki].Dir, "LocalSettings.php"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n$wgExtraNamespaces[3000] = 'Foo';\n$wgExtraNamespaces[3001] = 'Foo_talk';\n"); err != nil {
		t.Fatal(err)
	}
}

// namespaceOf asks the wiki which namespace a title is in and whether the
// page exists there.
func namespaceOf(t *testing.T, w *wikitest.Wiki, title string) (ns int, exists bool) {
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

// bench is a maint.Service with its notices and SAL lines collected.
type bench struct {
	t       *testing.T
	db      *store.DB
	svc     *maint.Service
	said    chan string
	mu      sync.Mutex
	sal     []string
	stopRun func()
}

var amir = maint.Person{Name: "Amir", IRCNick: "amir"}

func newBench(t *testing.T, cfg config.Maint, dbPath string) *bench {
	t.Helper()
	db, err := store.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{t: t, db: db, said: make(chan string, 100)}
	b.svc = maint.NewService(maint.Options{DB: db, Rules: maint.RulesFrom(cfg), Host: maint.HostFrom(cfg),
		Timeout: cfg.Timeout, PollInterval: 100 * time.Millisecond, ProgressEvery: time.Hour, BaseURL: "http://bot.example",
		Notify: func(_ context.Context, origin string, t bot.Text) { b.said <- t.String() },
		SAL: func(_ context.Context, by maint.Person, msg string) error {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.sal = append(b.sal, by.Name+": "+msg)
			return nil
		},
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.svc.Run(ctx) }()
	b.stopRun = func() { cancel(); <-done; db.Close() }
	t.Cleanup(b.close)
	return b
}

func (b *bench) close() {
	if b.stopRun != nil {
		b.stopRun()
		b.stopRun = nil
	}
}

// expect waits for a notice containing want, failing after two minutes.
func (b *bench) expect(want string) string {
	b.t.Helper()
	deadline := time.After(2 * time.Minute)
	var seen []string
	for {
		select {
		case s := <-b.said:
			if strings.Contains(s, want) {
				return s
			}
			seen = append(seen, s)
		case <-deadline:
			b.t.Fatalf("nothing said containing %q within 2 minutes; said:\n%s", want, strings.Join(seen, "\n"))
		}
	}
}

func (b *bench) salLines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.sal...)
}

func (b *bench) start(words string) *maint.Run {
	b.t.Helper()
	req, err := maint.ParseWords(strings.Fields(words))
	if err != nil {
		b.t.Fatal(err)
	}
	r, err := b.svc.Start(context.Background(), req, amir, "console\tconsole")
	if err != nil {
		b.t.Fatalf("maint %s: %v", words, err)
	}
	return r
}
