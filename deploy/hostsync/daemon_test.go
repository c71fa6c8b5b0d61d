package hostsync

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jouncebot/jouncebot/internal/testenv"
)

// rsyncd is an rsync daemon on loopback serving one module per host.
type rsyncd struct {
	port int
	dir  string
	cmd  *exec.Cmd
}

// startRsyncd starts a daemon with a writable module per name; modules
// named in vanish kill the daemon (and the connection) when a transfer to
// them begins, like a host that goes away mid-sync.
func startRsyncd(t *testing.T, modules []string, vanish ...string) *rsyncd {
	t.Helper()
	bin := needRsync(t)
	d := &rsyncd{dir: t.TempDir()}
	pidFile := filepath.Join(d.dir, "rsyncd.pid")
	var conf strings.Builder
	fmt.Fprintf(&conf, "pid file = %s\nuse chroot = no\nreverse lookup = no\nlog file = %s\n", pidFile, filepath.Join(d.dir, "rsyncd.log"))
	if os.Getuid() == 0 {
		conf.WriteString("uid = root\ngid = root\n")
	}
	for _, m := range modules {
		if err := os.MkdirAll(d.path(m), 0o755); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&conf, "[%s]\n\tpath = %s\n\tread only = no\n", m, d.path(m))
		if slices.Contains(vanish, m) {
			fmt.Fprintf(&conf, "\tpre-xfer exec = /bin/sh -c 'kill -9 $(cat %s) $RSYNC_PID'\n", pidFile)
		}
	}
	confFile := filepath.Join(d.dir, "rsyncd.conf")
	if err := os.WriteFile(confFile, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ports, err := testenv.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	d.port = ports[0]
	d.cmd = exec.Command(bin, "--daemon", "--no-detach", "--config="+confFile, "--address=127.0.0.1", fmt.Sprintf("--port=%d", d.port))
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	d.cmd.Stderr = os.Stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { d.cmd.Wait(); close(exited) }()
	t.Cleanup(func() { d.cmd.Process.Kill(); <-exited })
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", d.port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsync daemon did not listen on port %d: %v", d.port, err)
		}
		time.Sleep(10 * time.Millisecond) // polling a port; nothing to wait on
	}
	return d
}

func (d *rsyncd) path(module string) string { return filepath.Join(d.dir, "modules", module) }

func (d *rsyncd) host(module string) Host {
	return Host{Name: module, Dest: fmt.Sprintf("rsync://127.0.0.1:%d/%s/", d.port, module)}
}

// TestDaemonStages syncs hosts that are rsync daemons on loopback: a host
// goes away mid-sync, the stage policy decides, the hosts that got the
// change are rolled back and verified byte for byte, and a resumed stage
// syncs only the hosts not done.
func TestDaemonStages(t *testing.T) {
	t.Parallel()
	needRsync(t)
	ctx := t.Context()
	daemons := []*rsyncd{
		startRsyncd(t, []string{"app1", "app2"}),
		startRsyncd(t, []string{"app3", "app4"}),
		startRsyncd(t, []string{"app5"}, "app5"),
	}
	var hosts []Host
	path := map[string]string{}
	for _, d := range daemons[:2] {
		for _, m := range []string{fmt.Sprintf("app%d", len(hosts)+1), fmt.Sprintf("app%d", len(hosts)+2)} {
			hosts = append(hosts, d.host(m))
			path[m] = d.path(m)
		}
	}
	src := t.TempDir()
	writeTree(t, src, baseTree)
	v1 := withoutGit(baseTree)
	rel := &Releases{Dir: t.TempDir()}
	prev, err := rel.Save(ctx, src, "before")
	if err != nil {
		t.Fatal(err)
	}
	all := &Stage{Name: "production", Hosts: hosts, Method: &Rsync{Compress: true}, Concurrency: 2}
	if _, err := all.Sync(ctx, Job{Source: src}); err != nil {
		t.Fatal(err)
	}

	// The change, to all five hosts; app5 goes away as its sync starts.
	edit(t, src, map[string]string{"index.php": "<?php // v2 with more\n", "static/new.css": "a{}"})
	paths := []string{"index.php", "static/new.css"}
	hosts = append(hosts, daemons[2].host("app5"))
	path["app5"] = daemons[2].path("app5")
	prod := &Stage{Name: "production", Hosts: hosts, Method: &Rsync{}, Concurrency: 2, Timeout: time.Minute, MaxFailed: 1}
	rep, err := prod.Sync(ctx, Job{Source: src, Paths: paths})
	if err != nil {
		t.Fatalf("one failed host is allowed: %v", err)
	}
	f := rep.Failed()
	if len(f) != 1 || f[0].Host != "app5" {
		t.Fatalf("failed = %v, want app5", f)
	}
	t.Logf("app5: %v", f[0].Err)
	if msg := f[0].Err.Error(); !strings.HasPrefix(msg, "rsync failed (exit code ") {
		t.Errorf("app5's error = %q", msg)
	}
	rep.Elapsed = 0
	if got, want := rep.Summary(), "production: synced 4/5 hosts in 00m 00s; 1 failed (1 allowed): app5."; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	prod.MaxFailed = 0
	if _, err := prod.Sync(ctx, Job{Source: src, Paths: paths}); !errors.Is(err, ErrStageFailed) {
		t.Errorf("with no failures allowed: err = %v, want the stage failed", err)
	}

	// Roll back every host that received the change, then verify.
	synced := rep.Synced()
	slices.Sort(synced)
	if diff := cmp.Diff([]string{"app1", "app2", "app3", "app4"}, synced); diff != "" {
		t.Fatalf("synced (-want +got):\n%s", diff)
	}
	back := &Stage{Name: "rollback", Hosts: hosts[:4], Method: &Rsync{}, Concurrency: 4}
	if _, err := back.Sync(ctx, Job{Source: prev, Paths: paths}); err != nil {
		t.Fatal(err)
	}
	check := &Stage{Name: "verify", Hosts: hosts[:4], Method: &Verify{}, Concurrency: 4}
	if rep, err := check.Sync(ctx, Job{Source: prev}); err != nil {
		t.Fatalf("verify: %v %v", err, rep.Failed())
	}
	for _, h := range hosts[:4] {
		if diff := cmp.Diff(v1, readTree(t, path[h.Name])); diff != "" {
			t.Errorf("%s after rollback (-want +got):\n%s", h.Name, diff)
		}
	}

	// Resume: app1 and app3 were done before a restart.
	var again []string
	if _, err := all.Sync(ctx, Job{Source: src, Paths: paths, Done: map[string]bool{"app1": true, "app3": true},
		OnResult: func(r Result) { again = append(again, r.Host) }}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(again)
	if diff := cmp.Diff([]string{"app2", "app4"}, again); diff != "" {
		t.Errorf("resumed (-want +got):\n%s", diff)
	}
	for _, h := range hosts[:4] {
		want := "<?php // v2 with more\n"
		if h.Name == "app1" || h.Name == "app3" {
			want = v1["index.php"]
		}
		if got := readTree(t, path[h.Name])["index.php"]; got != want {
			t.Errorf("%s: index.php = %q, want %q", h.Name, got, want)
		}
	}
}
