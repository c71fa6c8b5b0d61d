package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Maint is the maintenance scripts section: where scripts run, how they
// are started there, which have a dry-run form, and which may run at all.
// Package maint owns the meaning; this is the format.
type Maint struct {
	// Host is the maintenance host (user@host), reached with Remote. Empty
	// turns the maint command off.
	Host string `yaml:"host"`
	// Remote is the command, as argv, that runs a shell command line on
	// the host; "{host}" is replaced by Host and the command line is
	// appended as the last argument (default: ssh -o BatchMode=yes
	// {host}). For scripts run as jobs elsewhere, e.g. on Kubernetes:
	// [kubectl, exec, -i, mwmaint, --, sh, -c].
	Remote []string `yaml:"remote"`
	// Command is the command, as argv, that runs one script on one wiki;
	// "{script}" and "{wiki}" are replaced and the script's arguments
	// appended (default: mwscript {script} --wiki={wiki}).
	Command []string `yaml:"command"`
	// WorkDir is the directory on the host that keeps each run's output
	// and exit status (default /tmp/jouncebot-maint).
	WorkDir string `yaml:"work_dir"`
	// Scripts, when not empty, is the allow list of scripts: each a name
	// (any option that does not change the target) or a mapping with the
	// options it takes and whether its output is private.
	Scripts []MaintScript `yaml:"scripts"`
	// Wikis are the known wikis (database names); when not empty, only
	// these may be named, and "all" means all of them.
	Wikis []string `yaml:"wikis"`
	// Lists are named wiki lists, named in chat as list:NAME.
	Lists map[string][]string `yaml:"lists"`
	// DryRun lists the scripts that have a dry-run form: they run it
	// first and wait for "maint go".
	DryRun []DryRun `yaml:"dry_run"`
	// Timeout stops a run whose jobs together have run longer (default
	// 6h): SIGTERM, then SIGKILL after KillAfter.
	Timeout time.Duration `yaml:"timeout"`
	// KillAfter is how long a stopped job has after SIGTERM before its
	// process group gets SIGKILL (default 1m).
	KillAfter time.Duration `yaml:"kill_after"`
	// WaitExpiry is how long a finished dry run waits for "maint go"
	// (default 24h); after it the run has expired and the dry run must be
	// run again, as what it showed may no longer hold.
	WaitExpiry time.Duration `yaml:"wait_expiry"`
	// Retention is how long finished runs and their output are kept
	// (default 30 days).
	Retention time.Duration `yaml:"retention"`
	// PollInterval is how often the output on the host is read (default 5s).
	PollInterval time.Duration `yaml:"poll_interval"`
	// ProgressEvery is how often progress is said in chat (default 1m).
	ProgressEvery time.Duration `yaml:"progress_every"`
}

// MaintScript is one script of the allow list. Written as a plain name
// ("namespaceDupes.php") it takes any option except those that change
// the target (see TargetOptions); written as a mapping it takes only the
// options listed.
type MaintScript struct {
	Script string `yaml:"script"`
	// Options, when not nil, are the only options the script takes: the
	// option's name ("--maxjobs") and the pattern its whole value must
	// match ("[0-9]+"), or "" for an option without a value. Options
	// that change the target are refused unless listed here. An options
	// key with nothing after it lists none.
	Options map[string]string `yaml:"options"`
	// Private keeps the script's output off the public run page and the
	// channel: it goes to the security destination.
	Private bool `yaml:"private"`
}

// UnmarshalYAML reads a plain script name or a mapping.
func (s *MaintScript) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = MaintScript{}
		return n.Decode(&s.Script)
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a script is a name or a mapping of script, options and private", n.Line)
	}
	listed := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if k != "script" && k != "options" && k != "private" {
			return fmt.Errorf("line %d: field %s not found in type config.MaintScript", n.Content[i].Line, k)
		}
		listed = listed || k == "options"
	}
	type fields MaintScript // without this method
	if err := n.Decode((*fields)(s)); err != nil {
		return err
	}
	if listed && s.Options == nil {
		// "options:" with nothing after it lists no options: read as no
		// list, it would take every option but the target ones.
		s.Options = map[string]string{}
	}
	return nil
}

// MaintScriptName is the one name of a script however it is written:
// "namespaceDupes" and "maintenance/namespaceDupes.php" are
// "namespaceDupes.php" (mwscript finds a plain name in maintenance/), so
// that the allow list, the dry-run table and the one run per wiki see one
// script. Paths elsewhere (extensions/Foo/maintenance/bar.php) are kept.
func MaintScriptName(name string) string {
	if !strings.HasSuffix(name, ".php") && !strings.Contains(name, "/") {
		name += ".php"
	}
	if rest, ok := strings.CutPrefix(name, "maintenance/"); ok && !strings.Contains(rest, "/") {
		name = rest
	}
	return name
}

