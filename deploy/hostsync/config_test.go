package hostsync

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/config"
)

func TestFromConfig(t *testing.T) {
	dir := t.TempDir()
	group := filepath.Join(dir, "mediawiki-installation")
	if err := os.WriteFile(group, []byte("# appservers\nmw1001\nmw1002  # rack A\n\nmwdebug1001\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := `
deploy:
  sync: {source: /srv/mediawiki-staging, compress: true}
  host_groups:
    - {name: appservers, file: ` + group + `}
  stages:
    - name: production
      hosts: [mwdebug1001, mw2001]
      groups: [appservers]
      dest: "rsync://{{.Host}}/common/"
      max_failed_hosts: 50%
    - name: scap
      hosts: [mw1]
      method: command
      command: "scap sync-file --hosts {{.Host}} {{.Paths}}"
`
	cfg, err := config.Parse([]byte(yaml), "test.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := FromConfig(&cfg.Deploy, cfg.Deploy.StageByName("production"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Host{
		{"mwdebug1001", "rsync://mwdebug1001/common/"},
		{"mw2001", "rsync://mw2001/common/"},
		{"mw1001", "rsync://mw1001/common/"},
		{"mw1002", "rsync://mw1002/common/"},
	}
	if diff := cmp.Diff(want, st.Hosts); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
	if r, ok := st.Method.(*Rsync); !ok || !r.Compress || r.Rsh != "ssh -o BatchMode=yes" {
		t.Errorf("method = %#v", st.Method)
	}
	if st.MaxFailed != 2 || st.Concurrency != 80 || st.FileLimit != 100 {
		t.Errorf("max failed %d, concurrency %d, file limit %d", st.MaxFailed, st.Concurrency, st.FileLimit)
	}
	sc, err := FromConfig(&cfg.Deploy, cfg.Deploy.StageByName("scap"))
	if err != nil {
		t.Fatal(err)
	}
	line, err := sc.Method.(*Command).Render(sc.Hosts[0], "/srv/mediawiki-staging", []string{"wmf-config/a b.php"})
	if err != nil || line != "scap sync-file --hosts mw1 'wmf-config/a b.php'" {
		t.Errorf("command = %q, %v", line, err)
	}
	line, err = sc.Method.(*Command).Render(sc.Hosts[0], "/srv/mediawiki-staging", []string{"-rf.php", "w/-x.php"})
	if err != nil || line != "scap sync-file --hosts mw1 ./-rf.php w/-x.php" {
		t.Errorf("command = %q, %v", line, err)
	}

	// A host name that ssh would read as an option.
	if err := os.WriteFile(group, []byte("mw1001\n-oProxyCommand=touch${IFS}/tmp/pwned\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = FromConfig(&cfg.Deploy, cfg.Deploy.StageByName("production"))
	if want := `stage production: host name "-oProxyCommand=touch${IFS}/tmp/pwned" starts with "-"`; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}

	os.Remove(group)
	if _, err := FromConfig(&cfg.Deploy, cfg.Deploy.StageByName("production")); err == nil {
		t.Error("a missing group file was not reported")
	}
}
