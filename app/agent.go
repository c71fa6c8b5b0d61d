package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/jouncebot/jouncebot/agent"
	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/bot/console"
	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/commands"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/deliver"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/git"
	"github.com/jouncebot/jouncebot/policy"
	"github.com/jouncebot/jouncebot/sal"
	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// setupAgentClient makes the deploy engine a client of the configured
// deploy agent. The chat side keeps only a read-only Gerrit (no password)
// when deploy.gerrit.url is set, for queueing changes.
func (a *App) setupAgentClient(n deploy.Notifier) error {
	l := a.cfg.Agents[0]
	host, _, _ := net.SplitHostPort(l.Address)
	if l.ServerName != "" {
		host = l.ServerName
	}
	tc, err := agent.ClientTLS(l.CA, l.Cert, l.Key, host)
	if err != nil {
		return fmt.Errorf("agent %s: %w", l.Name, err)
	}
	c := agent.NewClient(agent.ClientOptions{Name: l.Name, Address: l.Address, TLS: tc, DB: a.db, Notify: n, SAL: a.agentSALOnce, Log: a.log})
	a.deploy, a.agent, a.runDeploy = c, c, c.Run
	if g := a.cfg.Deploy.Gerrit; g.URL != "" {
		gc, err := gerrit.New(gerrit.Options{URL: g.URL, Timeout: g.Timeout, Log: a.log})
		if err != nil {
			return fmt.Errorf("gerrit: %w", err)
		}
		a.gerrit = gc
	}
	return nil
}

// Agent is the client of the deploy agent (nil when the engine runs in
// this process), for status pages and /readyz: Unreachable says since when
// it cannot be reached.
func (a *App) Agent() *agent.Client { return a.agent }

// caller is who sent r, as its transport vouched for them, for the deploy
// agent's own check.
func (a *App) caller(r *bot.Request) agent.Caller {
	kind := "console"
	if r.Network != console.Network {
		kind = ""
		for _, n := range a.cfg.Networks {
			if n.Name == r.Network {
				kind = n.Type
			}
		}
	}
	return agent.Caller{Kind: kind, Network: r.Network, Account: r.Account}
}

// AgentRole is `jouncebot agent`: the deploy engine, its own database and
// the mutual-TLS server the chat bot talks to.
type AgentRole struct {
	cfg     *config.Config
	log     *slog.Logger
	db      *store.DB
	engine  agent.Engine
	run     func(ctx context.Context)
	server  *agent.Server
	closers []func() error
	addr    string
	events  *agent.Log
	// calendar is the agent's own: the configured windows and freezes,
	// the wiki import and its own database's claims and freezes; the
	// deploy policy is judged on it.
	calendar *calendar.Service
	wiki     bool
}

// NewAgentRole opens the agent's database and builds its engine: against
// the configured Gerrit, or, with deploy.sandbox, the local sandbox.
func NewAgentRole(cfg *config.Config, log *slog.Logger) (*AgentRole, error) {
	if cfg.Agent == nil {
		return nil, fmt.Errorf("%s has no agent: section; a deploy agent needs agent.listen, agent.ca, agent.cert and agent.key", cfg.File)
	}
	db, err := store.Open(filepath.Join(cfg.Bot.DataDir, DBFile))
	if err != nil {
		return nil, err
	}
	r := &AgentRole{cfg: cfg, log: log, db: db, closers: []func() error{db.Close}}
	events, err := agent.NewLog(db, log)
	if err != nil {
		r.Close()
		return nil, err
	}
	r.events = events
	var fetcher calendar.Fetcher
	if src := cfg.Calendar.Wiki; src != nil {
		f, err := calendar.NewWikiFetcher(src, log)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("calendar wiki: %w", err)
		}
		fetcher, r.wiki = f, true
	}
	r.calendar = calendar.NewService(calendar.ServiceOptions{Config: cfg, Book: calendar.NewBook(db), Fetcher: fetcher, Log: log})
	if !cfg.Deploy.Sandbox && cfg.Deploy.Gerrit.URL == "" {
		r.Close()
		return nil, fmt.Errorf("%s: a deploy agent needs deploy.gerrit (or deploy.sandbox: true to try it)", cfg.File)
	}
	if cfg.Deploy.Sandbox {
		sb, err := deploy.NewSandbox(filepath.Join(cfg.Bot.DataDir, "sandbox"), db, events, cfg, log, events.SAL())
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("deploy sandbox: %w", err)
		}
		r.closers = append(r.closers, func() error { sb.Close(); return nil })
		sb.Engine.SetJudge(r.judge())
		r.engine, r.run = sb.Engine, func(ctx context.Context) { sb.Engine.Run(ctx) }
		log.Info("deploy sandbox", "gerrit", sb.URL, "staging", sb.Staging, "servers", sb.Servers)
	} else {
		opts, gopts := deploy.FromConfig(cfg, log)
		stages, err := deploy.SyncStages(&cfg.Deploy)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("deploy stages: %w", err)
		}
		opts.Stages, opts.SAL, opts.Judge = stages, events.SAL(), r.judge()
		g, err := gerrit.New(gopts)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("gerrit: %w", err)
		}
		e := deploy.NewEngine(db, g, &git.Runner{Log: log}, events, opts)
		r.engine, r.run = e, func(ctx context.Context) { e.Run(ctx) }
	}
	audit, err := agent.OpenAudit(filepath.Join(cfg.Bot.DataDir, agent.AuditFile))
	if err != nil {
		r.Close()
		return nil, err
	}
	r.closers = append(r.closers, audit.Close)
	r.server = agent.NewServer(r.engine, events, cfg, audit, log)
	return r, nil
}

