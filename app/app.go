// Package app wires jouncebot together: configuration, the bbolt store, the
// calendar, the command table and the transports. main runs one App; tests
// embed one.
//
//	a, err := app.New(app.Options{Config: cfg, Log: log, Stdin: os.Stdin, Stdout: os.Stdout})
//	if err != nil { ... }
//	defer a.Close()
//	err = a.Run(ctx)
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jouncebot/jouncebot/agent"
	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/bot/console"
	"github.com/jouncebot/jouncebot/bot/irc"
	"github.com/jouncebot/jouncebot/bot/matrix"
	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/commands"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/deploy/git"
	"github.com/jouncebot/jouncebot/maint"
	"github.com/jouncebot/jouncebot/metrics"
	"github.com/jouncebot/jouncebot/policy"
	"github.com/jouncebot/jouncebot/readiness"
	"github.com/jouncebot/jouncebot/sal"
	"github.com/jouncebot/jouncebot/sal/phab"
	"github.com/jouncebot/jouncebot/sal/salwiki"
	"github.com/jouncebot/jouncebot/store"
	"github.com/jouncebot/jouncebot/web"
)

// Options configure an App.
type Options struct {
	Config *config.Config
	Log    *slog.Logger
	// Stdin and Stdout, when Stdin is set, run the console transport.
	Stdin  io.Reader
	Stdout io.Writer
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// WebOptional lets the bot run without its web server when bot.http
	// cannot be listened on (the built-in default's usual address may be
	// taken); otherwise that is a start-up error.
	WebOptional bool
	// Registry receives the metrics (a new registry when nil); /metrics
	// serves it.
	Registry *prometheus.Registry
	// ReadyGrace is how long a chat network may be reconnecting before
	// /readyz says not ready (DefaultReadyGrace when zero).
	ReadyGrace time.Duration
	// StatusEvery is how often the status page's live stream looks for
	// changes (1s when zero).
	StatusEvery time.Duration
}

// ErrNothingToRun is New's error when there is no console and no network.
var ErrNothingToRun = errors.New("nothing to run: no console (--no-console) and no networks configured")

// ListenError is New's error when the web server cannot listen on bot.http.
type ListenError struct {
	Addr string
	Err  error
}

func (e *ListenError) Error() string {
	why := e.Err
	var oe *net.OpError
	if errors.As(e.Err, &oe) && oe.Err != nil {
		why = oe.Err // "bind: address already in use", without the address again
	}
	return fmt.Sprintf("the web server cannot listen on %s (bot.http): %v; free the address or choose another", e.Addr, why)
}

func (e *ListenError) Unwrap() error { return e.Err }

// engine is what the chat side uses of the deploy engine: a *deploy.Engine
// in this process, or an *agent.Client of a deploy agent.
type engine interface {
	deploy.Service
	Record(id deploy.ID) (*deploy.Deploy, error)
	Estimate(n int) (time.Duration, string, error)
	History(n int) ([]deploy.Took, error)
}

// App is a running jouncebot.
type App struct {
	cfg       *config.Config
	log       *slog.Logger
	db        *store.DB
	bot       *bot.Bot
	cmds      *commands.Dispatcher
	calendar  *calendar.Service
	announcer *calendar.Announcer
	sal       *sal.Log
	deploy    engine // nil when deploys are off
	runDeploy func(ctx context.Context)
	agent     *agent.Client // nil when the engine runs in this process
	sandbox   *deploy.Sandbox
	gate      *policy.Gate
	gerrit    *gerrit.Client
	maint     *maint.Service
	ready     *readiness.Runner
	welcome   bot.Text
	salChat   bot.Handler
	outbox    *deploy.Outbox // the in-process engine's events waiting for chat

	httpAddr string
	web      net.Listener // nil when no web server runs
	baseURL  string       // the web server's public URL, or ""
	closers  []func() error

	reg         *prometheus.Registry
	metrics     *metrics.Metrics
	readyGrace  time.Duration
	statusEvery time.Duration
	now         func() time.Time
}

