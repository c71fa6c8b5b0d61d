package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/web"
)

// bigStage is a deploy engine in the middle of a 1,000-host production
// stage: 600 hosts synced, 12 failed. Like the real engine, it decodes the
// deploy's record on every read.
type bigStage struct {
	record []byte
	light  []byte // without the host results
	sizes  []deploy.StageSize
}

func newBigStage() *bigStage {
	now := time.Now().UTC()
	d := deploy.Deploy{ID: "42", State: "running", Stage: "production", By: deploy.Person{Name: "Amir"}, Reason: "in the window",
		Created: now.Add(-10 * time.Minute), Sync: &deploy.SyncRecord{Started: now.Add(-8 * time.Minute), Stages: map[string]*deploy.StageRecord{}}}
	for i := range 3 {
		d.Changes = append(d.Changes, deploy.Change{Number: 445113 + i, Subject: fmt.Sprintf("Change %d <b>subject</b>", i)})
	}
	d.History = append(d.History, deploy.Entry{Time: now, Text: "production: synced 600/1000 hosts…"})
	sizes := []deploy.StageSize{{Name: "testservers", Hosts: 2}, {Name: "canaries", Hosts: 20}, {Name: "production", Hosts: 1000}}
	for _, st := range sizes {
		rec := &deploy.StageRecord{Started: now.Add(-5 * time.Minute), Hosts: map[string]deploy.HostResult{}}
		n := st.Hosts
		if st.Name == "production" {
			n = 612
		} else {
			rec.Synced = now.Add(-4 * time.Minute)
			rec.Checks = &deploy.CheckRecord{Passed: now}
		}
		for h := range n {
			r := deploy.HostResult{Dest: fmt.Sprintf("mw%04d.eqiad.wmnet:/srv/mediawiki/", h), Time: now, Duration: time.Second}
			if st.Name == "production" && h >= 600 {
				r.Err = "rsync: connection refused"
			}
			rec.Hosts[fmt.Sprintf("mw%04d", h)] = r
		}
		d.Sync.Stages[st.Name] = rec
	}
	b, _ := json.Marshal(d)
	for _, st := range d.Sync.Stages {
		st.Hosts = nil
	}
	light, _ := json.Marshal(d)
	return &bigStage{record: b, light: light, sizes: sizes}
}

// Status reads the record without its per-host results, which the engine
// keeps in keys of their own; Record adds them.
func (s *bigStage) Status(context.Context) (deploy.Status, error) {
	var d deploy.Deploy
	if err := json.Unmarshal(s.light, &d); err != nil {
		return deploy.Status{}, err
	}
	return deploy.Status{Deploy: &d, Lock: &deploy.Lock{Deploy: d.ID, Holder: "Amir", Since: d.Created, Reason: d.Reason}}, nil
}

// Recent decodes the last deploys, each with its 1,000-host stage, as
// the engine does, unless their summaries are known.
func (s *bigStage) Recent(n int, known func(deploy.ID) (*deploy.Summary, bool)) ([]*deploy.Summary, error) {
	var out []*deploy.Summary
	for i := range n {
		id := deploy.ID(fmt.Sprint(41 - i))
		if d, ok := known(id); ok {
			out = append(out, d)
			continue
		}
		d, err := deploy.DecodeSummary(s.record)
		if err != nil {
			return nil, err
		}
		d.ID, d.State = id, "done"
		out = append(out, d)
	}
	return out, nil
}

func (s *bigStage) Record(deploy.ID) (*deploy.Deploy, error) {
	var d deploy.Deploy
	err := json.Unmarshal(s.record, &d)
	return &d, err
}

func (s *bigStage) SyncStageSizes() ([]deploy.StageSize, error) { return s.sizes, nil }

// benchApp is the built-in default App (not running) with a web server
// whose status page reads the 1,000-host stage.
func benchApp(b *testing.B) (*App, *web.Server) {
	data, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Demo(data, "config.example.yaml", b.TempDir(), "")
	if err != nil {
		b.Fatal(err)
	}
	// A console that is never read: New needs something to run, and the
	// benchmarks only serve pages.
	a, err := New(Options{Config: cfg, Log: slog.New(slog.DiscardHandler), Stdin: strings.NewReader(""), Stdout: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	// Move the counters as a day of deploys would.
	for range 50 {
		a.metrics.CommandDone("deploy", "ok")
		a.metrics.Received("console")
	}
	srv := web.New(web.Options{BaseURL: "https://jouncebot.example.org", Status: &statusSource{a: a, eng: newBigStage(), now: time.Now},
		Metrics: promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{})})
	return a, srv
}

// measure serves path b.N times and reports the p50 and p99 latency, and
// the CPU time the process spent per request (GC included), which a busy
// machine does not inflate the way it inflates the tail of the latency.
func measure(b *testing.B, srv *web.Server, path, want string) {
	var lat []time.Duration
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		lat = append(lat, time.Since(start))
		if w.Code != 200 || !strings.Contains(w.Body.String(), want) {
			b.Fatalf("GET %s: %d\n%.500s", path, w.Code, w.Body.String())
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)])/1e6, "p99-ms")
}

// BenchmarkStatusPage renders / during a 1,000-host stage (the goal is a
// p99 under 10 ms).
func BenchmarkStatusPage(b *testing.B) {
	_, srv := benchApp(b)
	measure(b, srv, "/", "600/1000 synced")
}

// BenchmarkMetricsScrape serves /metrics during a 1,000-host stage (the
// goal is a p99 under 10 ms).
func BenchmarkMetricsScrape(b *testing.B) {
	_, srv := benchApp(b)
	measure(b, srv, "/metrics", "jouncebot_commands_total")
}

// BenchmarkMetricsPerMessage is what the metrics add to one chat round
// trip: a message counted in, a command counted, a reply counted out.
func BenchmarkMetricsPerMessage(b *testing.B) {
	a, _ := benchApp(b)
	b.ResetTimer()
	for range b.N {
		a.metrics.Received("console")
		a.metrics.CommandDone("deploy", "ok")
		a.metrics.Sent("console")
	}
}

// cpuTime is the user and system CPU time of the process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
