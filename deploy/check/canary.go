package check

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy/canary"
)

// Target is what a check needs to know of the stage it checks.
type Target struct {
	// Hosts are the stage's hosts, just synced.
	Hosts []string
	// Later are the hosts of the later stages, not synced yet.
	Later []string
	// Started and Synced are when the stage's sync began and ended.
	Started, Synced time.Time
}

// Targeted is a check that looks at the stage's hosts. The engine calls
// RunOn instead of Run for it.
type Targeted interface {
	Check
	RunOn(ctx context.Context, t Target) Result
}

// Canary is a canary analysis: after the sync it lets the canaries serve
// for Window, then compares each metric of theirs with a baseline's over
// the same period and judges them (package deploy/canary). Its Result
// says the analysis in one line; a Marginal result asks the deployer, a
// failed one rolls the stage back.
type Canary struct {
	CheckName string
	Source    canary.Source
	Metrics   []CanaryMetric
	Window    time.Duration
	Step      time.Duration
	// Baseline is "later", "before" or "both" (see config.CanaryCheck).
	Baseline string
	Label    string
	Options  canary.Options
	// Now is the clock (default time.Now); Sleep waits (default a
	// timer), both for tests that control time.
	Now func() time.Time
}

// CanaryMetric is a metric and its query.
type CanaryMetric struct {
	canary.Metric
	Query string
}

// Name returns the check's name.
func (c *Canary) Name() string { return c.CheckName }

// Run without a target cannot compare anything: the engine always calls
// RunOn.
func (c *Canary) Run(ctx context.Context) Result {
	return Result{Name: c.CheckName, Text: c.CheckName + " failed: a canary analysis needs the stage's hosts, and none were given."}
}

func (c *Canary) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// RunOn waits until the window after the sync has passed, then judges.
func (c *Canary) RunOn(ctx context.Context, t Target) Result {
	if len(t.Hosts) == 0 {
		return c.fail("the stage has no hosts to analyse.")
	}
	synced := t.Synced
	if synced.IsZero() {
		synced = c.now()
	}
	end := synced.Add(c.Window)
	if left := end.Sub(c.now()); left > 0 {
		timer := time.NewTimer(left)
		select {
		case <-ctx.Done():
			timer.Stop()
			return c.fail("the observation was cancelled.")
		case <-timer.C:
		}
	}
	base := c.Baseline
	if base == "" {
		base = "later"
	}
	if len(t.Later) == 0 {
		base = "before" // the last stage has no later hosts
	}
	started := t.Started
	if started.IsZero() {
		started = synced
	}
	a := &canary.Analysis{From: synced, To: end, Baseline: base}
	for _, m := range c.Metrics {
		q := canary.Query{Template: m.Query, Hosts: t.Hosts, From: synced, To: end, Step: c.Step, Label: c.Label}
		cs, err := c.Source.Samples(ctx, q)
		if err != nil {
			return c.fail("could not read %s of the canaries: %s.", m.Name, sentence(err))
		}
		var bs []map[string][]float64
		if base == "later" || base == "both" {
			q.Hosts = t.Later
			s, err := c.Source.Samples(ctx, q)
			if err != nil {
				return c.fail("could not read %s of the baseline: %s.", m.Name, sentence(err))
			}
			bs = append(bs, s)
		}
		if base == "before" || base == "both" {
			q.Hosts, q.From, q.To = t.Hosts, started.Add(-c.Window), started
			s, err := c.Source.Samples(ctx, q)
			if err != nil {
				return c.fail("could not read %s of the canaries before the sync: %s.", m.Name, sentence(err))
			}
			bs = append(bs, s)
		}
		a.Add(m.Metric, cs, bs...)
	}
	a.Judge(c.Options)
	r := Result{Name: c.CheckName, OK: a.Report.Verdict == canary.Pass, Marginal: a.Report.Verdict == canary.Marginal, Analysis: a}
	r.Text = a.Report.Line() + "."
	return r
}

func (c *Canary) fail(format string, args ...any) Result {
	return Result{Name: c.CheckName, Text: c.CheckName + " failed: " + fmt.Sprintf(format, args...)}
}

// sentence says why a source failed, for chat: the server's own
// complaint about a query, or the last part of a network error, never
// the whole chain.
func sentence(err error) string {
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, "query failed "); ok {
		return "the server refused the query " + after
	}
	return lastPart(msg)
}

// canaryFromConfig builds a canary check reading Prometheus at c.URL.
func canaryFromConfig(c config.Check, src canary.Source) (*Canary, error) {
	cc := c.Canary
	ms := make([]CanaryMetric, 0, len(cc.Metrics))
	for _, m := range cc.Metrics {
		dir, err := canary.ParseDirection(m.Direction)
		if err != nil {
			return nil, fmt.Errorf("check %s: metric %s: %w", c.Name, m.Name, err)
		}
		ms = append(ms, CanaryMetric{Metric: canary.Metric{Name: m.Name, Direction: dir, Weight: m.Weight, Unit: m.Unit}, Query: m.Query})
	}
	return &Canary{CheckName: c.Name, Source: src, Metrics: ms, Window: cc.Window, Step: cc.Step,
		Baseline: cc.Baseline, Label: cc.Label,
		Options: canary.Options{Confidence: cc.Confidence, Effect: cc.Effect, PassScore: cc.PassScore, MarginalScore: cc.MarginalScore}}, nil
}