// DBFile is the database file's name inside the data directory.
const DBFile = "jouncebot.db"

// New opens the store and builds the bot. Close releases what it opened.
func New(o Options) (*App, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	cfg := o.Config
	if o.Stdin == nil && len(cfg.Networks) == 0 {
		return nil, ErrNothingToRun
	}
	a := &App{cfg: cfg, log: o.Log, readyGrace: o.ReadyGrace, statusEvery: o.StatusEvery, now: o.Now}
	if a.readyGrace == 0 {
		a.readyGrace = DefaultReadyGrace
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	a.newMetrics(o.Registry)
	// Listen before anything is written, so a taken address stops the
	// start cleanly.
	if err := a.listen(o.WebOptional); err != nil {
		return nil, err
	}
	db, err := store.Open(filepath.Join(cfg.Bot.DataDir, DBFile))
	if err != nil {
		a.Close()
		return nil, err
	}
	a.db = db
	a.closers = append(a.closers, db.Close)

	var fetcher calendar.Fetcher
	if src := cfg.Calendar.Wiki; src != nil {
		f, err := calendar.NewWikiFetcher(src, o.Log)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("calendar wiki: %w", err)
		}
		fetcher = f
	}
	a.calendar = calendar.NewService(calendar.ServiceOptions{Config: cfg, Book: calendar.NewBook(db), Fetcher: fetcher, Log: o.Log, Now: o.Now,
		OnRefresh: a.metrics.CalendarRefreshed})
	a.cmds = commands.NewDispatcher(commands.Options{Config: cfg, Log: o.Log, Observe: a.metrics.CommandDone})
	a.cmds.Register(commands.HelpCommands(a.cmds)...)
	a.cmds.Register(commands.CalendarCommands(commands.CalendarOptions{
		Source: a.calendar, Now: o.Now, Notes: commands.Notes(a.calendar), Banner: commands.FreezeBanner(a.calendar),
	})...)
	for _, t := range commands.ClaimTriggers {
		a.cmds.AddTrigger(t)
	}

	if err := a.setupSAL(); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.setupDeploy(o); err != nil {
		a.Close()
		return nil, err
	}
	a.setupMaint(o)
	a.bot = bot.New(o.Log, bot.HandlerFunc(func(ctx context.Context, r *bot.Request) {
		a.metrics.Received(r.Network)
		a.handle(ctx, r)
	}))
	a.bot.OnSend(a.metrics.Sent)
	// The security rooms receive only security details, never public
	// announcements (which would also name them in reminders).
	var private []bot.Target
	for _, r := range cfg.Security.Rooms {
		network, room, _ := strings.Cut(r, "/")
		private = append(private, bot.Target{Network: network, Room: room})
	}
	a.bot.SetPrivate(private)
	// People in the people list wait for their turn; strangers are cut off.
	a.bot.SetKnown(func(m bot.Message) bool { return a.cmds.Who(m) != nil })
	a.announcer = calendar.NewAnnouncer(a.calendar, a.bot, cfg, o.Log)
	a.announcer.OnSent(a.metrics.NoticeSent)
	if a.deploy != nil && a.agent == nil { // the check reads Gerrit and staging, which only a deploy engine has (a deploy agent's, on its host)
		a.setupReadiness(o)
	}
	if o.Stdin != nil {
		a.bot.Add(console.New(o.Stdin, o.Stdout, cfg.Bot.ConsolePerson))
	}
	for i := range cfg.Networks {
		n := &cfg.Networks[i]
		switch n.Type {
		case "matrix":
			tr, err := matrix.FromConfig(cfg, n, db, o.Log)
			if err != nil {
				a.Close()
				return nil, fmt.Errorf("network %s: %w", n.Name, err)
			}
			a.bot.Add(tr)
		case "irc":
			tr, err := irc.New(*n, o.Log, irc.WithVersion(commands.Version()))
			if err != nil {
				a.Close()
				return nil, fmt.Errorf("network %s: %w", n.Name, err)
			}
			a.bot.Add(tr)
		}
	}
	a.watchMetrics()
	return a, nil
}

