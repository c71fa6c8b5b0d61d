package metrics

import (
	"github.com/jouncebot/jouncebot/deploy"
)

// DeployFinished records a finished deploy from its record: its outcome and
// duration, each sync stage's duration, host results and checks, the
// testing gates' waits, a rollback, a revert, and the time of the last
// success. The app calls it once per deploy, on the engine's final event.
func (m *Metrics) DeployFinished(d *deploy.Deploy, outcome string) {
	if m == nil || d == nil {
		return
	}
	m.deploys.WithLabelValues(outcome).Inc()
	if !d.Created.IsZero() && !d.Finished.IsZero() {
		m.deployDuration.WithLabelValues(outcome).Observe(d.Finished.Sub(d.Created).Seconds())
	}
	if outcome == OutcomeDone && !d.Finished.IsZero() {
		m.lastSuccess.Set(float64(d.Finished.UnixNano()) / 1e9)
	}
	if d.Revert != nil && outcome == OutcomeDone {
		m.reverts.Inc()
	}
	if d.Sync == nil {
		return
	}
	for name, st := range d.Sync.Stages {
		if st == nil {
			continue
		}
		if !st.Started.IsZero() && !st.Synced.IsZero() {
			m.stageDuration.WithLabelValues(name).Observe(st.Synced.Sub(st.Started).Seconds())
		}
		for _, h := range st.Hosts {
			r := "ok"
			if h.Err != "" {
				r = "failed"
			}
			m.hosts.WithLabelValues(name, r).Inc()
		}
		if c := st.Checks; c != nil {
			if !c.Passed.IsZero() {
				m.checks.WithLabelValues(name, "passed").Inc()
			}
			if len(c.Failed) > 0 {
				m.checks.WithLabelValues(name, "failed").Inc()
			}
			for _, ca := range c.Canary {
				m.canaryVerdicts.WithLabelValues(name, ca.Verdict).Inc()
				if ca.Score != nil {
					m.canaryScore.WithLabelValues(name).Observe(*ca.Score)
				}
			}
		}
		if g := st.Gate; g != nil && !g.Asked.IsZero() {
			end := g.Passed
			if end.IsZero() {
				end = g.TimedOut
			}
			if end.IsZero() {
				for _, a := range g.Answers {
					if a.Time.After(end) {
						end = a.Time
					}
				}
			}
			if !end.IsZero() {
				m.gateWait.Observe(end.Sub(g.Asked).Seconds())
			}
		}
	}
	if d.Sync.Rollback != nil {
		m.rollbacks.Inc()
	}
}
