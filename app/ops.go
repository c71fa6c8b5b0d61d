package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/agent"
	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/commands"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/metrics"
	"github.com/jouncebot/jouncebot/web"
)

// DefaultReadyGrace is how long a chat network may be disconnected (while
// the transport reconnects) before /readyz says not ready.
const DefaultReadyGrace = 2 * time.Minute

// newMetrics declares the metrics with the label values the configuration
// already knows.
func (a *App) newMetrics(reg *prometheus.Registry) {
	cfg := a.cfg
	o := metrics.Options{Version: commands.Version()}
	for _, s := range cfg.Deploy.Stages {
		o.Stages = append(o.Stages, s.Name)
	}
	for _, n := range cfg.Networks {
		o.Networks = append(o.Networks, n.Name)
	}
	for _, p := range cfg.SAL.Projects {
		o.Projects = append(o.Projects, p.Name)
	}
	a.reg = reg
	a.metrics = metrics.New(reg, o)
}

// watchMetrics tells the metrics what the table, the routes and the
// transports are, once they exist.
func (a *App) watchMetrics() {
	var o metrics.Options
	for _, c := range a.cmds.Commands() {
		o.Commands = append(o.Commands, c.Name)
	}
	for _, b := range a.sal.Backlogs() {
		o.Routes = append(o.Routes, b.Route)
	}
	for _, tr := range a.bot.Transports() {
		o.Networks = append(o.Networks, tr.Network())
	}
	if n, ok := a.deploy.(interface{ SyncStageNames() []string }); ok {
		o.Stages = append(o.Stages, n.SyncStageNames()...)
	}
	a.metrics.Expect(o)
	if ok, at := a.calendar.Imported(); ok {
		a.metrics.CalendarImported(at)
	}
	a.metrics.Watch(metrics.Sources{
		Networks: func() []metrics.Network {
			var out []metrics.Network
			for _, tr := range a.bot.Transports() {
				s := connState(tr)
				out = append(out, metrics.Network{Name: tr.Network(), Connected: s.Connected, Reconnects: s.Reconnects, Queue: s.Queue})
			}
			return out
		},
		Outbox: func() []metrics.Backlog {
			var out []metrics.Backlog
			for _, b := range a.sal.Backlogs() {
				out = append(out, metrics.Backlog{Route: b.Route, Pending: b.Pending, Oldest: b.Oldest})
			}
			return out
		},
		DBSize: func() int64 {
			var n int64
			a.db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
			return n
		},
	})
}

// connState is a transport's connection state: its own (bot.Health) when
// it tells, else read from its status sentence; a transport with neither
// (the console) is always connected.
func connState(tr bot.Transport) bot.ConnState {
	if h, ok := tr.(bot.Health); ok {
		return h.Health()
	}
	if s, ok := tr.(bot.Status); ok {
		return bot.ConnState{Connected: strings.HasPrefix(s.Status(), "connected")}
	}
	return bot.ConnState{Connected: true}
}

// finished records a finished deploy in the metrics.
func (a *App) finished(ev deploy.Event) {
	outcome := map[deploy.EventKind]string{deploy.EventDone: metrics.OutcomeDone, deploy.EventPrepared: metrics.OutcomePrepared,
		deploy.EventFailed: metrics.OutcomeFailed, deploy.EventAborted: metrics.OutcomeAborted}[ev.Kind]
	if outcome == "" || a.deploy == nil {
		return
	}
	d, err := a.deploy.Record(ev.Deploy)
	if err != nil {
		a.log.Warn("metrics: read finished deploy", "deploy", ev.Deploy, "err", err)
		return
	}
	a.metrics.DeployFinished(d, outcome)
}

// opsPages adds the status page, /metrics and /readyz's checks to the web
// server's options.
func (a *App) opsPages(o *web.Options) {
	src := &statusSource{a: a, now: a.now}
	if a.deploy != nil {
		src.eng = a.deploy
	}
	o.Status = src
	o.StatusEvery = a.statusEvery
	o.Metrics = promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)})
	o.Ready = a.readyChecks(a.readyGrace)
}

// readyChecks are /readyz's checks: the database is open, the calendar
// was read at least once, and every chat network is connected or still
// within its reconnect grace.
func (a *App) readyChecks(grace time.Duration) []web.Check {
	checks := []web.Check{
		{Name: "database", Func: func(context.Context) error {
			return a.db.View(func(*bolt.Tx) error { return nil })
		}},
		{Name: "calendar", Func: func(context.Context) error {
			if ok, _ := a.calendar.Imported(); !ok {
				return errors.New("the wiki calendar has not been read yet")
			}
			return nil
		}},
	}
	if a.agent != nil {
		checks = append(checks, web.Check{Name: "deploy agent", Func: func(context.Context) error {
			// No grace: the client calls the agent unreachable only
			// after its own timeouts.
			if since, why, down := a.agent.Unreachable(); down {
				return errors.New(agentDown(since, why))
			}
			return nil
		}})
	}
	for _, tr := range a.bot.Transports() {
		checks = append(checks, web.Check{Name: "network " + tr.Network(), Func: func(context.Context) error {
			s := connState(tr)
			if s.Connected {
				return nil
			}
			if !s.Since.IsZero() && time.Since(s.Since) < grace {
				return nil
			}
			status := "not connected"
			if st, ok := tr.(bot.Status); ok && st.Status() != "" {
				status = st.Status()
			}
			return fmt.Errorf("%s", status)
		}})
	}
	return checks
}

// agentDown says since when the deploy agent cannot be reached, and why.
func agentDown(since time.Time, why string) string {
	return "the deploy agent is unreachable since " + since.UTC().Format("15:04") + " UTC (" + why + ")"
}

// agentView is the deploy agent's line among the status page's networks.
func agentView(c *agent.Client) web.NetworkView {
	if since, why, down := c.Unreachable(); down {
		return web.NetworkView{Name: "deploy agent", Status: agentDown(since, why)}
	}
	return web.NetworkView{Name: "deploy agent", Connected: true, Status: "connected"}
}
