package hostsync

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var baseTree = map[string]string{
	"index.php":                         "<?php // v1\n",
	"wmf-config/InitialiseSettings.php": "<?php $wgSitename = 'Wiki';\n",
	"php-1.46/includes/Setup.php":       "<?php // setup\n",
	"static/images/logo.png":            "PNG v1",
	".git/HEAD":                         "ref: refs/heads/master\n",
	"php-1.46/.git/HEAD":                "submodule\n",
}

func withoutGit(files map[string]string) map[string]string {
	out := map[string]string{}
	for p, c := range files {
		if !strings.HasPrefix(p, ".git/") && !strings.Contains(p, "/.git/") {
			out[p] = c
		}
	}
	return out
}

func TestSyncWholeTree(t *testing.T) {
	t.Parallel()
	needRsync(t)
	src := t.TempDir()
	writeTree(t, src, baseTree)
	hosts := localHosts(t, 4)
	// One host has a stale file and an out-of-date one; one has a .git of
	// its own that must survive.
	writeTree(t, hosts[0].Dest, map[string]string{"stale.php": "old", "index.php": "<?php // version 0\n"})
	writeTree(t, hosts[1].Dest, map[string]string{".git/HEAD": "host's own"})

	st := &Stage{Name: "canaries", Hosts: hosts, Method: &Rsync{}, Concurrency: 2, Timeout: time.Minute}
	var reported []string
	var progress []Progress
	rep, err := st.Sync(t.Context(), Job{
		Source:     src,
		OnResult:   func(r Result) { reported = append(reported, r.Host) },
		OnProgress: func(p Progress) { progress = append(progress, p) },
	})
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	for _, h := range hosts {
		want := withoutGit(baseTree)
		if h.Name == hosts[1].Name {
			want[".git/HEAD"] = "host's own"
		}
		if diff := cmp.Diff(want, readTreeWithGit(t, h.Dest)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", h.Name, diff)
		}
	}
	slices.Sort(reported)
	if diff := cmp.Diff([]string{"mwa", "mwb", "mwc", "mwd"}, reported); diff != "" {
		t.Errorf("reported hosts (-want +got):\n%s", diff)
	}
	if len(progress) != 1 || progress[0].Done != 4 || progress[0].Total != 4 {
		t.Errorf("progress = %+v, want one final report of 4/4", progress)
	}
	if got := rep.Summary(); !strings.HasPrefix(got, "canaries: synced 4/4 hosts in 00m 0") {
		t.Errorf("summary = %q", got)
	}
}

// readTreeWithGit is readTree including .git directories.
func readTreeWithGit(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := readTree(t, dir)
	if b, err := os.ReadFile(filepath.Join(dir, ".git/HEAD")); err == nil {
		out[".git/HEAD"] = string(b)
	}
	return out
}

