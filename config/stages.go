package config

import (
	"fmt"
	"math"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Sync says where the tree to deploy lives and how it reaches the hosts.
type Sync struct {
	// Source is the staging tree on the deploy host (e.g.
	// /srv/mediawiki-staging), the checkouts releases are frozen from.
	// Relative to the config file.
	Source string `yaml:"source"`
	// ReleasesDir keeps the releases: the immutable tree each deploy
	// syncs, and the one from before it, to roll back to. Relative to the
	// config file; default <data_dir>/releases.
	ReleasesDir string `yaml:"releases_dir"`
	// KeepReleases is how many releases are kept besides those a running
	// deploy uses (default 3).
	KeepReleases int `yaml:"keep_releases"`
	// Compress adds --compress to rsync (worth it across data centres).
	Compress bool `yaml:"compress"`
	// FileSyncLimit is the largest number of changed paths synced one by
	// one (the sync-file case); above it the whole tree is synced
	// (default 100).
	FileSyncLimit int `yaml:"file_sync_limit"`
	// Rsh is the remote shell rsync uses for host:path destinations
	// (default "ssh -o BatchMode=yes").
	Rsh string `yaml:"rsh"`
	// RsyncPassword is the password for rsync:// daemon destinations.
	RsyncPassword *Secret `yaml:"rsync_password"`
	// ProgressEvery is the shortest time between two progress lines in
	// the channel (default 5s).
	ProgressEvery time.Duration `yaml:"progress_every"`
	// Untracked are paths of the staging tree that git does not track
	// but the hosts need: settings kept out of git, caches built on the
	// deploy host. Each release freezes them as they are when it is
	// made and hashes them into its manifest. Slash-separated, relative
	// to the tree, "*" matching within one name (default
	// DefaultUntracked; [] for none).
	Untracked []string `yaml:"untracked"`
	// Protected are paths on the hosts that no sync ever deletes, even
	// when a release does not hold them (default DefaultProtected; []
	// for none). Written like Untracked.
	Protected []string `yaml:"protected"`
}

// StepNames are the names of the deploy's own steps (and "done", the
// record's step after the last): a deploy's record names its next step,
// so no configured stage may take one of them. The deploy package checks
// that its steps are all listed here.
var StepNames = []string{"vote", "merge", "fetch", "check", "snapshot", "update", "verify", "freeze",
	"revert", "push-revert", "finish-sync", "done"}

// DefaultUntracked fits a MediaWiki deployment host: the private
// settings and the localisation caches scap builds in staging.
var DefaultUntracked = []string{"private/", "php-*/cache/l10n/"}

// DefaultProtected fits a MediaWiki application server: its private
// settings and the caches each MediaWiki version keeps beside its code.
var DefaultProtected = []string{"private/", "php-*/cache/"}

// HostGroup names a list of hosts, written out or read from a file with
// one host per line (a dsh group file; # starts a comment).
type HostGroup struct {
	Name  string   `yaml:"name"`
	Hosts []string `yaml:"hosts"`
	// File is read each time a stage starts. Relative to the config file.
	File string `yaml:"file"`
}

// Sync methods.
const (
	SyncRsync   = "rsync"
	SyncCommand = "command"
)

// Stage is one step of a deploy: a set of hosts synced together, checked,
// and possibly waiting for the patch owners' test.
type Stage struct {
	Name string `yaml:"name"`
	// Hosts are host names; Groups name host groups. A stage needs at
	// least one of them.
	Hosts  []string `yaml:"hosts"`
	Groups []string `yaml:"groups"`
	// Dest is the rsync destination of a host, a template with .Host:
	// "rsync://{{.Host}}/mediawiki/", "{{.Host}}:/srv/mediawiki/" or a
	// local directory. Default "{{.Host}}": the host is the destination.
	Dest string `yaml:"dest"`
	// Method is rsync (the default), command or kubernetes.
	Method string `yaml:"method"`
	// Command is run by /bin/sh for each host when Method is command. It
	// is a template with .Host, .Dest, .Source and .Paths (shell-quoted
	// when printed), e.g. "scap sync-file --hosts {{.Host}} {{.Paths}}".
	Command string `yaml:"command"`
	// Concurrency is how many hosts are synced at once (default 80, as scap).
	Concurrency int `yaml:"concurrency"`
	// Timeout bounds the sync of one host (default 5m).
	Timeout time.Duration `yaml:"timeout"`
	// MaxFailedHosts is how many hosts may fail before the stage fails:
	// a number ("0", the default) or a percentage of the stage's hosts ("2%").
	MaxFailedHosts string `yaml:"max_failed_hosts"`
	// WaitForTest makes the deploy wait for the patch owners' "tested ok"
	// after this stage.
	WaitForTest bool `yaml:"wait_for_test"`
	// Checks run after the stage is synced.
	Checks []Check `yaml:"checks"`
	// Kubernetes names the Deployments of a stage with method
	// kubernetes (which has no hosts); see kube.go.
	Kubernetes *KubeTargets `yaml:"kubernetes"`
}

// Check types.
const (
	CheckHTTP   = "http"
	CheckErrors = "errors"
	CheckCanary = "canary"
)

// Check is a test run after a stage: an HTTP smoke check or an error-rate
// check.
type Check struct {
	// Name is shown in chat (default: the type and URL).
	Name string `yaml:"name"`
	// Type is http or errors.
	Type string `yaml:"type"`
	// URL is fetched by an http check; for an errors check it is the
	// query endpoint (an Elasticsearch _count URL or a Prometheus
	// /api/v1/query URL). {{.Window}} and {{.Since}} are replaced by the
	// time waited ("20s") and its start (RFC 3339).
	URL string `yaml:"url"`
	// Headers are sent with the request, e.g. X-Wikimedia-Debug.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `yaml:"timeout"`

	// Status is the status an http check expects (default 200).
	Status int `yaml:"status"`
	// Contains is text the http check's response body must contain.
	Contains string `yaml:"contains"`

	// Wait is how long an errors check lets traffic flow before counting
	// (default 20s).
	Wait time.Duration `yaml:"wait"`
	// Format is elasticsearch ({"count": N}) or prometheus (an instant
	// query); empty means recognise the answer.
	Format string `yaml:"format"`
	// Query is the Prometheus query, sent as the query parameter.
	Query string `yaml:"query"`
	// Body is a JSON body to POST (an Elasticsearch query); empty means GET.
	Body string `yaml:"body"`
	// Threshold is the error count at or above which the check fails.
	Threshold float64 `yaml:"threshold"`

	// A canary check compares the stage's hosts, just synced, with a
	// baseline over an observation window (see package deploy/canary).
	// URL is the Prometheus server's base URL.
	Canary CanaryCheck `yaml:",inline"`
}

// CanaryCheck configures a canary analysis.
type CanaryCheck struct {
	// Window is how long the canaries are observed after the sync
	// (default 5m).
	Window time.Duration `yaml:"window"`
	// Step is the time between samples (default 15s, the scrape
	// interval).
	Step time.Duration `yaml:"step"`
	// Baseline says what the canaries are compared with: "later" (the
	// hosts of the later stages, not yet synced, over the same period;
	// the default), "before" (the canaries themselves over the window
	// before the sync) or "both".
	Baseline string `yaml:"baseline"`
	// Label is the series label naming the host (default instance).
	Label string `yaml:"label"`
	// Confidence is the level of the tests (default 0.99).
	Confidence float64 `yaml:"confidence"`
	// Effect is the change tolerated, as a share (default 0.15: 15%).
	Effect float64 `yaml:"effect"`
	// PassScore and MarginalScore are the score thresholds: at or above
	// PassScore the deploy goes on, at or above MarginalScore the
	// deployer is asked, below it the stage is rolled back (defaults 95
	// and 75).
	PassScore     float64 `yaml:"pass_score"`
	MarginalScore float64 `yaml:"marginal_score"`
	// Metrics are the metrics compared.
	Metrics []CanaryMetric `yaml:"metrics"`
}

// CanaryMetric is one metric of a canary analysis.
type CanaryMetric struct {
	Name string `yaml:"name"`
	// Query is a PromQL template giving one series per host; {{.Hosts}}
	// matches the hosts' instance labels, e.g.
	// sum by (instance) (rate(mediawiki_exceptions_total{instance=~"{{.Hosts}}"}[1m])).
	Query string `yaml:"query"`
	// Direction is which change is bad: increase (default), decrease or
	// either.
	Direction string `yaml:"direction"`
	// Weight counts the metric in the score (default 1).
	Weight float64 `yaml:"weight"`
	// Unit follows its numbers in chat ("/min", " ms").
	Unit string `yaml:"unit"`
}

// Purge configures the CDN purge of changed static files.
type Purge struct {
	// Endpoints receive one HTTP PURGE per URL (e.g. each cache's
	// http://cache1:6081). Empty means the PURGE goes to the public URL.
	Endpoints []string `yaml:"endpoints"`
	// Static maps directories of the tree to public URLs.
	Static []StaticDir `yaml:"static"`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `yaml:"timeout"`
}

// StaticDir maps a directory of the deployed tree to its public URL.
type StaticDir struct {
	// Dir is relative to the tree, e.g. "static/".
	Dir string `yaml:"dir"`
	// URL is the public URL of Dir, e.g. https://en.wikipedia.org/static/.
	URL string `yaml:"url"`
}

// StageByName returns the stage with that name, or nil.
func (d *Deploy) StageByName(name string) *Stage {
	for i := range d.Stages {
		if d.Stages[i].Name == name {
			return &d.Stages[i]
		}
	}
	return nil
}

// HostGroupByName returns the host group with that name, or nil.
func (d *Deploy) HostGroupByName(name string) *HostGroup {
	for i := range d.HostGroups {
		if d.HostGroups[i].Name == name {
			return &d.HostGroups[i]
		}
	}
	return nil
}

// MaxFailed returns how many of n hosts may fail before the stage fails.
// It assumes the configuration was validated.
func (s *Stage) MaxFailed(n int) int {
	m, _ := parseMaxFailed(s.MaxFailedHosts, n)
	return m
}

func parseMaxFailed(s string, n int) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if pct, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
		if err != nil || f < 0 || f > 100 {
			return 0, fmt.Errorf("bad percentage")
		}
		return int(f * float64(n) / 100), nil
	}
	m, err := strconv.Atoi(s)
	if err != nil || m < 0 {
		return 0, fmt.Errorf("bad number")
	}
	return m, nil
}

