package deploy_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/canary/promtest"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/deploy/hostsync"
)

// appServer stands in for a MediaWiki app server: its error counter grows
// at each scrape by a noisy amount that depends on the tree synced to
// its directory: a stylesheet holding "BROKEN" makes it fail three times
// as often, as a bad change would.
type appServer struct {
	host, dir, addr string
	mu              sync.Mutex
	errors          int
	rng             *rand.Rand
}

func startAppServer(t *testing.T, host, dir string, seed uint64) *appServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &appServer{host: host, dir: dir, addr: l.Addr().String(), rng: rand.New(rand.NewPCG(seed, 1))}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rate := 10
		if b, err := os.ReadFile(filepath.Join(a.dir, "static", "app.css")); err == nil && strings.Contains(string(b), "BROKEN") {
			rate = 30
		}
		a.mu.Lock()
		a.errors += rate - 3 + a.rng.IntN(7)
		n := a.errors
		a.mu.Unlock()
		fmt.Fprintf(w, "# TYPE app_errors_total counter\napp_errors_total %d\n", n)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return a
}

// canaryWorld is a deploy configured in YAML, as app wires it, with two
// canaries judged by a canary analysis against four production hosts
// scraped by a real Prometheus.
func canaryWorld(t *testing.T) (*env, string) {
	t.Helper()
	return canaryWorldWith(t, canaryConfig{})
}

// canaryConfig changes canaryWorld's configuration.
type canaryConfig struct {
	production string // the production stage's hosts, as YAML
	groups     string // a host_groups section
	series     string // the counter the errors metric reads
	checks     string // more checks of the canaries, as YAML
	canaries   string // more settings of the canaries' stage, as YAML
}