// MaintScriptNames returns the names of scripts (for an allow list
// written in Go).
func MaintScriptNames(names ...string) []MaintScript {
	out := make([]MaintScript, len(names))
	for i, n := range names {
		out[i].Script = n
	}
	return out
}

// TargetOptions are the MediaWiki maintenance options that change which
// wiki, server, configuration or database account a script uses: refused
// unless the script's options list them.
var TargetOptions = []string{"wiki", "server", "conf", "globals", "dbuser", "dbpass", "dbgroupdefault", "dbserver", "dbname"}

// DryRun is one script's dry-run form: the real run has the Real flags,
// the dry run leaves them out and adds the Dry flags.
type DryRun struct {
	Script string   `yaml:"script"`
	Real   []string `yaml:"real"`
	Dry    []string `yaml:"dry"`
}

// DefaultMaintDryRuns are the dry-run forms known without configuration.
var DefaultMaintDryRuns = []DryRun{{Script: "namespaceDupes.php", Real: []string{"--fix"}}}

var (
	wikiName   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	optionName = regexp.MustCompile(`^--?[A-Za-z0-9][A-Za-z0-9_-]*$`)
)

func (m *Maint) applyDefaults() {
	if len(m.Remote) == 0 {
		m.Remote = []string{"ssh", "-o", "BatchMode=yes", "{host}"}
	}
	if len(m.Command) == 0 {
		m.Command = []string{"mwscript", "{script}", "--wiki={wiki}"}
	}
	if m.WorkDir == "" {
		m.WorkDir = "/tmp/jouncebot-maint"
	}
	if m.DryRun == nil {
		m.DryRun = DefaultMaintDryRuns
	}
	if m.Timeout == 0 {
		m.Timeout = 6 * time.Hour
	}
	if m.KillAfter == 0 {
		m.KillAfter = time.Minute
	}
	if m.Retention == 0 {
		m.Retention = 30 * 24 * time.Hour
	}
	if m.WaitExpiry == 0 {
		m.WaitExpiry = 24 * time.Hour
	}
	if m.PollInterval == 0 {
		m.PollInterval = 5 * time.Second
	}
	if m.ProgressEvery == 0 {
		m.ProgressEvery = time.Minute
	}
}

func (m *Maint) validate(v *validator, p string) {
	if !slices.ContainsFunc(m.Command, func(s string) bool { return strings.Contains(s, "{script}") }) {
		v.add(p+".command", "must contain {script}")
	}
	for i, w := range m.Wikis {
		if !wikiName.MatchString(w) {
			v.add(fmt.Sprintf("%s.wikis[%d]", p, i), "%q is not a wiki database name (lower-case letters, digits, _)", w)
		}
	}
	for name, ws := range m.Lists {
		if !wikiName.MatchString(name) {
			v.add(p+".lists."+name, "a list name is lower-case letters, digits and _")
		}
		if len(ws) == 0 {
			v.add(p+".lists."+name, "an empty list")
		}
		for _, w := range ws {
			if !wikiName.MatchString(w) || (len(m.Wikis) > 0 && !slices.Contains(m.Wikis, w)) {
				v.add(p+".lists."+name, "%q is not a known wiki", w)
			}
		}
	}
	seen := map[string]int{}
	for i, sc := range m.Scripts {
		at := fmt.Sprintf("%s.scripts[%d]", p, i)
		if sc.Script == "" {
			v.add(at, "name the script")
		}
		if j, ok := seen[MaintScriptName(sc.Script)]; ok && sc.Script != "" {
			v.add(at, "%s is listed already as scripts[%d]; list a script once, with all its options", sc.Script, j)
		} else {
			seen[MaintScriptName(sc.Script)] = i
		}
		for name, pat := range sc.Options {
			if !optionName.MatchString(name) {
				v.add(at+".options", "%q is not an option name like --maxjobs", name)
			}
			if _, err := regexp.Compile(pat); err != nil {
				v.add(at+".options."+name, "the value pattern does not compile: %v", err)
			}
		}
	}
	for i, d := range m.DryRun {
		if d.Script == "" || len(d.Real)+len(d.Dry) == 0 {
			v.add(fmt.Sprintf("%s.dry_run[%d]", p, i), "name the script and its real or dry flags")
		}
	}
	for k, d := range map[string]time.Duration{"timeout": m.Timeout, "kill_after": m.KillAfter, "retention": m.Retention, "wait_expiry": m.WaitExpiry, "poll_interval": m.PollInterval, "progress_every": m.ProgressEvery} {
		if d < 0 {
			v.add(p+"."+k, "must be positive")
		}
	}
}
