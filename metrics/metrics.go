// Package metrics declares jouncebot's Prometheus metrics and the small
// observers the rest of the bot reports to. Nothing in it is global: New
// registers the collectors with the registerer it is given, so each test
// (and each embedded App) has a registry of its own.
//
//	reg := prometheus.NewRegistry()
//	m := metrics.New(reg, metrics.Options{Stages: []string{"canaries", "production"}})
//	m.CommandDone("deploy", metrics.Refused)
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Every name starts with jouncebot_, durations are in seconds, sizes in
// bytes, times are Unix timestamps in seconds, and counters end in _total.
// Labels take only bounded values: outcomes, stage, network, route and
// command names from the configuration, never change numbers or nicks.
// Labelled series that can be known in advance start at zero.
package metrics

import (
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Command results, the values of the result label of
// jouncebot_commands_total.
const (
	OK      = "ok"
	Refused = "refused" // not allowed, or wrong arguments
	Failed  = "error"   // the command ran and failed
)

// Deploy outcomes, the values of the outcome label.
const (
	OutcomeDone     = "done"
	OutcomePrepared = "prepared"
	OutcomeFailed   = "failed"
	OutcomeAborted  = "aborted"
)

var outcomes = []string{OutcomeDone, OutcomePrepared, OutcomeFailed, OutcomeAborted}

// Options name the label values known in advance, so their series start at
// zero.
type Options struct {
	Version  string
	Stages   []string // sync stage names from the configuration
	Networks []string // chat network names
	Commands []string // command names of the command table
	Projects []string // SAL projects
	Routes   []string // SAL outbox routes
}

// Metrics holds the collectors. Its methods are safe for concurrent use.
type Metrics struct {
	deploys        *prometheus.CounterVec
	deployDuration *prometheus.HistogramVec
	stageDuration  *prometheus.HistogramVec
	hosts          *prometheus.CounterVec
	gateWait       prometheus.Histogram
	checks         *prometheus.CounterVec
	canaryScore    *prometheus.HistogramVec
	canaryVerdicts *prometheus.CounterVec
	rollbacks      prometheus.Counter
	reverts        prometheus.Counter
	lastSuccess    prometheus.Gauge

	received *prometheus.CounterVec
	sent     *prometheus.CounterVec
	commands *prometheus.CounterVec
	notices  *prometheus.CounterVec

	refreshes  *prometheus.CounterVec
	lastImport prometheus.Gauge
	salEntries *prometheus.CounterVec
	outboxFail *prometheus.CounterVec

	state *stateCollector
}

// New declares the metrics and registers them, with the Go runtime and
// process collectors, with reg.
func New(reg prometheus.Registerer, o Options) *Metrics {
	durBuckets := []float64{10, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200}
	m := &Metrics{
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jouncebot_deploys_total",
			Help: "Deploys finished, by outcome (done, prepared, failed, aborted)."}, []string{"outcome"}),
		deployDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jouncebot_deploy_duration_seconds",
			Help: "Time from a deploy's start to its end, by outcome.", Buckets: durBuckets}, []string{"outcome"}),
		stageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jouncebot_deploy_stage_duration_seconds",
			Help:    "Time a sync stage took from its start until every host was synced, by stage.",
			Buckets: []float64{1, 5, 10, 30, 60, 120, 300, 600, 1200}}, []string{"stage"}),
		hosts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jouncebot_hosts_synced_total",
			Help: "Host syncs, by stage and result (ok, failed)."}, []string{"stage", "result"}),
		gateWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "jouncebot_testing_gate_wait_seconds",
			Help: "Time a testing gate waited for its answer.", Buckets: []float64{30, 60, 120, 300, 600, 900, 1200, 1800, 3600}}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jouncebot_checks_total",
			Help: "Runs of a stage's checks, by stage and result (passed, failed)."}, []string{"stage", "result"}),
		canaryScore: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jouncebot_canary_score",
			Help:    "Scores (0–100) of canary analyses, by stage.",
			Buckets: []float64{0, 25, 50, 75, 90, 95, 100}}, []string{"stage"}),
		canaryVerdicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jouncebot_canary_analyses_total",
			Help: "Canary analyses, by stage and verdict (pass, marginal, fail)."}, []string{"stage", "verdict"}),
		rollbacks: prometheus.NewCounter(prometheus.CounterOpts{Name: "jouncebot_rollbacks_total",
			Help: "Deploys rolled back."}),
		reverts: prometheus.NewCounter(prometheus.CounterOpts{Name: "jouncebot_reverts_total",
			Help: "Reverts finished (the revert command)."}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jouncebot_last_successful_deploy_timestamp_seconds",
			Help: "When the last deploy finished done, as a Unix time (0 before the first)."}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jouncebot_chat_messages_received_total",
			Help: "Chat messages received, by network."}, []string{"network"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jouncebot_chat_messages_sent_total",
			Help: "Chat messages handed to a transport to send, by network."}, []string{"network"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jouncebot_commands_total",
			Help: "Commands run, by name and result (ok, refused, error); unknown names count as \"unknown\"."}, []string{"command", "result"}),
		notices: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jouncebot_notices_sent_total",
			Help: "Window notices sent, by whether they went out late (true, false)."}, []string{"late"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jouncebot_calendar_refreshes_total",
			Help: "Reads of the wiki calendar, by result (ok, error)."}, []string{"result"}),
		lastImport: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jouncebot_calendar_last_import_timestamp_seconds",
			Help: "When the wiki calendar was last read successfully, as a Unix time (0 before the first)."}),
		salEntries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jouncebot_sal_entries_total",
			Help: "Server Admin Log entries appended, by project."}, []string{"project"}),
		outboxFail: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jouncebot_outbox_outages_total",
			Help: "Times an outbox destination started failing, by route."}, []string{"route"}),
		state: newStateCollector(),
	}
	version := o.Version
	if version == "" {
		version = "(devel)"
	}
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "jouncebot_build_info",
		Help: "Always 1; the labels say which build runs.", ConstLabels: prometheus.Labels{"version": version, "goversion": goVersion}})
	build.Set(1)
	reg.MustRegister(m.deploys, m.deployDuration, m.stageDuration, m.hosts, m.gateWait, m.checks, m.canaryScore, m.canaryVerdicts, m.rollbacks, m.reverts,
		m.lastSuccess, m.received, m.sent, m.commands, m.notices, m.refreshes, m.lastImport, m.salEntries, m.outboxFail,
		m.state, build, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.Expect(o)
	return m
}

