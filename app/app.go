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
	"path/filepath"
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
	cfg      *config.Config
	log      *slog.Logger
	db       *store.DB
	bot      *bot.Bot
	cmds     *commands.Dispatcher
	calendar *calendar.Service

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

	a.calendar = calendar.NewService(cfg, o.Now)
	a.cmds = commands.NewDispatcher(commands.Options{Config: cfg, Log: o.Log})
	a.cmds.Register(commands.HelpCommands(a.cmds)...)
	a.cmds.Register(commands.CalendarCommands(commands.CalendarOptions{Source: a.calendar, Now: o.Now})...)

	a.bot = bot.New(o.Log, a.cmds)
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