// Bot returns the chat hub, for announcements.
func (a *App) Bot() *bot.Bot { return a.bot }

// DB returns the store.
func (a *App) DB() *store.DB { return a.db }

// Run runs the bot until ctx is done or every transport has ended.
func (a *App) Run(ctx context.Context) error {
	if len(a.bot.Transports()) == 0 {
		return ErrNothingToRun
	}
	a.log.Info("jouncebot running", "transports", len(a.bot.Transports()), "windows", a.calendar.Calendar().Len())
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		a.announcer.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		a.sal.Run(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.sendEvents(ctx)
	}()
	a.warnNoSecurityRoom(ctx, &wg)
	if a.deploy != nil {
		wg.Add(2)
		go func() {
			defer wg.Done()
			a.runDeploy(ctx)
		}()
		go func() {
			defer wg.Done()
			a.gate.Run(ctx)
		}()
	}
	if a.ready != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.ready.Run(ctx)
		}()
	}
	if a.maint != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.maint.Run(ctx)
		}()
	}
	if len(a.welcome) > 0 {
		a.bot.Send(ctx, bot.Target{Network: console.Network, Room: console.Room}, a.welcome)
	}
	defer func() { cancel(); wg.Wait() }()
	if a.web != nil {
		a.serveHTTP(ctx, &wg)
	}
	err := a.bot.Run(ctx)
	if err != nil {
		return fmt.Errorf("bot: %w", err)
	}
	return nil
}

// Close releases everything New opened, in reverse order.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	return errors.Join(errs...)
}

// listen opens the web server's address, if one is configured, and
// settles the public URL that permalinks use: bot.base_url, or the
// address listened on.
func (a *App) listen(optional bool) error {
	addr := a.cfg.Bot.HTTP
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		lerr := &ListenError{Addr: addr, Err: err}
		if optional {
			a.log.Warn("web server not started; the bot runs without it, and !log answers carry no link", "err", lerr)
			return nil
		}
		return lerr
	}
	a.web = ln
	a.closers = append(a.closers, func() error {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	})
	a.httpAddr = ln.Addr().String()
	a.baseURL = strings.TrimRight(a.cfg.Bot.BaseURL, "/")
	if a.baseURL == "" {
		a.baseURL = "http://" + a.httpAddr
	}
	return nil
}

// serveHTTP serves the web pages (SAL pages, calendar feed) on the
// listener New opened, until ctx is done.
func (a *App) serveHTTP(ctx context.Context, wg *sync.WaitGroup) {
	srv := a.webServer()
	a.log.Info("web server listening", "addr", a.httpAddr)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ctx, a.web); err != nil {
			a.log.Error("web server stopped", "err", err)
		}
	}()
}

// WebPatterns lists the pages the web server serves (see
// web.Server.Patterns).
func (a *App) WebPatterns() []string { return a.webServer().Patterns() }

// webServer builds the web server with every page.
func (a *App) webServer() *web.Server {
	o := web.Options{SAL: a.sal, BaseURL: a.baseURL, Links: web.LinksFromConfig(a.cfg), Logger: a.log}
	if a.sandbox != nil { // [[gerrit:N]] are the sandbox's changes
		o.Links.Interwiki["gerrit"] = strings.TrimRight(a.sandbox.URL, "/") + "/$1"
	}
	if a.ready != nil {
		o.Readiness = readinessReports{a.calendar, a.ready.Checker.Store}
	}
	a.opsPages(&o)
	if cr, ok := a.deploy.(deploy.CanaryReports); ok {
		o.Canary = canaryPages{cr}
	}
	srv := web.New(o)
	srv.Handle("GET /calendar.ics", calendar.ICalHandler(a.calendar))
	if a.maint != nil {
		links := web.LinksFromConfig(a.cfg)
		srv.Handle("GET /maint/{token}", web.MaintPage(a.maint, links, a.log))
		srv.Handle("GET /maint/{token}/{key}", web.MaintPage(a.maint, links, a.log))
	}
	return srv
}