// Expect creates the series of label values that became known after New
// (the command table, the outbox routes), at zero.
func (m *Metrics) Expect(o Options) {
	if m == nil {
		return
	}
	for _, oc := range outcomes {
		m.deploys.WithLabelValues(oc)
		m.deployDuration.WithLabelValues(oc)
	}
	for _, s := range o.Stages {
		m.stageDuration.WithLabelValues(s)
		for _, r := range []string{"ok", "failed"} {
			m.hosts.WithLabelValues(s, r)
		}
		for _, r := range []string{"passed", "failed"} {
			m.checks.WithLabelValues(s, r)
		}
		for _, v := range []string{"pass", "marginal", "fail"} {
			m.canaryVerdicts.WithLabelValues(s, v)
		}
		m.canaryScore.WithLabelValues(s)
	}
	for _, n := range o.Networks {
		m.received.WithLabelValues(n)
		m.sent.WithLabelValues(n)
	}
	for _, c := range append(o.Commands, "unknown") {
		for _, r := range []string{OK, Refused, Failed} {
			m.commands.WithLabelValues(c, r)
		}
	}
	for _, l := range []string{"true", "false"} {
		m.notices.WithLabelValues(l)
	}
	for _, r := range []string{"ok", "error"} {
		m.refreshes.WithLabelValues(r)
	}
	for _, p := range o.Projects {
		m.salEntries.WithLabelValues(p)
	}
	for _, r := range o.Routes {
		m.outboxFail.WithLabelValues(r)
	}
}

// LastSuccess is the gauge of the last successful deploy's time, for
// tests.
func (m *Metrics) LastSuccess() prometheus.Gauge { return m.lastSuccess }

// CommandDone counts one command run. name must be a command of the table
// (or "unknown").
func (m *Metrics) CommandDone(name, result string) {
	if m == nil {
		return
	}
	m.commands.WithLabelValues(name, result).Inc()
}

// Received counts an incoming chat message.
func (m *Metrics) Received(network string) {
	if m == nil {
		return
	}
	m.received.WithLabelValues(network).Inc()
}

// Sent counts an outgoing chat message.
func (m *Metrics) Sent(network string) {
	if m == nil {
		return
	}
	m.sent.WithLabelValues(network).Inc()
}

// NoticeSent counts a window notice.
func (m *Metrics) NoticeSent(late bool) {
	if m == nil {
		return
	}
	l := "false"
	if late {
		l = "true"
	}
	m.notices.WithLabelValues(l).Inc()
}

// CalendarRefreshed counts a read of the wiki calendar; at is when a good
// one finished.
func (m *Metrics) CalendarRefreshed(ok bool, at time.Time) {
	if m == nil {
		return
	}
	if !ok {
		m.refreshes.WithLabelValues("error").Inc()
		return
	}
	m.refreshes.WithLabelValues("ok").Inc()
	m.lastImport.Set(float64(at.UnixNano()) / 1e9)
}

// CalendarImported sets the time of the last good import, e.g. from the
// cache read at start-up.
func (m *Metrics) CalendarImported(at time.Time) {
	if m == nil || at.IsZero() {
		return
	}
	m.lastImport.Set(float64(at.UnixNano()) / 1e9)
}

// SALAppended counts an entry of project.
func (m *Metrics) SALAppended(project string) {
	if m == nil {
		return
	}
	m.salEntries.WithLabelValues(project).Inc()
}

// OutboxFailing counts an outbox route that started failing.
func (m *Metrics) OutboxFailing(route string) {
	if m == nil {
		return
	}
	m.outboxFail.WithLabelValues(route).Inc()
}