// canaryWorldWith is canaryWorld configured by cc.
func canaryWorldWith(t *testing.T, cc canaryConfig) (*env, string) {
	t.Helper()
	if cc.production == "" {
		cc.production = "hosts: [mw3, mw4, mw5, mw6]"
	}
	if cc.series == "" {
		cc.series = "app_errors_total"
	}
	requireRsync(t)
	hosts := t.TempDir()
	all := []string{"mw1", "mw2", "mw3", "mw4", "mw5", "mw6"}
	var targets []promtest.Target
	for i, h := range all {
		a := startAppServer(t, h, filepath.Join(hosts, h), uint64(i))
		targets = append(targets, promtest.Target{Addr: a.addr, Host: h})
	}
	prom := promtest.Start(t, targets)
	e := newEnv(t, func(o *deploy.Options) {
		yaml := fmt.Sprintf(`
deploy:
  sync:
    source: %[3]s
    releases_dir: %[1]s/releases
%[5]s
  decision_timeout: 5m
  stages:
    - name: canaries
      hosts: [mw1, mw2]
      dest: "%[1]s/{{.Host}}"
      %[8]s
      checks:
        - type: canary
          name: canary analysis
          url: %[2]s
          window: 10s
          step: 1s
          label: host
          metrics:
            - name: errors
              query: 'sum by (host) (increase(%[6]s{host=~"{{.Hosts}}"}[2s]))'
              unit: /2s
%[7]s
    - name: production
      %[4]s
      dest: "%[1]s/{{.Host}}"
`, hosts, prom.URL, o.StagingDir, cc.production, cc.groups, cc.series, cc.checks, cc.canaries)
		cfg, err := config.Parse([]byte(yaml), "test.yaml", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		c, _ := deploy.FromConfig(cfg, nil)
		if o.Stages, err = deploy.SyncStages(&cfg.Deploy); err != nil {
			t.Fatal(err)
		}
		o.SyncSource, o.Releases, o.DecisionTimeout = c.SyncSource, c.Releases, c.DecisionTimeout
	})
	var w syncWorld
	w.hosts = map[string][]hostsync.Host{}
	for _, h := range all {
		w.hosts["all"] = append(w.hosts["all"], hostsync.Host{Name: h, Dest: filepath.Join(hosts, h)})
	}
	w.populate(t, e.sb.Staging)
	prom.WaitScrapes(t, 3)
	return e, hosts
}

func uploadCSS(t *testing.T, e *env, subject, css string) int {
	t.Helper()
	n, err := e.sb.Upload(gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: gerrittest.ConfigBranch, Owner: "alice",
		Subject: subject, Files: []gerrittest.File{{Path: "static/app.css", Content: css}}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A bad change on the canaries is judged high by the canary analysis
// and rolled back before production sees it; the analysis is kept for
// its report page.
func TestCanaryAnalysisRollsBackABadChange(t *testing.T) {
	t.Parallel()
	e, hosts := canaryWorld(t)
	n := uploadCSS(t, e, "Break the stylesheet", "body{} /* BROKEN */")
	id := e.deploy(alice, n)
	ev := e.waitFor(deploy.EventFailed, deploy.EventDone)
	if ev.Kind != deploy.EventFailed {
		t.Fatalf("deploy ended with %q, want a rollback:\n%s", ev.Text, e.history())
	}
	h := e.history()
	if !strings.Contains(h, "canary analysis: 0/1 metrics pass (errors high: +") || !strings.Contains(h, "score 0: fail") {
		t.Errorf("no failed canary analysis in chat:\n%s", h)
	}
	if !strings.Contains(ev.Text.String(), "the canary analysis") {
		t.Errorf("end %q does not say the canary analysis decided", ev.Text)
	}
	for _, h := range []string{"mw1", "mw2", "mw3", "mw4", "mw5", "mw6"} {
		if got := readTree(t, filepath.Join(hosts, h))["static/app.css"]; strings.Contains(got, "BROKEN") {
			t.Errorf("%s still holds the bad change", h)
		}
	}
	as, err := e.agent.CanaryAnalyses(id)
	if err != nil || len(as) != 1 || as[0].Stage != "canaries" || len(as[0].Analysis.Metrics[0].Baseline) != 4 {
		t.Fatalf("kept analyses = %+v, %v; want the canaries' one with 4 baseline hosts", as, err)
	}
}

// A good change on a noisy fleet passes the analysis and reaches
// production.
func TestCanaryAnalysisPassesAGoodChange(t *testing.T) {
	t.Parallel()
	e, hosts := canaryWorld(t)
	n := uploadCSS(t, e, "Add a stylesheet", "body{color:black}")
	e.deploy(alice, n)
	ev := e.waitFor(deploy.EventFailed, deploy.EventDone)
	if ev.Kind != deploy.EventDone {
		t.Fatalf("deploy ended with %q, want done:\n%s", ev.Text, e.history())
	}
	if h := e.history(); !strings.Contains(h, "canary analysis: 1/1 metrics pass (errors ") || !strings.Contains(h, "score 100: pass") {
		t.Errorf("no passing canary analysis in chat:\n%s", h)
	}
	if got := readTree(t, filepath.Join(hosts, "mw6"))["static/app.css"]; got != "body{color:black}" {
		t.Errorf("production host mw6 holds %q", got)
	}
}

// When production is listed from a host group holding every app server
// (a dsh group does), the canaries are compared with the hosts not yet
// synced only: not with themselves.
func TestCanaryBaselineLeavesOutTheCanaries(t *testing.T) {
	t.Parallel()
	e, _ := canaryWorldWith(t, canaryConfig{production: "groups: [appservers]",
		groups: "  host_groups:\n    - name: appservers\n      hosts: [mw1, mw2, mw3, mw4, mw5, mw6]"})
	n := uploadCSS(t, e, "Add a stylesheet", "body{color:black}")
	id := e.deploy(alice, n)
	e.waitFor(deploy.EventFailed, deploy.EventDone)
	as, err := e.agent.CanaryAnalyses(id)
	if err != nil || len(as) != 1 {
		t.Fatalf("kept analyses = %+v, %v; want the canaries' one", as, err)
	}
	var base []string
	for h := range as[0].Analysis.Metrics[0].Baseline {
		base = append(base, h)
	}
	slices.Sort(base)
	if want := []string{"mw3", "mw4", "mw5", "mw6"}; !slices.Equal(base, want) {
		t.Errorf("baseline hosts = %v, want %v", base, want)
	}
}

// A marginal analysis beside a check that failed outright: the question
// says the checks failed, not that they are inconclusive.
func TestCanaryMarginalBesideAFailedCheck(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String() + "/"
	l.Close()                                                        // nothing answers there
	e, _ := canaryWorldWith(t, canaryConfig{series: "no_such_total", // no data: marginal
		checks: "        - {type: http, name: main page, url: '" + down + "', status: 200}"})
	e.deploy(alice, uploadCSS(t, e, "Add a stylesheet", "body{color:black}"))
	ev := e.waitFor(deploy.EventNeeds)
	if q := ev.Text.String(); !strings.Contains(q, "the checks of canaries failed") || strings.Contains(q, "not conclusive") {
		t.Errorf("question %q, want it to say the checks failed", q)
	}
}

// `retry` after a marginal analysis observes the canaries anew: judging
// the same window again could only give the same answer.
func TestCanaryRetryObservesANewWindow(t *testing.T) {
	t.Parallel()
	e, _ := canaryWorldWith(t, canaryConfig{series: "no_such_total"}) // no data: marginal
	id := e.deploy(alice, uploadCSS(t, e, "Add a stylesheet", "body{color:black}"))
	e.waitFor(deploy.EventNeeds)
	first, err := e.agent.CanaryAnalyses(id)
	if err != nil || len(first) != 1 {
		t.Fatalf("analyses %+v, %v", first, err)
	}
	retried := time.Now()
	if err := e.agent.Decide(context.Background(), "", alice, "retry", ""); err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventNeeds)
	second, err := e.agent.CanaryAnalyses(id)
	if err != nil || len(second) != 1 {
		t.Fatalf("analyses %+v, %v", second, err)
	}
	if a := second[0].Analysis; a.From.Before(retried) {
		t.Errorf("the retried analysis observed %s–%s again (first %s–%s), want a window from the retry on",
			a.From.Format(time.TimeOnly), a.To.Format(time.TimeOnly), first[0].Analysis.From.Format(time.TimeOnly), first[0].Analysis.To.Format(time.TimeOnly))
	}
}

// A canary whose sync failed (the stage tolerates it) does not run the
// new tree: it is neither a canary nor part of the baseline.
func TestCanaryLeavesOutAHostThatFailedToSync(t *testing.T) {
	t.Parallel()
	e, hosts := canaryWorldWith(t, canaryConfig{canaries: `max_failed_hosts: "1"`,
		production: "groups: [appservers]", groups: "  host_groups:\n    - name: appservers\n      hosts: [mw1, mw2, mw3, mw4, mw5, mw6]"})
	// mw2's tree is a file: its sync fails.
	dir := filepath.Join(hosts, "mw2")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := e.deploy(alice, uploadCSS(t, e, "Add a stylesheet", "body{color:black}"))
	e.waitFor(deploy.EventFailed, deploy.EventDone, deploy.EventNeeds)
	as, err := e.agent.CanaryAnalyses(id)
	if err != nil || len(as) != 1 {
		t.Fatalf("analyses %+v, %v; history:\n%s", as, err, e.history())
	}
	m := as[0].Analysis.Metrics[0]
	var canaries, base []string
	for h := range m.Canary {
		canaries = append(canaries, h)
	}
	for h := range m.Baseline {
		base = append(base, h)
	}
	slices.Sort(base)
	if !slices.Equal(canaries, []string{"mw1"}) || !slices.Equal(base, []string{"mw3", "mw4", "mw5", "mw6"}) {
		t.Errorf("canaries %v against %v, want [mw1] against [mw3 mw4 mw5 mw6]", canaries, base)
	}
}