// setupSAL builds the Server Admin Log with its wiki and Phabricator
// writers and registers the sal command.
func (a *App) setupSAL() error {
	cfg := a.cfg
	routes, err := salwiki.Routes(cfg, a.log)
	if err != nil {
		return fmt.Errorf("sal wiki: %w", err)
	}
	if ph := cfg.SAL.Phabricator; ph != nil {
		w := phab.NewWriter(phab.New(ph.URL, ph.Token.Value(), nil), ph.SecurityProjects, a.log)
		routes = append(routes, phab.Route(w, cfg))
	}
	a.sal = sal.New(a.db, cfg, sal.Options{Logger: a.log, Routes: routes, BaseURL: a.baseURL,
		Notify: func(ctx context.Context, n sal.Notice) {
			if n.Failing {
				a.metrics.OutboxFailing(n.Route)
			}
			sal.NoticeRooms(cfg, a.bot.Send, a.log)(ctx, n)
		},
		OnAppend: func(e sal.Entry) { a.metrics.SALAppended(e.Project) },
		SameRoom: func(network, configured, room string) bool { return a.bot.SameRoom(network, configured, room) }})
	a.salChat = sal.Handler(a.sal, a.cmds)
	a.cmds.Register(commands.Command{
		Name: "sal", Usage: "sal <words> [project:NAME] [nick:NICK] [from:YYYY-MM-DD] [to:YYYY-MM-DD]",
		Help:    "Searches the Server Admin Log and shows the newest matches, with a link to all of them.",
		MinArgs: 1, MaxArgs: -1,
		Run: func(ctx context.Context, c *commands.Call) (bot.Text, error) {
			t, err := a.sal.ChatSearch(ctx, c.Rest)
			var qe *sal.QueryError
			if errors.As(err, &qe) {
				return nil, commands.Errorf("%s", qe.Msg)
			}
			return t, err
		},
	})
	return nil
}

// setupDeploy builds the backport engine: against a local sandbox when
// deploy.sandbox says so (the built-in default), against the configured
// Gerrit, or none: then the deploy commands say deploys are off.
func (a *App) setupDeploy(o Options) error {
	cfg := a.cfg
	// A deploy never waits on chat: its events are kept in the outbox
	// with its history and go out in order from their own goroutine
	// (sendEvents), also after a restart.
	a.outbox = deploy.NewOutbox(a.db, deploy.NotifierFunc(func(ctx context.Context, ev deploy.Event) {
		switch ev.Kind {
		case deploy.EventDone, deploy.EventFailed, deploy.EventAborted:
			go a.markQueue(ev.Deploy)
		}
		a.finished(ev)
	}), a.log)
	notifier := a.outbox
	var engine deploy.Service = deploy.Off{}
	switch {
	case len(cfg.Agents) > 0:
		if err := a.setupAgentClient(a.agentNotifier()); err != nil {
			return err
		}
		engine = a.deploy
	case cfg.Deploy.Sandbox:
		sb, err := deploy.NewSandbox(filepath.Join(cfg.Bot.DataDir, "sandbox"), a.db, notifier, cfg, a.log, a.deploySAL())
		if err != nil {
			return fmt.Errorf("deploy sandbox: %w", err)
		}
		a.closers = append(a.closers, func() error { sb.Close(); return nil })
		sb.Engine.SetJudge(a.engineJudge())
		a.deploy, a.sandbox = sb.Engine, sb
		a.runDeploy = func(ctx context.Context) { sb.Engine.Run(ctx) }
		g, err := gerrit.New(gerrit.Options{URL: sb.URL, Username: gerrittest.BotUser, Password: gerrittest.BotPassword, Timeout: 5 * time.Second, Log: a.log})
		if err != nil {
			return fmt.Errorf("deploy sandbox: %w", err)
		}
		a.gerrit = g
		if o.Stdin != nil {
			a.welcome = sb.Welcome()
		}
		engine = a.deploy
	case cfg.Deploy.Gerrit.URL != "":
		opts, gopts := deploy.FromConfig(cfg, a.log)
		stages, err := deploy.SyncStages(&cfg.Deploy)
		if err != nil {
			return fmt.Errorf("deploy stages: %w", err)
		}
		opts.Stages, opts.SAL, opts.Judge = stages, a.deploySAL(), a.engineJudge()
		g, err := gerrit.New(gopts)
		if err != nil {
			return fmt.Errorf("gerrit: %w", err)
		}
		e := deploy.NewEngine(a.db, g, &git.Runner{Log: a.log}, notifier, opts)
		a.deploy, a.runDeploy = e, func(ctx context.Context) { e.Run(ctx) }
		a.gerrit = g
		engine = a.deploy
	}
	if e, ok := a.deploy.(*deploy.Engine); ok && a.web != nil {
		e.SetCanaryURL(func(id deploy.ID) string { return a.baseURL + "/deploys/" + string(id) + "/canary" })
	}
	var checker commands.ChangeChecker
	var changeURL func(int) string
	if a.gerrit != nil { // deploys are on
		checker = commands.GerritChecker{Gerrit: a.gerrit}
		changeURL = a.gerrit.ChangeURL
		a.calendar.SetOwners(calendar.GerritOwners{Gerrit: a.gerrit, Config: cfg})
	}
	a.cmds.Register(commands.WindowCommands(commands.WindowOptions{
		Schedule: a.calendar, Now: o.Now, ChangeURL: changeURL,
		Person:  func(name string) bot.Person { return calendar.PersonFor(cfg, name) },
		Checker: checker,
		Owner: func(user string) string {
			if p := cfg.PersonByGerrit(user); p != nil {
				return p.Name
			}
			return ""
		},
	})...)
	var pol *commands.Policy
	var blocked commands.BlockedFunc
	if a.deploy != nil { // the policy gate starts deploys
		pol = a.policy(o.Now)
		blocked = commands.StoredBlocks(readiness.NewStore(a.db))
	}
	a.cmds.Register(commands.DeployCommands(commands.DeployOptions{Engine: engine, Calendar: a.calendar, Now: o.Now, Policy: pol,
		Blocked: blocked, Networks: a.networkStatus})...)
	for _, t := range commands.DeployTriggers {
		a.cmds.AddTrigger(t)
	}
	return nil
}

