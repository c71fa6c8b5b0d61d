package hostsync

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// oddChange is a change whose paths rsync could misread: a deleted file
// (which rsync 3.2.7-1+deb12u5, seen here in 2026, refuses to sync with
// --delete-missing-args: "invalid file mode 00 … [Receiver]"), a deleted
// directory, non-ASCII names, spaces, a leading dash, rsync wildcards, a
// backslash, a newline and names that look like filter rules.
var oddChange = struct {
	edit   map[string]string
	remove []string
	paths  []string
}{
	edit: map[string]string{
		"static/café.css":         "a{color:red}",
		"wmf-config/a b.php":      "<?php // space\n",
		"-rf.php":                 "<?php // dash\n",
		"w/[x]*?.php":             "<?php // wildcards\n",
		`w/back\slash.php`:        "<?php // backslash\n",
		"w/ lead and trail .php":  "<?php // blanks\n",
		"w/new\nline.php":         "<?php // newline\n",
		"w/+ plus.php":            "<?php // include rule\n",
		"w/#hash.php":             "<?php // comment\n",
		"php-1.46/includes/ü.php": "<?php // umlaut\n",
	},
	remove: []string{"static/images/logo.png", "old/"},
}

func init() {
	for p := range oddChange.edit {
		oddChange.paths = append(oddChange.paths, p)
	}
	oddChange.paths = append(oddChange.paths, "static/images/logo.png", "old/gone.php", "old/sub/gone.php")
}

// testOddNames syncs the base tree to hosts, then oddChange by its paths,
// and checks each host's tree (read from dirs) against the source, with a
// host-local file next to the changed ones kept; then it rolls the paths
// back from a saved release and verifies.
func testOddNames(t *testing.T, hosts []Host, dirs []string, method *Rsync) {
	t.Helper()
	ctx := t.Context()
	src := t.TempDir()
	writeTree(t, src, baseTree)
	writeTree(t, src, map[string]string{"old/gone.php": "x", "old/sub/gone.php": "y"})
	st := &Stage{Name: "production", Hosts: hosts, Method: method, Timeout: time.Minute}
	if rep, err := st.Sync(ctx, Job{Source: src}); err != nil {
		t.Fatalf("full sync: %v %v", err, rep.Failed())
	}
	prev, err := (&Releases{Dir: t.TempDir()}).Save(ctx, src, "before")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		writeTree(t, d, map[string]string{"static/local.css": "host's own"})
	}
	// Files edited and added only (synced with --files-from), then the
	// deletions with them (include rules).
	edit(t, src, oddChange.edit)
	var edited []string
	for p := range oddChange.edit {
		edited = append(edited, p)
	}
	if rep, err := st.Sync(ctx, Job{Source: src, Paths: edited}); err != nil {
		t.Fatalf("sync of the edits: %v %v", err, rep.Failed())
	}
	want := withoutGit(readTree(t, src))
	want["static/local.css"] = "host's own"
	for i, d := range dirs {
		if diff := cmp.Diff(want, readTree(t, d)); diff != "" {
			t.Errorf("%s after the edits (-want +got):\n%s", hosts[i].Name, diff)
		}
	}
	for _, p := range oddChange.remove {
		if err := os.RemoveAll(filepath.Join(src, p)); err != nil {
			t.Fatal(err)
		}
	}
	if rep, err := st.Sync(ctx, Job{Source: src, Paths: oddChange.paths}); err != nil {
		t.Fatalf("sync of the change: %v %v", err, rep.Failed())
	}
	want = withoutGit(readTree(t, src))
	want["static/local.css"] = "host's own"
	for i, d := range dirs {
		if diff := cmp.Diff(want, readTree(t, d)); diff != "" {
			t.Errorf("%s after the change (-want +got):\n%s", hosts[i].Name, diff)
		}
		if _, err := os.Stat(filepath.Join(d, "old")); !os.IsNotExist(err) {
			t.Errorf("%s: the deleted directory old/ is still there (%v)", hosts[i].Name, err)
		}
	}
	verify := &Stage{Name: "verify", Hosts: hosts, Method: &Verify{Rsync: *method}}
	if rep, err := verify.Sync(ctx, Job{Source: src, Paths: oddChange.paths}); err != nil {
		t.Errorf("verify the change: %v %v", err, rep.Failed())
	}
	if rep, err := verify.Sync(ctx, Job{Source: prev, Paths: oddChange.paths}); err == nil {
		t.Errorf("verify against the previous release passed: %v", rep.Summary())
	}

	if rep, err := st.Sync(ctx, Job{Source: prev, Paths: oddChange.paths}); err != nil {
		t.Fatalf("rollback: %v %v", err, rep.Failed())
	}
	if rep, err := verify.Sync(ctx, Job{Source: prev, Paths: oddChange.paths}); err != nil {
		t.Errorf("verify the rollback: %v %v", err, rep.Failed())
	}
	want = withoutGit(readTree(t, prev))
	want["static/local.css"] = "host's own"
	for i, d := range dirs {
		if diff := cmp.Diff(want, readTree(t, d)); diff != "" {
			t.Errorf("%s after the rollback (-want +got):\n%s", hosts[i].Name, diff)
		}
	}
}

func TestSyncOddNamesLocal(t *testing.T) {
	t.Parallel()
	needRsync(t)
	hosts := localHosts(t, 2)
	testOddNames(t, hosts, []string{hosts[0].Dest, hosts[1].Dest}, &Rsync{})
}

func TestSyncOddNamesDaemon(t *testing.T) {
	t.Parallel()
	d := startRsyncd(t, []string{"app1", "app2"})
	testOddNames(t, []Host{d.host("app1"), d.host("app2")}, []string{d.path("app1"), d.path("app2")}, &Rsync{Compress: true})
}

func TestSyncOddNamesSSH(t *testing.T) {
	t.Parallel()
	needRsync(t)
	rsh, _ := startSSHD(t)
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	var hosts []Host
	var dirs []string
	for i := range 2 {
		d := filepath.Join(root, fmt.Sprintf("mw%d", i))
		hosts = append(hosts, Host{Name: fmt.Sprintf("mw%d", i), Dest: u.Username + "@127.0.0.1:" + d})
		dirs = append(dirs, d)
	}
	testOddNames(t, hosts, dirs, &Rsync{Rsh: rsh})
}