func (d *Deploy) applySyncDefaults() {
	s := &d.Sync
	if s.KeepReleases == 0 {
		s.KeepReleases = 3
	}
	if s.FileSyncLimit == 0 {
		s.FileSyncLimit = 100
	}
	if s.Rsh == "" {
		s.Rsh = "ssh -o BatchMode=yes"
	}
	if s.ProgressEvery == 0 {
		s.ProgressEvery = 5 * time.Second
	}
	if s.Untracked == nil {
		s.Untracked = slices.Clone(DefaultUntracked)
	}
	if s.Protected == nil {
		s.Protected = slices.Clone(DefaultProtected)
	}
	for i := range d.Stages {
		st := &d.Stages[i]
		if st.Dest == "" {
			st.Dest = "{{.Host}}"
		}
		if st.Method == "" {
			st.Method = SyncRsync
		}
		if st.Concurrency == 0 {
			st.Concurrency = 80
		}
		if st.Timeout == 0 {
			st.Timeout = 5 * time.Minute
		}
		for j := range st.Checks {
			c := &st.Checks[j]
			if c.Timeout == 0 {
				c.Timeout = 10 * time.Second
			}
			if c.Type == CheckHTTP && c.Status == 0 {
				c.Status = 200
			}
			if c.Type == CheckErrors && c.Wait == 0 {
				c.Wait = 20 * time.Second
			}
			if c.Type == CheckCanary {
				c.Canary.defaults()
			}
			if c.Name == "" {
				c.Name = c.Type + " " + c.URL
			}
		}
	}
	if d.Purge != nil && d.Purge.Timeout == 0 {
		d.Purge.Timeout = 10 * time.Second
	}
}