// sendEvents sends the in-process engine's events to chat, in order,
// until ctx is done: where the deploy was asked for, else to every
// announcement room. Each send is bounded (bot.SendTimeout), so a network
// that is down delays the events after it, never the deploy. Events are
// kept in the outbox until sent: those a killed process had not sent go
// out after the restart (the one it was sending perhaps twice).
func (a *App) sendEvents(ctx context.Context) {
	if a.outbox == nil {
		return
	}
	_, inProcess := a.deploy.(*deploy.Engine)
	a.outbox.Drain(ctx, func(ctx context.Context, ev deploy.Event) error {
		if !a.chatConnected() {
			return errNoChat // kept until a network is back (at startup: until one connects)
		}
		a.sendEvent(ctx, ev)
		if ev.Kind == deploy.EventDone && inProcess {
			a.offerMaint(ctx, ev) // after the event that says the deploy is done
		}
		return nil
	})
}

var errNoChat = errors.New("no chat network is connected")

// chatConnected reports whether any chat transport is connected.
func (a *App) chatConnected() bool {
	for _, tr := range a.bot.Transports() {
		if connState(tr).Connected {
			return true
		}
	}
	return false
}

// sendEvent sends one deploy event; see sendEvents.
func (a *App) sendEvent(ctx context.Context, ev deploy.Event) {
	if ev.Kind == deploy.EventSecurity {
		a.sendSecurity(ctx, ev)
		return
	}
	if network, room, ok := strings.Cut(ev.Origin, "\t"); ok {
		err := a.bot.Send(ctx, bot.Target{Network: network, Room: room}, ev.Text)
		if err == nil {
			return
		}
		a.log.Warn("deploy event not confirmed where the deploy was asked for; announcing it", "deploy", ev.Deploy, "err", err)
	}
	if err := a.bot.Announce(ctx, ev.Text); err != nil {
		a.log.Warn("deploy event not confirmed everywhere", "deploy", ev.Deploy, "err", err)
	}
}

