package canary_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/deploy/canary"
	"github.com/jouncebot/jouncebot/deploy/canary/promtest"
)

// app is a tiny app server whose error counter grows by rate a scrape.
type app struct {
	addr   string
	errors atomic.Int64
	rate   int64
}

func startApp(t *testing.T, rate int64) *app {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &app{addr: l.Addr().String(), rate: rate}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := a.errors.Add(a.rate)
		fmt.Fprintf(w, "# TYPE app_errors_total counter\napp_errors_total %d\n", n)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return a
}

// TestPrometheusSourceJudgesRealScrapes has a real Prometheus scrape two
// "canaries" whose errors grow three times as fast as those of four
// baseline hosts, reads both through the Source and judges them.
func TestPrometheusSourceJudgesRealScrapes(t *testing.T) {
	var canaries, baseline []*app
	var targets []promtest.Target
	for i := range 6 {
		rate := int64(10)
		if i < 2 {
			rate = 30
		}
		a := startApp(t, rate)
		targets = append(targets, promtest.Target{Addr: a.addr})
		if i < 2 {
			canaries = append(canaries, a)
		} else {
			baseline = append(baseline, a)
		}
	}
	srv := promtest.Start(t, targets)
	srv.WaitScrapes(t, 12)
	src := &canary.Prometheus{URL: srv.URL}
	hosts := func(as []*app) []string {
		var h []string
		for _, a := range as {
			h = append(h, a.addr)
		}
		return h
	}
	now := time.Now()
	q := canary.Query{
		Template: `sum by (instance) (increase(app_errors_total{instance=~"{{.Hosts}}"}[3s]))`,
		From:     now.Add(-8 * time.Second), To: now, Step: time.Second,
	}
	ctx := context.Background()
	q.Hosts = hosts(canaries)
	c, err := src.Samples(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	q.Hosts = hosts(baseline)
	b, err := src.Samples(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(c) != 2 || len(b) != 4 {
		t.Fatalf("series for %d canaries and %d baseline hosts, want 2 and 4", len(c), len(b))
	}
	var in canary.Input
	in.Metric = canary.Metric{Name: "errors"}
	for _, v := range c {
		in.Canary = append(in.Canary, v...)
	}
	for _, v := range b {
		in.Baseline = append(in.Baseline, v...)
	}
	r := canary.Judge([]canary.Input{in}, canary.Options{})
	if r.Verdict != canary.Fail || r.Results[0].Class != canary.ClassHigh {
		t.Errorf("verdict %s: %s; want the tripled error rate judged high", r.Verdict, r.Line())
	}
}

func TestPrometheusSourceSaysWhatIsWrong(t *testing.T) {
	srv := promtest.Start(t, nil)
	src := &canary.Prometheus{URL: srv.URL}
	_, err := src.Samples(context.Background(), canary.Query{Template: `sum(rate(x[1m]`, Hosts: []string{"a"}, From: time.Now().Add(-time.Minute), To: time.Now()})
	if err == nil || !strings.Contains(err.Error(), "query failed (bad_data)") {
		t.Errorf("error %v, want the server's parse error", err)
	}
	_, err = src.Samples(context.Background(), canary.Query{Template: `{{.Nope}}`, Hosts: []string{"a"}})
	if err == nil || !strings.Contains(err.Error(), "query template") {
		t.Errorf("error %v, want a template error", err)
	}
}

// Host names reach PromQL as a regular expression inside a string: dots,
// regular-expression characters, quotes and backslashes match
// themselves only.
func TestPrometheusSourceEscapesHostNames(t *testing.T) {
	names := []string{"mw1.eqiad.wmnet", "mw1xeqiad.wmnet", `we"ird\host`, "a+b(c)|d", "a+b(c)"}
	var targets []promtest.Target
	for _, h := range names {
		targets = append(targets, promtest.Target{Addr: startApp(t, 1).addr, Host: h})
	}
	srv := promtest.Start(t, targets)
	srv.WaitScrapes(t, 3)
	now := time.Now()
	got, err := (&canary.Prometheus{URL: srv.URL}).Samples(context.Background(), canary.Query{
		Template: `sum by (host) (app_errors_total{host=~"{{.Hosts}}"})`,
		Hosts:    []string{"mw1.eqiad.wmnet", `we"ird\host`, "a+b(c)"}, Label: "host",
		From: now.Add(-2 * time.Second), To: now, Step: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for h := range got {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	if want := []string{"a+b(c)", "mw1.eqiad.wmnet", `we"ird\host`}; !slices.Equal(hosts, want) {
		t.Errorf("series for %q, want %q", hosts, want)
	}
}