func (d *Deploy) validateSync(v *validator, p string, c *Config) {
	abs := func(path string) string {
		if path == "" || filepath.IsAbs(path) || c.Dir == "" {
			return path
		}
		return filepath.Join(c.Dir, path)
	}
	s := &d.Sync
	s.Source = abs(s.Source)
	if s.ReleasesDir == "" {
		s.ReleasesDir = filepath.Join(c.Bot.DataDir, "releases")
	}
	s.ReleasesDir = abs(s.ReleasesDir)
	if len(d.Stages) > 0 && s.Source == "" {
		v.add(p+".sync.source", "name the staging tree to sync from, e.g. /srv/mediawiki-staging")
	}
	if s.KeepReleases < 1 || s.KeepReleases > 100 {
		v.add(p+".sync.keep_releases", "must be between 1 and 100, got %d", s.KeepReleases)
	}
	if s.FileSyncLimit < 1 {
		v.add(p+".sync.file_sync_limit", "must be at least 1, got %d", s.FileSyncLimit)
	}
	if s.ProgressEvery < time.Second || s.ProgressEvery > 10*time.Minute {
		v.add(p+".sync.progress_every", "must be between 1s and 10m, got %s", s.ProgressEvery)
	}
	for key, pats := range map[string][]string{"untracked": s.Untracked, "protected": s.Protected} {
		for i, pat := range pats {
			if why := badTreePattern(pat); why != "" {
				v.add(fmt.Sprintf("%s.sync.%s[%d]", p, key, i), "%q %s; write a path inside the tree, e.g. private/", pat, why)
			}
		}
	}
	groups := map[string]bool{}
	for i := range d.HostGroups {
		g := &d.HostGroups[i]
		gp := fmt.Sprintf("%s.host_groups[%d]", p, i)
		g.File = abs(g.File)
		switch {
		case g.Name == "":
			v.add(gp+".name", "every host group needs a name")
		case groups[g.Name]:
			v.add(gp+".name", "host group name %q is used twice; names must be unique", g.Name)
		}
		groups[g.Name] = true
		if len(g.Hosts) == 0 && g.File == "" {
			v.add(gp, "host group %q needs hosts or a file listing them", g.Name)
		}
	}
	names := map[string]bool{}
	kube := false
	for i := range d.Stages {
		sp := fmt.Sprintf("%s.stages[%d]", p, i)
		st := &d.Stages[i]
		switch {
		case st.Name == "":
			v.add(sp+".name", "every stage needs a name, e.g. canaries")
		case names[st.Name]:
			v.add(sp+".name", "stage name %q is used twice; names must be unique", st.Name)
		case slices.Contains(StepNames, st.Name):
			v.add(sp+".name", "%q is the name of one of the deploy's own steps (%s); give the stage another name", st.Name, strings.Join(StepNames, ", "))
		}
		names[st.Name] = true
		st.validate(v, sp, groups)
		kube = kube || st.Method == SyncKubernetes
	}
	switch {
	case d.Kubernetes != nil && kube:
		d.Kubernetes.resolve(c)
		d.Kubernetes.validate(v, p+".kubernetes")
	case kube:
		v.add(p+".kubernetes", "kubernetes stages need deploy.kubernetes.image.repository, where the releases' images go")
	}
	if d.Purge != nil {
		d.Purge.validate(v, p+".purge")
	}
}