// policy builds the deploy policy and its gate, whose lapses are said
// where the request was made.
func (a *App) policy(now func() time.Time) *commands.Policy {
	cfg := a.cfg
	rules := policy.FromConfig(cfg)
	current := a.patchSets()
	a.gate = policy.NewGate(a.db, policy.GateOptions{Start: a.startApproved(commands.StartApproved(a.deploy)), RoleNames: rules.RoleNames, Log: a.log, Now: now,
		AdminHasEveryRole: rules.AdminHasEveryRole, Current: current,
		Notify: func(ctx context.Context, origin string, t bot.Text) {
			if network, room, ok := strings.Cut(origin, "\t"); ok {
				if err := a.bot.Send(ctx, bot.Target{Network: network, Room: room}, t); err == nil {
					return
				}
			}
			a.bot.Announce(ctx, t)
		}})
	facts := a.policyFacts()
	p := &commands.Policy{Rules: rules, Gate: a.gate, Claims: facts.Claims, Estimate: facts.Estimate, Unchecked: facts.Unchecked,
		Person: func(name string) bot.Person { return calendar.PersonFor(cfg, name) },
		Asker:  askerOf,
	}
	p.Current = current
	return p
}

// Sandbox is the built-in deploy sandbox (nil with a configured Gerrit).
func (a *App) Sandbox() *deploy.Sandbox { return a.sandbox }

// deploySAL writes the deploy engine's SAL lines to the project named
// "production", or else the first configured project; nil when there is
// none.
func (a *App) deploySAL() deploy.Logger {
	ps := a.cfg.SAL.Projects
	if len(ps) == 0 {
		return nil
	}
	project := ps[0].Name
	for _, p := range ps {
		if p.Name == "production" {
			project = p.Name
		}
	}
	return deploySAL{log: a.sal, project: project}
}

type deploySAL struct {
	log     *sal.Log
	project string
}

func (s deploySAL) Log(ctx context.Context, who deploy.Person, message string) error {
	_, err := s.log.Append(ctx, sal.Entry{Nick: s.nick(who), Project: s.project, Message: message})
	return err
}

func (deploySAL) nick(who deploy.Person) string {
	if who.IRCNick != "" {
		return who.IRCNick
	}
	return who.Name
}

// setupMaint builds the maintenance script service when a maintenance
// host is configured, and registers the maint command either way.
func (a *App) setupMaint(o Options) {
	cfg := a.cfg
	if cfg.Maint.Host != "" {
		m := cfg.Maint
		var salLog func(ctx context.Context, by maint.Person, msg string) error
		if l := a.deploySAL(); l != nil {
			salLog = func(ctx context.Context, by maint.Person, msg string) error {
				return l.Log(ctx, deploy.Person{Name: by.Name, IRCNick: by.IRCNick, MatrixID: by.MatrixID}, msg)
			}
		}
		a.maint = maint.NewService(maint.Options{DB: a.db, Rules: maint.RulesFrom(m), Host: maint.HostFrom(m),
			Timeout: m.Timeout, KillAfter: m.KillAfter, Retention: m.Retention, WaitExpiry: m.WaitExpiry, PollInterval: m.PollInterval, ProgressEvery: m.ProgressEvery,
			Notify: a.sayAt, SAL: salLog, BaseURL: a.baseURL, Log: a.log, Now: o.Now,
			Private: func(ctx context.Context, origin string, by maint.Person, t bot.Text) {
				a.sendSecurity(ctx, deploy.Event{Kind: deploy.EventSecurity, Origin: origin, Text: t, Time: o.Now().UTC(),
					By: deploy.Person{Name: by.Name, IRCNick: by.IRCNick, MatrixID: by.MatrixID}})
			}})
	}
	a.cmds.Register(commands.MaintCommands(commands.MaintOptions{Service: a.maint,
		Change: a.maintChange})...)
}