// Run serves the chat bot and runs deploys until ctx is done.
func (r *AgentRole) Run(ctx context.Context, ready func(addr string)) error {
	a := r.cfg.Agent
	tc, err := agent.ServerTLS(a.CA, a.Cert, a.Key, a.ClientName)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.Listen)
	if err != nil {
		return fmt.Errorf("agent: listen: %w", err)
	}
	r.addr = ln.Addr().String()
	r.log.Info("deploy agent listening", "addr", r.addr)
	if ready != nil {
		ready(r.addr)
	}
	done, pruned := make(chan struct{}), make(chan struct{})
	go func() { defer close(done); r.run(ctx) }()
	go func() { defer close(pruned); r.prune(ctx) }()
	wiki := make(chan struct{})
	go func() { defer close(wiki); r.readWiki(ctx) }()
	err = r.server.Serve(ctx, ln, tc)
	<-done
	<-pruned
	<-wiki
	return err
}

// pruneEvery is how often the agent prunes old events and host results.
const pruneEvery = time.Hour

// prune deletes, at start and then every hour, the events and the
// per-host results of finished deploys older than agent.keep_events.
func (r *AgentRole) prune(ctx context.Context) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	hosts := deliver.Hosts{DB: r.db}
	for {
		before := time.Now().Add(-r.cfg.Agent.KeepEvents)
		if n, err := r.events.Prune(before); err != nil {
			r.log.Error("prune the agent's events", "err", err)
		} else if n > 0 {
			r.log.Info("pruned old events", "count", n, "before", before)
		}
		if n, err := hosts.Prune(before); err != nil {
			r.log.Error("prune per-host results", "err", err)
		} else if n > 0 {
			r.log.Info("pruned old per-host results", "count", n, "before", before)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// judge is the deploy policy on the agent: the configured rules on the
// agent's own calendar, freezes, claims, people and deploy history, never
// on what the chat bot says about them.
func (r *AgentRole) judge() deploy.Judge {
	cfg := r.cfg
	return commands.Judge(cfg, policy.Facts{
		Calendar:   r.calendar.Calendar,
		Freeze:     r.calendar.ActiveFreeze,
		LastFreeze: r.calendar.LastFreeze,
		Claims:     claimsOf(r.calendar.Book()),
		Unchecked:  func() string { return calendarUnchecked(cfg, r.calendar) },
		Estimate: func() (time.Duration, string) {
			if r.engine == nil {
				return 0, ""
			}
			d, from, err := r.engine.Estimate(5)
			if err != nil {
				r.log.Warn("estimate deploy time", "err", err)
			}
			return d, from
		},
	}, time.Now)
}

// readWiki reads the wiki's Deployments page now and every
// calendar.refresh, as the bot does, until ctx is done.
func (r *AgentRole) readWiki(ctx context.Context) {
	if !r.wiki {
		return
	}
	t := time.NewTicker(r.cfg.Calendar.Refresh)
	defer t.Stop()
	for {
		if _, err := r.calendar.Refresh(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("calendar wiki not read; the last good import is kept", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close releases what NewAgentRole opened, in reverse order.
func (r *AgentRole) Close() error {
	var first error
	for i := len(r.closers) - 1; i >= 0; i-- {
		if err := r.closers[i](); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// agentSAL writes a deploy agent's SAL line to this bot's Server Admin Log.
func (a *App) agentSAL(ctx context.Context, ev deploy.Event) {
	l := a.deploySAL()
	if l == nil {
		return
	}
	if err := l.Log(ctx, ev.By, ev.Text.String()); err != nil {
		a.log.Error("SAL line from the deploy agent not logged", "deploy", ev.Deploy, "err", err)
	}
}

// agentSALOnce writes a deploy agent's SAL line to this bot's Server Admin
// Log in the transaction also runs in (the client's cursor).
func (a *App) agentSALOnce(ctx context.Context, ev deploy.Event, also func(tx *bolt.Tx) error) error {
	l, ok := a.deploySAL().(deploySAL)
	if !ok {
		return a.db.Update(also) // no SAL project: only the cursor moves
	}
	_, err := l.log.AppendWith(ctx, sal.Entry{Nick: l.nick(ev.By), Project: l.project, Message: ev.Text.String()}, also)
	return err
}

// agentNotifier receives a deploy agent's events. Unlike the in-process
// engine's, it sends each one to chat before it returns, so the client
// moves its cursor only past events that were sent; the agent keeps the
// rest.
func (a *App) agentNotifier() deploy.Notifier {
	return deploy.NotifierFunc(func(ctx context.Context, ev deploy.Event) {
		switch ev.Kind {
		case agent.EventSAL:
			a.agentSAL(ctx, ev)
			return
		case deploy.EventDone, deploy.EventFailed, deploy.EventAborted:
			go a.markQueue(ev.Deploy)
		}
		a.sendEvent(ctx, ev)
		if ev.Kind == deploy.EventDone {
			a.offerMaint(ctx, ev)
		}
	})
}