func (st *Stage) validate(v *validator, p string, groups map[string]bool) {
	if st.Method == SyncKubernetes {
		st.validateKube(v, p)
		return
	}
	if st.Kubernetes != nil {
		v.add(p+".kubernetes", "is only used with method: kubernetes")
	}
	if len(st.Hosts) == 0 && len(st.Groups) == 0 {
		v.add(p, "stage %q has no hosts; give hosts or groups", st.Name)
	}
	for j, g := range st.Groups {
		if !groups[g] {
			v.add(fmt.Sprintf("%s.groups[%d]", p, j), "%q is not a host group; define it under deploy.host_groups", g)
		}
	}
	if _, err := template.New("dest").Parse(st.Dest); err != nil {
		v.add(p+".dest", "is not a valid template (%s); write e.g. rsync://{{.Host}}/mediawiki/", templateErr(err))
	}
	switch st.Method {
	case SyncRsync:
		if st.Command != "" {
			v.add(p+".command", "is only used with method: command")
		}
	case SyncCommand:
		if strings.TrimSpace(st.Command) == "" {
			v.add(p+".command", "method command needs a command, e.g. scap sync-file --hosts {{.Host}} {{.Paths}}")
		} else if _, err := template.New("command").Parse(st.Command); err != nil {
			v.add(p+".command", "is not a valid template (%s)", templateErr(err))
		}
	default:
		v.add(p+".method", "expected rsync, command or kubernetes, got %q", st.Method)
	}
	st.validateCommon(v, p)
}