// maintChange returns the scripts change n's footers ask for, when the
// change is merged and deployed from this bot's staging checkout (a
// footer anyone uploaded runs only once reviewed, merged and live).
func (a *App) maintChange(ctx context.Context, n int) ([]maint.Request, []string, error) {
	e, ok := a.deploy.(interface {
		DeployedChange(ctx context.Context, n int) (*gerrit.Change, string, error)
	})
	if !ok {
		return nil, nil, commands.Errorf("I cannot tell whether change %d is deployed: deploys are off here or run by a deploy agent, whose staging checkout I cannot read. Start the script by name: maint <script> <wiki|list:NAME|all> [--args] [reason].", n)
	}
	ch, why, err := e.DeployedChange(ctx, n)
	if err != nil {
		return nil, nil, err
	}
	reqs, bad, err := maint.FromChange(ch) // refuses a change not merged
	if err != nil {
		return nil, nil, err
	}
	if why != "" {
		return nil, nil, &maint.RefusedError{Msg: why}
	}
	return reqs, bad, nil
}

// sayAt says t where origin ("network\troom") points, or announces it.
func (a *App) sayAt(ctx context.Context, origin string, t bot.Text) {
	if network, room, ok := strings.Cut(origin, "\t"); ok {
		if err := a.bot.Send(ctx, bot.Target{Network: network, Room: room}, t); err == nil {
			return
		}
	}
	a.bot.Announce(ctx, t)
}

// offerMaint tells the deployer, after the production sync of changes
// whose Maintenance-Script footers ask for scripts, what they ask for
// and how to start it.
func (a *App) offerMaint(ctx context.Context, ev deploy.Event) {
	d, err := a.deploy.Record(ev.Deploy)
	if err != nil {
		a.log.Error("read finished deploy", "deploy", ev.Deploy, "err", err)
		return
	}
	if d.Revert != nil || d.Sync == nil || d.Sync.Rollback != nil {
		return
	}
	if offer := commands.MaintOffer(d.Changes); offer != "" {
		a.sayAt(ctx, ev.Origin, bot.Join(bot.M(bot.Person{Name: d.By.Name, IRCNick: d.By.IRCNick, MatrixID: d.By.MatrixID}), bot.T(": "+offer)))
	}
}

// markQueue records the outcome of a finished deploy in the window
// queues: its changes are deployed (and not moved on), or rolled back
// (merged but not live, needing a revert).
func (a *App) markQueue(id deploy.ID) {
	d, err := a.deploy.Record(id)
	if err != nil {
		a.log.Error("read finished deploy", "deploy", id, "err", err)
		return
	}
	mark := a.calendar.Book().MarkDeployed
	switch {
	case d.Revert != nil:
		return
	case d.Sync != nil && d.Sync.Rollback != nil:
		mark = a.calendar.Book().MarkRolledBack
	case d.State != "done":
		return
	}
	for _, c := range d.Changes {
		if err := mark(c.Number, time.Now()); err != nil {
			a.log.Error("mark change in its queue", "change", c.Number, "err", err)
		}
	}
}

// handle routes a chat line: !log lines to the SAL (and the phrases they
// may carry, like "deploys done", to the command table), everything else
// to the command table.
func (a *App) handle(ctx context.Context, r *bot.Request) {
	ctx = agent.WithCaller(ctx, a.caller(r))
	if strings.HasPrefix(strings.TrimSpace(commands.Clean(r.Text)), "!log") {
		a.salChat.Handle(ctx, r)
		a.cmds.HandleTriggers(ctx, r)
		return
	}
	a.cmds.Handle(ctx, r)
}

// networkStatus says how each chat network is doing, for the status
// command: connected, reconnecting, or connected without its account.
func (a *App) networkStatus() []string {
	if a.bot == nil {
		return nil
	}
	var out []string
	for _, tr := range a.bot.Transports() {
		if s, ok := tr.(bot.Status); ok && tr.Network() != console.Network {
			out = append(out, tr.Network()+": "+s.Status())
		}
	}
	return out
}

// HTTPAddr is the web server's address once Run has started it.
func (a *App) HTTPAddr() string { return a.httpAddr }
