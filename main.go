// Command jouncebot is a chat-ops bot and deploy agent for teams that ship
// production fixes in scheduled backport windows. Run it with no arguments
// to talk to it in the terminal with the built-in example calendar, or with
// --config FILE to join real networks.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/jouncebot/jouncebot/agent"
	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/commands"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/store"
)

//go:embed config.example.yaml
var exampleConfig []byte

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitConfig = 2 // bad configuration or usage
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// usage is the command line summary printed with every usage error.
const usage = "Usage:\n  jouncebot [flags]\n  jouncebot agent --config FILE\n  jouncebot check-config FILE\n  jouncebot version\n"

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "check-config":
			return checkConfig(args[1:], stdout, stderr)
		case "agent":
			return runAgent(args[1:], stderr)
		case "version":
			if len(args) > 1 {
				return usageError(stderr, "version takes no arguments, got %q", args[1])
			}
			fmt.Fprintln(stdout, commands.Version())
			return exitOK
		}
	}
	fs := flag.NewFlagSet("jouncebot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := fs.String("config", "", "configuration `file` (default: the built-in example calendar with the console only)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	noConsole := fs.Bool("no-console", false, "do not read commands from standard input")
	dataDir := fs.String("data", "jouncebot-data", "data `directory` for the built-in default (ignored with --config)")
	httpAddr := fs.String("http", "127.0.0.1:8080", "web server `address` for the built-in default (ignored with --config; empty: none)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() > 0 {
		// A mistyped subcommand ("versoin") must not start the bot and
		// write a data directory.
		return usageError(stderr, "unknown command or stray argument %q", fs.Arg(0))
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "jouncebot:", err)
		return exitConfig
	}

	var cfg *config.Config
	if *cfgFile == "" {
		cfg, err = config.Demo(exampleConfig, "config.example.yaml (built in)", *dataDir, *httpAddr)
	} else {
		cfg, err = config.Load(*cfgFile)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}

	opts := app.Options{Config: cfg, Log: log, Stdout: stdout}
	if !*noConsole {
		opts.Stdin = stdin
	}
	// The built-in default's usual web address may be taken by another
	// program: the demo then runs without its web pages. An address given
	// on purpose must work.
	opts.WebOptional = *cfgFile == "" && !flagSet(fs, "http")
	a, err := app.New(opts)
	if err != nil {
		var inUse *store.InUseError
		var listen *app.ListenError
		if errors.As(err, &inUse) || errors.As(err, &listen) || errors.Is(err, app.ErrNothingToRun) {
			fmt.Fprintln(stderr, "jouncebot:", err)
			return exitConfig
		}
		log.Error("cannot start", "err", err)
		return exitFailed
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var runErr error
	select {
	case runErr = <-done:
	case <-ctx.Done():
		log.Info("shutting down")
		select {
		case runErr = <-done:
		case <-time.After(5 * time.Second):
			log.Error("shutdown took longer than 5s; exiting anyway")
			runErr = errors.New("shutdown timed out")
		}
	}
	if err := a.Close(); err != nil {
		log.Error("close", "err", err)
	}
	if runErr != nil {
		log.Error("stopped", "err", runErr)
		return exitFailed
	}
	return exitOK
}

// flagSet reports whether the flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", level)
	}
	o := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", format)
}

// usageError says what is wrong with the command line, prints the usage and
// returns the exit code for it.
func usageError(stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "jouncebot: "+format+"\n%s", append(args, usage)...)
	fmt.Fprintln(stderr, "Run \"jouncebot --help\" for the flags.")
	return exitConfig
}

// checkConfig validates a file and prints a one-screen summary.
func checkConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		return usageError(stderr, "check-config takes exactly one configuration file, got %d arguments", len(args))
	}
	cfg, err := config.Load(args[0])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	fmt.Fprint(stdout, summary(cfg, time.Now()))
	if w := cfg.SecurityWarning(); w != "" {
		fmt.Fprintf(stdout, "\nWarning: %s.\n", w)
	}
	if lines, ok := checkKube(cfg); len(lines) > 0 {
		fmt.Fprintf(stdout, "\nKubernetes (%s):\n  %s\n", cfg.Deploy.Kubernetes.Image.Repository, strings.Join(lines, "\n  "))
		if !ok {
			fmt.Fprintln(stderr, "jouncebot: the kubernetes stages name contexts or deployments that do not exist (see above)")
			return exitConfig
		}
	}
	return exitOK
}

