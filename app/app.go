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
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/bot/console"
	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/commands"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/store"
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

	closers []func() error
}

// DBFile is the database file's name inside the data directory.
const DBFile = "jouncebot.db"

// New opens the store and builds the bot. Close releases what it opened.
func New(o Options) (*App, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	cfg := o.Config
	db, err := store.Open(filepath.Join(cfg.Bot.DataDir, DBFile))
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: o.Log, db: db}
	a.closers = append(a.closers, db.Close)

	var fetcher calendar.Fetcher
	if src := cfg.Calendar.Wiki; src != nil {
		f, err := calendar.NewWikiFetcher(src, o.Log)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("calendar wiki: %w", err)
		}
		fetcher = f
	}
	a.calendar = calendar.NewService(calendar.ServiceOptions{Config: cfg, Book: calendar.NewBook(db), Fetcher: fetcher, Log: o.Log, Now: o.Now})
	a.cmds = commands.NewDispatcher(commands.Options{Config: cfg, Log: o.Log})
	a.cmds.Register(commands.HelpCommands(a.cmds)...)
	a.cmds.Register(commands.CalendarCommands(commands.CalendarOptions{
		Source: a.calendar, Now: o.Now, Notes: commands.Notes(a.calendar), Banner: commands.FreezeBanner(a.calendar),
	})...)
	a.cmds.Register(commands.WindowCommands(commands.WindowOptions{
		Schedule: a.calendar, Now: o.Now, Person: func(name string) bot.Person { return calendar.PersonFor(cfg, name) },
	})...)
	for _, t := range commands.ClaimTriggers {
		a.cmds.AddTrigger(t)
	}

	a.bot = bot.New(o.Log, a.cmds)
	a.announcer = calendar.NewAnnouncer(a.calendar, a.bot, cfg, o.Log)
	if o.Stdin != nil {
		a.bot.Add(console.New(o.Stdin, o.Stdout, cfg.Bot.ConsolePerson))
	}
	for _, n := range cfg.Networks {
		a.log.Warn("network type not supported by this build yet; skipping", "network", n.Name, "type", n.Type)
	}
	return a, nil
}

// Bot returns the chat hub, for announcements.
func (a *App) Bot() *bot.Bot { return a.bot }

// DB returns the store.
func (a *App) DB() *store.DB { return a.db }

// Run runs the bot until ctx is done or every transport has ended.
func (a *App) Run(ctx context.Context) error {
	if len(a.bot.Transports()) == 0 {
		return errors.New("nothing to run: no console and no networks configured")
	}
	a.log.Info("jouncebot running", "transports", len(a.bot.Transports()), "windows", a.calendar.Calendar().Len())
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.announcer.Run(ctx)
	}()
	defer func() { cancel(); wg.Wait() }()
	if a.cfg.Bot.HTTP != "" {
		if err := a.serveHTTP(ctx, &wg); err != nil {
			return err
		}
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

// serveHTTP starts the web server (calendar feed) until ctx is done.
func (a *App) serveHTTP(ctx context.Context, wg *sync.WaitGroup) error {
	mux := http.NewServeMux()
	mux.Handle("GET /calendar.ics", calendar.ICalHandler(a.calendar))
	ln, err := net.Listen("tcp", a.cfg.Bot.HTTP)
	if err != nil {
		return fmt.Errorf("web server: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	a.log.Info("web server listening", "addr", ln.Addr().String())
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("web server stopped", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	return nil
}