// validateKube validates a kubernetes stage: Deployments, not hosts.
func (st *Stage) validateKube(v *validator, p string) {
	if len(st.Hosts) > 0 || len(st.Groups) > 0 || st.Command != "" {
		v.add(p, "stage %q has method kubernetes: it names deployments under kubernetes, not hosts, groups or a command", st.Name)
	}
	st.Kubernetes.validate(v, p)
	st.validateCommon(v, p)
}

// validateCommon validates what stages of every method have.
func (st *Stage) validateCommon(v *validator, p string) {
	if st.Concurrency < 1 || st.Concurrency > 1000 {
		v.add(p+".concurrency", "must be between 1 and 1000, got %d", st.Concurrency)
	}
	if st.Timeout < time.Second || st.Timeout > 24*time.Hour {
		v.add(p+".timeout", "must be between 1s and 24h, got %s", st.Timeout)
	}
	if _, err := parseMaxFailed(st.MaxFailedHosts, 100); err != nil {
		v.add(p+".max_failed_hosts", "expected a number of hosts like 3 or a percentage like 2%%, got %q", st.MaxFailedHosts)
	}
	for j := range st.Checks {
		st.Checks[j].validate(v, fmt.Sprintf("%s.checks[%d]", p, j))
	}
}

func templateErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

func (c *Check) validate(v *validator, p string) {
	if !isHTTPURL(c.URL) {
		v.add(p+".url", "expected an http:// or https:// URL, got %s", shownURL(c.URL))
	}
	if c.Timeout < 100*time.Millisecond || c.Timeout > 10*time.Minute {
		v.add(p+".timeout", "must be between 100ms and 10m, got %s", c.Timeout)
	}
	switch c.Type {
	case CheckHTTP:
		if c.Status < 100 || c.Status > 599 {
			v.add(p+".status", "expected an HTTP status between 100 and 599, got %d", c.Status)
		}
	case CheckErrors:
		if c.Wait < 0 || c.Wait > time.Hour {
			v.add(p+".wait", "must be between 0s and 1h, got %s", c.Wait)
		}
		if !slices.Contains([]string{"", "elasticsearch", "prometheus"}, c.Format) {
			v.add(p+".format", "expected elasticsearch or prometheus, got %q", c.Format)
		}
		if c.Format == "prometheus" && c.Query == "" {
			v.add(p+".query", "a prometheus errors check needs a query, e.g. sum(increase(errors_total[{{.Window}}]))")
		}
		if c.Threshold <= 0 {
			v.add(p+".threshold", "give the error count at which the check fails, e.g. 10")
		}
		for _, t := range []struct{ key, text string }{{"url", c.URL}, {"query", c.Query}, {"body", c.Body}} {
			if _, err := template.New(t.key).Parse(t.text); err != nil {
				v.add(p+"."+t.key, "is not a valid template (%s)", templateErr(err))
			}
		}
	case CheckCanary:
		c.Canary.validate(v, p)
	default:
		v.add(p+".type", "expected http, errors or canary, got %q", c.Type)
	}
}

func (c *CanaryCheck) defaults() {
	if c.Window == 0 {
		c.Window = 5 * time.Minute
	}
	if c.Step == 0 {
		c.Step = 15 * time.Second
	}
	if c.Baseline == "" {
		c.Baseline = "later"
	}
	for i := range c.Metrics {
		if c.Metrics[i].Weight == 0 {
			c.Metrics[i].Weight = 1
		}
		if c.Metrics[i].Direction == "" {
			c.Metrics[i].Direction = "increase"
		}
	}
}