// pathList lists path patterns for the summary, "none" for none.
func pathList(ps []string) string {
	if len(ps) == 0 {
		return "none"
	}
	return strings.Join(ps, ", ")
}

// calendarSummary says how the calendar is built: the horizon, the
// reminder, leftovers and the wiki import.
func calendarSummary(c config.Calendar) string {
	var b strings.Builder
	reminder := "no reminders"
	if *c.Reminder > 0 {
		reminder = "reminders " + calendar.HumanDuration(*c.Reminder) + " before each window"
	}
	leftovers := "move to the next window of the same kind with room"
	if c.Leftovers == "drop" {
		leftovers = "are dropped"
	}
	fmt.Fprintf(&b, "\nCalendar: recurring windows listed %s ahead (calendar.horizon); %s; leftover patches %s.\n",
		calendar.HumanDuration(c.Horizon), reminder, leftovers)
	if w := c.Wiki; w != nil {
		login := "read anonymously"
		if w.User != "" {
			login = "logged in as " + w.User
		}
		fmt.Fprintf(&b, "  Wiki import: page %q from %s (%s), re-read every %s. Its windows (whatever their date) and the patches listed under them join the calendar and the queues.\n",
			w.Page, w.API, login, calendar.HumanDuration(c.Refresh))
	} else {
		b.WriteString("  Wiki import: none (calendar.wiki is not set).\n")
	}
	return b.String()
}

func summary(cfg *config.Config, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s is valid.\n\nBot: %s, data in %s\n", cfg.File, cfg.Bot.Nick, cfg.Bot.DataDir)
	switch {
	case cfg.Bot.HTTP == "":
		b.WriteString("Web server: none (!log answers carry no link)\n")
	case cfg.Bot.BaseURL != "":
		fmt.Fprintf(&b, "Web server: %s, links to %s\n", cfg.Bot.HTTP, cfg.Bot.BaseURL)
	default:
		fmt.Fprintf(&b, "Web server: %s\n", cfg.Bot.HTTP)
	}
	switch {
	case len(cfg.Agents) > 0:
		fmt.Fprintf(&b, "Deploys: on the deploy agent %s at %s\n", cfg.Agents[0].Name, cfg.Agents[0].Address)
	case cfg.Deploy.Sandbox:
		b.WriteString("Deploys: the demo sandbox (a local fake Gerrit)\n")
	case cfg.Deploy.Gerrit.URL != "":
		fmt.Fprintf(&b, "Deploys: Gerrit %s as %s\n", cfg.Deploy.Gerrit.URL, cfg.Deploy.Gerrit.Username)
	default:
		b.WriteString("Deploys: off (no deploy.gerrit)\n")
	}
	if len(cfg.Deploy.Stages) > 0 || cfg.Deploy.Sandbox {
		fmt.Fprintf(&b, "  Releases freeze these untracked paths too: %s; no sync deletes these on the hosts: %s\n",
			pathList(cfg.Deploy.Sync.Untracked), pathList(cfg.Deploy.Sync.Protected))
	}
	if k := cfg.Deploy.Kubernetes; k != nil {
		fmt.Fprintf(&b, "  Release images go to %s and never hold these paths (deploy.kubernetes.image.exclude): %s\n",
			k.Image.Repository, pathList(k.Image.Exclude))
	}
	fmt.Fprintf(&b, "\nNetworks (%d):\n", len(cfg.Networks))
	for _, n := range cfg.Networks {
		switch n.Type {
		case "irc":
			var chans []string
			for _, c := range n.Channels {
				chans = append(chans, c.Name)
			}
			auth := "no SASL"
			if n.SASL != nil {
				auth = "SASL " + n.SASL.Mechanism
			}
			fmt.Fprintf(&b, "  %s: IRC %s as %s (%s, tls=%t): %s\n", n.Name, n.Server, n.Nick, auth, n.TLS, strings.Join(chans, ", "))
		case "matrix":
			fmt.Fprintf(&b, "  %s: Matrix %s as %s: %s\n", n.Name, n.Homeserver, n.UserID, strings.Join(n.Rooms, ", "))
		}
	}
	fmt.Fprintf(&b, "\nWindows (%d):\n", len(cfg.Windows))
	cal := calendar.New(calendar.Expand(cfg.Windows, now, now.Add(14*24*time.Hour)))
	for _, w := range cfg.Windows {
		tz := w.TimeZone
		if tz == "" {
			tz = "UTC"
		}
		next := "never in the next two weeks"
		for _, o := range cal.Windows() {
			if o.Name == w.Name {
				next = "next " + o.Start.Format("Mon 2 Jan 15:04 UTC")
				break
			}
		}
		limit := ""
		if w.MaxPatches > 0 {
			limit = fmt.Sprintf(", max %d patches", w.MaxPatches)
		}
		fmt.Fprintf(&b, "  %s [%s]: %q %s, %s%s; %s\n", w.Name, w.Kind, w.Schedule, tz, w.Duration, limit, next)
	}
	b.WriteString(calendarSummary(cfg.Calendar))
	b.WriteString(agentSummary(cfg))
	fmt.Fprintf(&b, "\nPeople (%d):\n", len(cfg.People))
	people := append([]config.Person(nil), cfg.People...)
	sort.Slice(people, func(i, j int) bool { return people[i].Name < people[j].Name })
	for _, p := range people {
		var ids []string
		if p.IRCAccount != "" {
			ids = append(ids, "irc:"+p.IRCAccount)
		}
		if p.MatrixID != "" {
			ids = append(ids, p.MatrixID)
		}
		if p.Gerrit != "" {
			ids = append(ids, "gerrit:"+p.Gerrit)
		}
		fmt.Fprintf(&b, "  %s (%s): %s\n", p.Name, strings.Join(p.Roles, ", "), strings.Join(ids, " "))
	}
	if len(cfg.Freezes) > 0 {
		fmt.Fprintf(&b, "\nFreezes (%d):\n", len(cfg.Freezes))
		for _, f := range cfg.Freezes {
			fmt.Fprintf(&b, "  %s – %s: %s\n", f.From.UTC().Format(time.RFC3339), f.To.UTC().Format(time.RFC3339), f.Reason)
		}
	}
	return b.String()
}

