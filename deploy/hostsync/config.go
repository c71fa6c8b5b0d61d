package hostsync

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"text/template"

	"github.com/jouncebot/jouncebot/config"
)

// FromConfig builds the stage st of d: it resolves host groups (reading
// group files now, so a changed file counts from the next stage on), makes
// each host's destination from the stage's dest template and picks the
// sync method.
func FromConfig(d *config.Deploy, st *config.Stage) (*Stage, error) {
	names, err := stageHosts(d, st)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("stage %s has no hosts: its host groups are empty", st.Name)
	}
	dest, err := template.New("dest").Option("missingkey=error").Parse(st.Dest)
	if err != nil {
		return nil, fmt.Errorf("stage %s: bad dest template: %w", st.Name, err)
	}
	hosts := make([]Host, 0, len(names))
	for _, n := range names {
		var b strings.Builder
		if err := dest.Execute(&b, struct{ Host string }{n}); err != nil {
			return nil, fmt.Errorf("stage %s: dest for %s: %w", st.Name, n, err)
		}
		hosts = append(hosts, Host{Name: n, Dest: b.String()})
	}
	s := &Stage{
		Name:          st.Name,
		Hosts:         hosts,
		Concurrency:   st.Concurrency,
		Timeout:       st.Timeout,
		MaxFailed:     st.MaxFailed(len(hosts)),
		FileLimit:     d.Sync.FileSyncLimit,
		ProgressEvery: d.Sync.ProgressEvery,
	}
	switch st.Method {
	case config.SyncCommand:
		c, err := ParseCommand(st.Command)
		if err != nil {
			return nil, fmt.Errorf("stage %s: %w", st.Name, err)
		}
		s.Method = c
	default:
		s.Method = RsyncFromConfig(d)
	}
	return s, nil
}

// RsyncFromConfig returns the rsync method the deploy configuration asks for.
func RsyncFromConfig(d *config.Deploy) *Rsync {
	return &Rsync{Compress: d.Sync.Compress, Rsh: d.Sync.Rsh, Password: d.Sync.RsyncPassword.Value(), Protect: d.Sync.Protected}
}

// stageHosts lists the stage's hosts and its groups' hosts, each once, in
// the order written.
func stageHosts(d *config.Deploy, st *config.Stage) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	var bad error
	add := func(hs []string) {
		for _, h := range hs {
			if h = strings.TrimSpace(h); strings.HasPrefix(h, "-") && bad == nil {
				// ssh and most tools would read it as an option.
				bad = fmt.Errorf("stage %s: host name %q starts with \"-\"", st.Name, h)
			}
			if h != "" && !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	add(st.Hosts)
	for _, name := range st.Groups {
		g := d.HostGroupByName(name)
		if g == nil {
			return nil, fmt.Errorf("stage %s: host group %s is not configured", st.Name, name)
		}
		add(g.Hosts)
		if g.File != "" {
			hs, err := readGroupFile(g.File)
			if err != nil {
				return nil, fmt.Errorf("stage %s: host group %s: %w", st.Name, name, err)
			}
			add(hs)
		}
	}
	return out, bad
}

// readGroupFile reads a dsh group file: one host per line, # comments.
func readGroupFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var hosts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line != "" {
			hosts = append(hosts, line)
		}
	}
	return hosts, sc.Err()
}