func TestSyncPaths(t *testing.T) {
	t.Parallel()
	needRsync(t)
	src := t.TempDir()
	writeTree(t, src, baseTree)
	hosts := localHosts(t, 3)
	st := &Stage{Name: "production", Hosts: hosts, Method: &Rsync{}, FileLimit: 10}
	if _, err := st.Sync(t.Context(), Job{Source: src}); err != nil {
		t.Fatal(err)
	}
	// A host-local difference outside the changed paths shows that only
	// those paths were synced.
	writeTree(t, hosts[0].Dest, map[string]string{"php-1.46/includes/Setup.php": "local hack"})
	// The change: one file edited, one added, one deleted.
	edit(t, src, map[string]string{"wmf-config/InitialiseSettings.php": "<?php $wgSitename = 'New';\n", "static/images/new.svg": "<svg/>"})
	if err := os.Remove(filepath.Join(src, "static/images/logo.png")); err != nil {
		t.Fatal(err)
	}
	paths := []string{"wmf-config/InitialiseSettings.php", "static/images/new.svg", "static/images/logo.png"}
	if _, err := st.Sync(t.Context(), Job{Source: src, Paths: paths}); err != nil {
		t.Fatal(err)
	}
	want := withoutGit(readTree(t, src))
	for i, h := range hosts {
		w := maps(want)
		if i == 0 {
			w["php-1.46/includes/Setup.php"] = "local hack"
		}
		if diff := cmp.Diff(w, readTree(t, h.Dest)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", h.Name, diff)
		}
	}

	// Over the file limit the whole tree is synced, local hack included.
	many := slices.Repeat([]string{"index.php"}, 11)
	if _, err := st.Sync(t.Context(), Job{Source: src, Paths: many}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, readTree(t, hosts[0].Dest)); diff != "" {
		t.Errorf("after a large change (-want +got):\n%s", diff)
	}
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestSyncRefusesPathsOutsideTree(t *testing.T) {
	needRsync(t)
	src := t.TempDir()
	writeTree(t, src, baseTree)
	st := &Stage{Name: "production", Hosts: localHosts(t, 1), Method: &Rsync{}}
	rep, err := st.Sync(t.Context(), Job{Source: src, Paths: []string{"../etc/passwd"}})
	if !errors.Is(err, ErrStageFailed) {
		t.Fatalf("err = %v, want a failed stage", err)
	}
	if got := rep.Failed()[0].Err.Error(); got != `path "../etc/passwd" is not inside the tree` {
		t.Errorf("host error = %q", got)
	}
}

// TestSyncDashes: no source, destination or host is read as an option.
func TestSyncDashes(t *testing.T) {
	needRsync(t)
	root := t.TempDir()
	t.Chdir(root)
	writeTree(t, root, map[string]string{"-src/index.php": "<?php\n"})
	pwned := filepath.Join(root, "pwned")
	st := &Stage{Name: "production", Hosts: []Host{
		{Name: "dash", Dest: "-dest"},
		{Name: "evil", Dest: "-oProxyCommand=touch pwned:/srv/mediawiki"},
		{Name: "evil2", Dest: "root@-oProxyCommand=touch pwned:/srv/mediawiki"},
	}, Method: &Rsync{}, MaxFailed: 2}
	rep, err := st.Sync(t.Context(), Job{Source: "-src", Paths: []string{"index.php"}})
	if err != nil {
		t.Fatalf("sync: %v %v", err, rep.Failed())
	}
	if got := readTree(t, filepath.Join(root, "-dest")); got["index.php"] != "<?php\n" {
		t.Errorf("-dest holds %v", got)
	}
	for _, f := range rep.Failed() {
		if !strings.Contains(f.Err.Error(), `names a host starting with "-"`) {
			t.Errorf("%s: %v", f.Host, f.Err)
		}
	}
	if len(rep.Failed()) != 2 {
		t.Errorf("failed = %v, want evil and evil2", rep.Failed())
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Error("a destination ran a command")
	}
}

func TestSyncFailedHostPolicy(t *testing.T) {
	t.Parallel()
	needRsync(t)
	src := t.TempDir()
	writeTree(t, src, baseTree)
	hosts := localHosts(t, 3)
	// As root no permission stops rsync, so the broken host's directory
	// sits under a regular file.
	blocker := filepath.Join(t.TempDir(), "not-a-dir")
	writeTree(t, filepath.Dir(blocker), map[string]string{"not-a-dir": "x"})
	hosts[1].Dest = filepath.Join(blocker, "mediawiki")
	tests := []struct {
		maxFailed   int
		wantErr     bool
		wantSummary string
	}{
		{0, true, "production: FAILED, 1 of 3 hosts failed to sync (0 allowed) in 00m 00s: mwb."},
		{1, false, "production: synced 2/3 hosts in 00m 00s; 1 failed (1 allowed): mwb."},
	}
	for _, tt := range tests {
		st := &Stage{Name: "production", Hosts: hosts, Method: &Rsync{}, MaxFailed: tt.maxFailed}
		rep, err := st.Sync(t.Context(), Job{Source: src})
		if gotErr := errors.Is(err, ErrStageFailed); gotErr != tt.wantErr {
			t.Errorf("max %d: err = %v, want failed stage %v", tt.maxFailed, err, tt.wantErr)
		}
		rep.Elapsed = 0
		if got := rep.Summary(); got != tt.wantSummary {
			t.Errorf("max %d: summary\n got %q\nwant %q", tt.maxFailed, got, tt.wantSummary)
		}
		f := rep.Failed()
		if len(f) != 1 || !strings.Contains(f[0].Err.Error(), "rsync failed (exit code 3, errors selecting input/output files or directories)") ||
			!strings.Contains(f[0].Err.Error(), "Not a directory") {
			t.Errorf("failed = %v, want mwb with rsync's reason", f)
		}
	}
}

func TestSyncResume(t *testing.T) {
	t.Parallel()
	needRsync(t)
	src := t.TempDir()
	writeTree(t, src, baseTree)
	hosts := localHosts(t, 5)
	done := map[string]bool{"mwa": true, "mwc": true}
	st := &Stage{Name: "production", Hosts: hosts, Method: &Rsync{}}
	var reported []string
	var last Progress
	rep, err := st.Sync(t.Context(), Job{Source: src, Done: done,
		OnResult:   func(r Result) { reported = append(reported, r.Host) },
		OnProgress: func(p Progress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(reported)
	if diff := cmp.Diff([]string{"mwb", "mwd", "mwe"}, reported); diff != "" {
		t.Errorf("synced (-want +got):\n%s", diff)
	}
	for _, h := range hosts {
		_, err := os.Stat(h.Dest)
		if synced := err == nil; synced == done[h.Name] {
			t.Errorf("%s: synced=%v, done before=%v", h.Name, synced, done[h.Name])
		}
	}
	if last.Done != 5 || last.Total != 5 {
		t.Errorf("last progress = %+v, want 5/5", last)
	}
	rep.Elapsed = 0
	if got, want := rep.Summary(), "production: synced 5/5 hosts in 00m 00s (2 done before a restart)."; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
}

func TestCommandMethod(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "log")
	c, err := ParseCommand(`printf '%s|' {{.Host}} {{.Source}} {{.Paths}} >> ` + logf + `; echo >> ` + logf)
	if err != nil {
		t.Fatal(err)
	}
	st := &Stage{Name: "production", Hosts: []Host{{Name: "mw1", Dest: "x"}}, Method: c}
	paths := []string{"wmf-config/a b.php", "it's; rm -rf /", "$(reboot)"}
	if _, err := st.Sync(t.Context(), Job{Source: "/srv/staging", Paths: paths}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(logf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "mw1|/srv/staging|wmf-config/a b.php|it's; rm -rf /|$(reboot)|\n"; got != want {
		t.Errorf("command saw %q, want %q", got, want)
	}

	fail, _ := ParseCommand(`echo "scap: host {{.Host}} unreachable" >&2; exit 3`)
	st.Method = fail
	rep, err := st.Sync(t.Context(), Job{Source: "/srv/staging"})
	if !errors.Is(err, ErrStageFailed) {
		t.Fatalf("err = %v", err)
	}
	if got, want := rep.Failed()[0].Err.Error(), "sync command failed (exit code 3): scap: host mw1 unreachable"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

func TestSummary(t *testing.T) {
	res := func(names ...string) []Result {
		var out []Result
		for _, n := range names {
			r := Result{Host: n}
			if strings.HasPrefix(n, "!") {
				r = Result{Host: n[1:], Err: errors.New("down")}
			}
			out = append(out, r)
		}
		return out
	}
	tests := []struct {
		name string
		rep  Report
		want string
	}{
		{"all", Report{Stage: "canaries", Total: 2, Results: res("a", "b"), Elapsed: 527 * time.Second},
			"canaries: synced 2/2 hosts in 08m 47s."},
		{"many failed", Report{Stage: "production", Total: 9, MaxFailed: 2, Results: res("!a", "!b", "!c", "!d", "!e", "!f", "!g", "h", "i"), Elapsed: time.Hour + 2*time.Minute + 3*time.Second},
			"production: FAILED, 7 of 9 hosts failed to sync (2 allowed) in 1h 02m 03s: a, b, c, d, e and 2 more."},
		{"stopped", Report{Stage: "production", Total: 5, Results: res("a", "!b"), Elapsed: 41 * time.Second},
			"production: stopped after 00m 41s with 1/5 hosts synced; 1 failed: b."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rep.Summary(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