// runAgent is `jouncebot agent --config agent.yaml`: the deploy engine on
// the deployment host, serving the chat bot over mutual TLS.
func runAgent(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("jouncebot agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := fs.String("config", "", "the agent's configuration `file` (required)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if *cfgFile == "" || fs.NArg() > 0 {
		return usageError(stderr, "agent takes --config FILE and nothing else")
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "jouncebot:", err)
		return exitConfig
	}
	cfg, err := config.Load(*cfgFile)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	r, err := app.NewAgentRole(cfg, log)
	if err != nil {
		var inUse *store.InUseError
		if errors.As(err, &inUse) || cfg.Agent == nil || (!cfg.Deploy.Sandbox && cfg.Deploy.Gerrit.URL == "") {
			fmt.Fprintln(stderr, "jouncebot:", err)
			return exitConfig
		}
		log.Error("cannot start", "err", err)
		return exitFailed
	}
	defer r.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := r.Run(ctx, nil); err != nil {
		log.Error("stopped", "err", err)
		return exitFailed
	}
	return exitOK
}

// agentSummary says which role the file gives: a deploy agent serving a
// chat bot, a chat bot using an agent, or (nothing said) both in one.
func agentSummary(cfg *config.Config) string {
	var b strings.Builder
	if a := cfg.Agent; a != nil {
		fmt.Fprintf(&b, "\nDeploy agent role (jouncebot agent): listens on %s with mutual TLS, accepting only the client certificate named %s.\n", a.Listen, a.ClientName)
		var nets []string
		for _, n := range a.Networks {
			nets = append(nets, n.Name+" ("+n.Type+")")
		}
		if len(nets) == 0 {
			nets = []string{"none (agent.networks is empty: only the console, if agent.console_person is set)"}
		}
		fmt.Fprintf(&b, "  Accounts taken from: %s.\n", strings.Join(nets, ", "))
		if a.ConsolePerson != "" {
			fmt.Fprintf(&b, "  The chat bot's console acts as %s.\n", a.ConsolePerson)
		}
		fmt.Fprintf(&b, "  Events and per-host results kept for %s; audit log in %s.\n", calendar.HumanDuration(a.KeepEvents), filepath.Join(cfg.Bot.DataDir, agent.AuditFile))
	}
	for _, l := range cfg.Agents {
		fmt.Fprintf(&b, "\nDeploy agent %s at %s (mutual TLS): deploys run there, not in this process.\n", l.Name, l.Address)
	}
	return b.String()
}

// checkKube asks the clusters of the kubernetes stages, within a time
// limit: check-config must answer even when they do not.
func checkKube(cfg *config.Config) ([]string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return deploy.CheckKube(ctx, &cfg.Deploy)
}
