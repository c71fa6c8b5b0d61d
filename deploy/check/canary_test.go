package check_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/deploy/canary"
	"github.com/jouncebot/jouncebot/deploy/check"
)

// source answers from a table, or fails.
type source struct {
	values map[string]float64 // host → level
	err    error
}

func (s source) Samples(ctx context.Context, q canary.Query) (map[string][]float64, error) {
	if s.err != nil {
		return nil, s.err
	}
	out := map[string][]float64{}
	for _, h := range q.Hosts {
		if _, ok := s.values[h]; !ok {
			continue // no series for this host
		}
		for i := range 12 {
			out[h] = append(out[h], s.values[h]+float64(i%3))
		}
	}
	return out, nil
}

func TestCanaryCheckSaysWhatHappened(t *testing.T) {
	past := time.Now().Add(-time.Hour) // the window is over: no wait
	target := check.Target{Hosts: []string{"mw1", "mw2"}, Later: []string{"mw3", "mw4", "mw5"}, Synced: past}
	metric := []check.CanaryMetric{{Metric: canary.Metric{Name: "errors"}, Query: `e{h=~"{{.Hosts}}"}`}}
	tests := []struct {
		name     string
		src      source
		target   check.Target
		ok, marg bool
		text     string
	}{
		{"same as the fleet", source{values: map[string]float64{"mw1": 10, "mw2": 10, "mw3": 10, "mw4": 10, "mw5": 10}}, target, true, false,
			"canary analysis: 1/1 metrics pass (errors 0 (0%), 99% CI −1…+∞), score 100: pass."},
		{"three times the errors", source{values: map[string]float64{"mw1": 30, "mw2": 30, "mw3": 10, "mw4": 10, "mw5": 10}}, target, false, false,
			"canary analysis: 0/1 metrics pass (errors high: +20 (+182%), 99% CI +19…+∞), score 0: fail."},
		{"no data", source{values: map[string]float64{}}, check.Target{Hosts: []string{"mw1"}, Later: []string{"mw3"}, Synced: past}, false, true,
			"canary analysis: 0/0 metrics pass (errors: no data, too few samples (0 canary, 0 baseline; 8 each needed)), no score: marginal."},
		{"server down", source{err: errors.New(`prometheus: Post "http://prom/api/v1/query_range": dial tcp 127.0.0.1:9: connect: connection refused`)}, target, false, false,
			"canary failed: could not read errors of the canaries: connection refused."},
		{"query refused", source{err: errors.New(`prometheus: query failed (bad_data): parse error`)}, target, false, false,
			"canary failed: could not read errors of the canaries: the server refused the query (bad_data): parse error."},
		{"no hosts", source{}, check.Target{}, false, false, "canary failed: the stage has no hosts to analyse."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &check.Canary{CheckName: "canary", Source: tt.src, Metrics: metric, Window: time.Minute, Step: time.Second}
			r := c.RunOn(context.Background(), tt.target)
			if r.OK != tt.ok || r.Marginal != tt.marg || r.Text != tt.text {
				t.Errorf("got ok=%v marginal=%v %q\nwant ok=%v marginal=%v %q", r.OK, r.Marginal, r.Text, tt.ok, tt.marg, tt.text)
			}
			if strings.Contains(r.Text, "dial tcp") {
				t.Errorf("a Go error chain reached chat: %q", r.Text)
			}
		})
	}
}

// The observation waits for the window after the sync and ends early,
// with a sentence, when the deploy is stopped.
func TestCanaryCheckWaitIsCancellable(t *testing.T) {
	c := &check.Canary{CheckName: "canary", Source: source{}, Window: time.Hour, Step: time.Second,
		Metrics: []check.CanaryMetric{{Metric: canary.Metric{Name: "errors"}, Query: `e{h=~"{{.Hosts}}"}`}}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := c.RunOn(ctx, check.Target{Hosts: []string{"mw1"}, Synced: time.Now()})
	if r.OK || r.Text != "canary failed: the observation was cancelled." {
		t.Errorf("got %+v", r)
	}
}

// hostsAsked fails a query about no host: its pattern would match the
// series without a host label.
type hostsAsked struct{ source }

func (s hostsAsked) Samples(ctx context.Context, q canary.Query) (map[string][]float64, error) {
	if len(q.Hosts) == 0 {
		return nil, errors.New("asked about no host")
	}
	return s.source.Samples(ctx, q)
}

// The last stage has no later hosts: "both" compares the canaries with
// themselves before the sync only, and says so.
func TestCanaryCheckBothWithoutLaterHosts(t *testing.T) {
	past := time.Now().Add(-time.Hour)
	c := &check.Canary{CheckName: "canary", Source: hostsAsked{source{values: map[string]float64{"mw1": 10, "mw2": 10}}},
		Window: time.Minute, Step: time.Second, Baseline: "both",
		Metrics: []check.CanaryMetric{{Metric: canary.Metric{Name: "errors"}, Query: `e{h=~"{{.Hosts}}"}`}}}
	r := c.RunOn(context.Background(), check.Target{Hosts: []string{"mw1", "mw2"}, Synced: past})
	if !r.OK || r.Analysis == nil || r.Analysis.Baseline != "before" {
		t.Errorf("got %+v, want a pass against the canaries before the sync", r)
	}
}
