package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/metrics"
)

// Each registry gets its own collectors (no global state), the series
// known in advance start at zero, and a finished deploy's record moves
// outcome, hosts, checks, gate and rollback.
func TestDeployFinished(t *testing.T) {
	for range 2 { // a second New on a fresh registry must not collide
		reg := prometheus.NewRegistry()
		m := metrics.New(reg, metrics.Options{Stages: []string{"canaries"}, Commands: []string{"deploy"}})
		if n, err := testutil.GatherAndCount(reg, "jouncebot_hosts_synced_total"); err != nil || n != 2 {
			t.Fatalf("hosts series at start: %d, %v", n, err)
		}
		t0 := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
		score := 50.0
		d := &deploy.Deploy{State: "failed", Created: t0, Finished: t0.Add(5 * time.Minute), Sync: &deploy.SyncRecord{
			Stages: map[string]*deploy.StageRecord{"canaries": {Started: t0, Synced: t0.Add(time.Minute),
				Hosts:  map[string]deploy.HostResult{"mw1": {}, "mw2": {Err: "refused"}},
				Checks: &deploy.CheckRecord{Failed: []string{"http"}, Canary: []deploy.CanarySummary{{Check: "canary analysis", Score: &score, Verdict: "fail"}}},
				Gate:   &deploy.GateRecord{Asked: t0, TimedOut: t0.Add(2 * time.Minute)}}},
			Rollback: &deploy.RollbackRecord{Reason: "checks"}}}
		m.DeployFinished(d, metrics.OutcomeFailed)
		want := `
# HELP jouncebot_hosts_synced_total Host syncs, by stage and result (ok, failed).
# TYPE jouncebot_hosts_synced_total counter
jouncebot_hosts_synced_total{result="failed",stage="canaries"} 1
jouncebot_hosts_synced_total{result="ok",stage="canaries"} 1
# HELP jouncebot_rollbacks_total Deploys rolled back.
# TYPE jouncebot_rollbacks_total counter
jouncebot_rollbacks_total 1
# HELP jouncebot_checks_total Runs of a stage's checks, by stage and result (passed, failed).
# TYPE jouncebot_checks_total counter
jouncebot_checks_total{result="failed",stage="canaries"} 1
jouncebot_checks_total{result="passed",stage="canaries"} 0
# HELP jouncebot_canary_analyses_total Canary analyses, by stage and verdict (pass, marginal, fail).
# TYPE jouncebot_canary_analyses_total counter
jouncebot_canary_analyses_total{stage="canaries",verdict="fail"} 1
jouncebot_canary_analyses_total{stage="canaries",verdict="marginal"} 0
jouncebot_canary_analyses_total{stage="canaries",verdict="pass"} 0
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "jouncebot_hosts_synced_total", "jouncebot_rollbacks_total", "jouncebot_checks_total", "jouncebot_canary_analyses_total"); err != nil {
			t.Error(err)
		}
		if v := testutil.ToFloat64(m.LastSuccess()); v != 0 {
			t.Errorf("last success after a failure: %v", v)
		}
	}
}
