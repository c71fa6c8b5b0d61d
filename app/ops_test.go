package app_test

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// opsSession is the built-in default (console, example calendar, deploy
// sandbox) with its web server on a free local port.
type opsSession struct {
	*consoleSession
	app  *app.App
	base string
}

// freeAddr returns a local address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func startOps(t *testing.T, now time.Time, mutate func(*config.Config), o app.Options) *opsSession {
	t.Helper()
	addr := freeAddr(t)
	s := runConsole(t, now, addr, mutate, o)
	os := &opsSession{consoleSession: s, app: s.app, base: "http://" + addr}
	os.waitHTTP()
	return os
}

// startStaging starts the built-in default in the afternoon window with
// the security destination on the console, waits for its welcome and
// returns it with its deploy sandbox, ready for changes to upload.
func startStaging(t *testing.T) (*opsSession, *deploy.Sandbox) {
	t.Helper()
	o := startOps(t, time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC), func(c *config.Config) {
		c.Security.Rooms = []string{"console/security"}
	}, app.Options{})
	o.expect("Try `jouncebot: plan")
	return o, o.app.Sandbox()
}

// upload uploads u to the sandbox's fake Gerrit, to core's wmf branch
// unless it names a project, and returns the change's number.
func upload(t *testing.T, sb *deploy.Sandbox, u gerrittest.Upload) int {
	t.Helper()
	if u.Project == "" {
		u.Project, u.Branch = gerrittest.CoreProject, gerrittest.CoreBranch
	}
	n, err := sb.Upload(u)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// tidyHooks is alice's change of core's includes/Hooks.php.
var tidyHooks = gerrittest.Upload{Owner: "alice", Subject: "Tidy the hooks",
	Files: []gerrittest.File{{Path: "includes/Hooks.php", Content: "<?php\nfunction runHooks() {\n\treturn 2;\n}\n"}}}

// waitHTTP waits until the web server answers /livez.
func (s *opsSession) waitHTTP() {
	s.t.Helper()
	deadline := time.Now().Add(testenv.Scale(time.Minute))
	for {
		resp, err := http.Get(s.base + "/livez")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the web server did not answer /livez within a minute: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// scrape reads /metrics and parses it with the Prometheus text parser.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	return fams
}

// value is the value of the series of family name with exactly the given
// labels ("k=v" pairs); ok is false when there is no such series.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	want := strings.Join(labels, ",")
	for _, m := range f.Metric {
		var ls []string
		for _, l := range m.Label {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(ls)
		if strings.Join(ls, ",") != want {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func mustValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	v, ok := value(fams, name, labels...)
	if !ok {
		t.Fatalf("no series %s{%s}", name, strings.Join(labels, ","))
	}
	return v
}

// /metrics after a sandbox deploy, a rollback, a refused command and an
// outbox outage: each moved the series it should, from zero, and the
// exposition parses.
func TestMetricsMove(t *testing.T) {
	t.Parallel()
	s := startOps(t, time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC), func(c *config.Config) {
		// The production SAL goes to a wiki that is down.
		c.SAL.Projects[0].Wiki = &config.SALWiki{API: "http://" + freeAddr(t) + "/w/api.php", Page: "Server Admin Log", Password: &config.Secret{}}
	}, app.Options{})
	s.expect("Try `jouncebot: plan")
	route := "wiki/" + "production"

	before := scrape(t, s.base)
	zero := []struct {
		name   string
		labels []string
	}{
		{"jouncebot_deploys_total", []string{"outcome=done"}},
		{"jouncebot_deploys_total", []string{"outcome=failed"}},
		{"jouncebot_rollbacks_total", nil},
		{"jouncebot_hosts_synced_total", []string{"result=ok", "stage=production"}},
		{"jouncebot_commands_total", []string{"command=deploy", "result=refused"}},
		{"jouncebot_outbox_backlog", []string{"route=" + route}},
		{"jouncebot_outbox_outages_total", []string{"route=" + route}},
		{"jouncebot_last_successful_deploy_timestamp_seconds", nil},
	}
	for _, z := range zero {
		if v := mustValue(t, before, z.name, z.labels...); v != 0 {
			t.Errorf("before anything happened, %s{%s} = %v, want 0", z.name, strings.Join(z.labels, ","), v)
		}
	}
	if v := mustValue(t, before, "jouncebot_build_info", "goversion="+goVersion(before), "version="+buildVersion(before)); v != 1 {
		t.Errorf("build info = %v", v)
	}
	if _, ok := before["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	if _, ok := before["process_cpu_seconds_total"]; !ok {
		t.Error("no process metrics")
	}
	// Every metric the README lists is exposed from the start.
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := regexp.MustCompile("`(jouncebot_[a-z_]+)`").FindAllStringSubmatch(string(readme), -1)
	if len(listed) < 20 {
		t.Fatalf("the README lists %d metrics", len(listed))
	}
	for _, m := range listed {
		if before[m[1]] == nil {
			t.Errorf("the README lists %s, which /metrics does not expose", m[1])
		}
	}

	// A refused command: deploying in a freeze.
	s.say("jouncebot: freeze 2026-11-25 2026-11-26 incident follow-up")
	s.expect("Freeze 1 recorded")
	s.say("jouncebot: deploy 445113")
	s.expect("Deploys are frozen")
	s.say("jouncebot: unfreeze 1")
	s.expect("Freeze 1 lifted.")

	// A deploy through every stage.
	s.say("jouncebot: deploy 445113")
	s.expect("amir, alice: Backport for [[gerrit:445113|")
	s.say("tested ok")
	s.expect("amir: deploy 1 is done: 445113.")

	// A rollback.
	s.say("jouncebot: deploy 445115")
	s.expect("amir, bob: Backport for [[gerrit:445115|")
	s.say("tested fail")
	s.expect("amir: deploy 2 stopped: Rolled back")

	// The outage: the SAL lines of both deploys wait for the wiki.
	var after map[string]*dto.MetricFamily
	deadline := time.Now().Add(testenv.Scale(time.Minute))
	for {
		after = scrape(t, s.base)
		if v, _ := value(after, "jouncebot_outbox_outages_total", "route="+route); v >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the wiki outage never showed in jouncebot_outbox_outages_total")
		}
		time.Sleep(100 * time.Millisecond)
	}

	want := []struct {
		name   string
		labels []string
		min    float64
		max    float64
	}{
		{"jouncebot_deploys_total", []string{"outcome=done"}, 1, 1},
		{"jouncebot_deploys_total", []string{"outcome=failed"}, 1, 1},
		{"jouncebot_deploys_total", []string{"outcome=aborted"}, 0, 0},
		{"jouncebot_rollbacks_total", nil, 1, 1},
		{"jouncebot_deploy_duration_seconds", []string{"outcome=done"}, 1, 1},
		{"jouncebot_hosts_synced_total", []string{"result=ok", "stage=production"}, 5, 5},
		{"jouncebot_hosts_synced_total", []string{"result=ok", "stage=testservers"}, 2, 2},
		{"jouncebot_hosts_synced_total", []string{"result=failed", "stage=production"}, 0, 0},
		{"jouncebot_deploy_stage_duration_seconds", []string{"stage=production"}, 1, 1},
		{"jouncebot_testing_gate_wait_seconds", nil, 2, 2},
		{"jouncebot_commands_total", []string{"command=deploy", "result=refused"}, 1, 1},
		{"jouncebot_commands_total", []string{"command=deploy", "result=ok"}, 2, 2},
		{"jouncebot_commands_total", []string{"command=freeze", "result=ok"}, 1, 1},
		{"jouncebot_outbox_backlog", []string{"route=" + route}, 1, 1e9},
		{"jouncebot_outbox_outages_total", []string{"route=" + route}, 1, 1},
		{"jouncebot_sal_entries_total", []string{"project=production"}, 3, 1e9},
		{"jouncebot_chat_messages_received_total", []string{"network=console"}, 7, 7},
		{"jouncebot_chat_messages_sent_total", []string{"network=console"}, 7, 1e9},
		{"jouncebot_chat_connected", []string{"network=console"}, 1, 1},
		{"jouncebot_db_size_bytes", nil, 1, 1e12},
	}
	for _, w := range want {
		v := mustValue(t, after, w.name, w.labels...)
		if v < w.min || v > w.max {
			t.Errorf("%s{%s} = %v, want %v–%v", w.name, strings.Join(w.labels, ","), v, w.min, w.max)
		}
	}
	if v := mustValue(t, after, "jouncebot_last_successful_deploy_timestamp_seconds"); time.Since(time.Unix(int64(v), 0)) > 10*time.Minute {
		t.Errorf("last successful deploy at %v", time.Unix(int64(v), 0))
	}
}

func goVersion(f map[string]*dto.MetricFamily) string {
	return label(f, "jouncebot_build_info", "goversion")
}
func buildVersion(f map[string]*dto.MetricFamily) string {
	return label(f, "jouncebot_build_info", "version")
}
func label(f map[string]*dto.MetricFamily, name, l string) string {
	if fam := f[name]; fam != nil && len(fam.Metric) > 0 {
		for _, lp := range fam.Metric[0].Label {
			if lp.GetName() == l {
				return lp.GetValue()
			}
		}
	}
	return fmt.Sprint("no ", l)
}