func (c *CanaryCheck) validate(v *validator, p string) {
	if c.Window < 10*time.Second || c.Window > time.Hour {
		v.add(p+".window", "must be between 10s and 1h, got %s", c.Window)
	}
	if c.Step < time.Second || c.Step > c.Window/4 {
		v.add(p+".step", "must be at least 1s and a quarter of the window at most (%s), got %s", c.Window/4, c.Step)
	}
	if !slices.Contains([]string{"later", "before", "both"}, c.Baseline) {
		v.add(p+".baseline", "expected later, before or both, got %q", c.Baseline)
	}
	// NaN passes every comparison but the equality, hence the ! forms.
	if c.Confidence != 0 && !(c.Confidence >= 0.5 && c.Confidence < 1) {
		v.add(p+".confidence", "expected a level between 0.5 and 1, like 0.99, got %v", c.Confidence)
	}
	if !(c.Effect >= 0 && c.Effect < 1) {
		v.add(p+".effect", "expected a share between 0 and 1, like 0.15, got %v", c.Effect)
	}
	if !(c.PassScore >= 0 && c.PassScore <= 100 && c.MarginalScore >= 0 && c.MarginalScore <= 100) {
		v.add(p+".pass_score", "scores are between 0 and 100")
	} else if c.PassScore != 0 && c.MarginalScore != 0 && c.MarginalScore > c.PassScore {
		v.add(p+".marginal_score", "must not be above pass_score (%v), got %v", c.PassScore, c.MarginalScore)
	}
	if len(c.Metrics) == 0 {
		v.add(p+".metrics", "give at least one metric, e.g. {name: errors, query: 'sum by (instance) (rate(errors_total{instance=~\"{{.Hosts}}\"}[1m]))'}")
	}
	names := map[string]bool{}
	for i, m := range c.Metrics {
		mp := fmt.Sprintf("%s.metrics[%d]", p, i)
		if m.Name == "" {
			v.add(mp+".name", "give the metric a name, as chat shows it")
		} else if names[m.Name] {
			v.add(mp+".name", "%q is used twice", m.Name)
		}
		names[m.Name] = true
		if m.Query == "" {
			v.add(mp+".query", "give a PromQL query with one series per host")
		} else if _, err := template.New("query").Parse(m.Query); err != nil {
			v.add(mp+".query", "is not a valid template (%s)", templateErr(err))
		} else if !strings.Contains(m.Query, "{{.Hosts}}") {
			v.add(mp+".query", "must select the hosts with {{.Hosts}}, e.g. {instance=~\"{{.Hosts}}\"}")
		}
		if !slices.Contains([]string{"increase", "decrease", "either"}, m.Direction) {
			v.add(mp+".direction", "expected increase, decrease or either, got %q", m.Direction)
		}
		if !(m.Weight >= 0) || math.IsInf(m.Weight, 0) {
			v.add(mp+".weight", "must be a number of 0 or more, got %v", m.Weight)
		}
	}
}

func (pu *Purge) validate(v *validator, p string) {
	for i, e := range pu.Endpoints {
		if !isHTTPURL(e) {
			v.add(fmt.Sprintf("%s.endpoints[%d]", p, i), "expected an http:// or https:// URL, got %s", shownURL(e))
		}
	}
	if len(pu.Static) == 0 {
		v.add(p+".static", "map at least one static directory to its public URL")
	}
	for i, s := range pu.Static {
		sp := fmt.Sprintf("%s.static[%d]", p, i)
		if s.Dir == "" || filepath.IsAbs(s.Dir) || strings.HasPrefix(filepath.Clean(s.Dir), "..") {
			v.add(sp+".dir", "expected a directory inside the tree, like static/, got %q", s.Dir)
		}
		if !isHTTPURL(s.URL) {
			v.add(sp+".url", "expected the directory's public http:// or https:// URL, got %s", shownURL(s.URL))
		}
	}
	if pu.Timeout < 100*time.Millisecond || pu.Timeout > 10*time.Minute {
		v.add(p+".timeout", "must be between 100ms and 10m, got %s", pu.Timeout)
	}
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// badTreePattern says what is wrong with a path pattern of
// deploy.sync.untracked or deploy.sync.protected, or "" when it is fine.
func badTreePattern(pat string) string {
	clean := path.Clean(strings.TrimSuffix(pat, "/"))
	switch {
	case strings.TrimSpace(pat) == "" || clean == ".":
		return "is empty"
	case path.IsAbs(pat) || clean == ".." || strings.HasPrefix(clean, "../"):
		return "is not inside the tree"
	case strings.ContainsAny(pat, "[]?\\\x00\n"):
		return "uses a character other than * as a wildcard"
	case clean != strings.TrimSuffix(pat, "/"):
		return "is not a clean path"
	}
	for _, name := range strings.Split(clean, "/") {
		if name == ".git" || strings.Contains(name, "**") {
			return "names .git or uses **"
		}
	}
	return ""
}
