// Package commands is jouncebot's command table: what people can ask, who
// may ask it, and what arguments it takes. Parsing is a pure function
// (Parse); the Dispatcher checks permission and arguments before a handler
// runs, recovers from a handler's panic, and answers unknown commands with a
// hint instead of silence.
//
//	d := commands.NewDispatcher(commands.Options{Config: cfg, Log: log})
//	d.Register(commands.Builtins(cal, info)...)
//	b := bot.New(log, d)
package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
)

// Permission says who may run a command.
type Permission int

// Permissions, from least to most privileged. Everything that changes
// state needs at least Identified.
const (
	Anyone     Permission = iota
	Identified            // any authenticated account
	Owner                 // a person with the owner or deployer role
	Deployer              // a person with the deployer role
	Admin                 // a person with the admin role
)

func (p Permission) String() string {
	return [...]string{"anyone", "anyone identified", "patch owners and deployers", "deployers", "admins"}[p]
}

// Command is one entry of the table.
type Command struct {
	Name    string
	Aliases []string
	// Usage shows the arguments, e.g. "help [command]".
	Usage string
	// Help is one sentence saying what the command does.
	Help string
	Perm Permission
	// MinArgs and MaxArgs bound the number of words after the name;
	// MaxArgs < 0 means no upper bound.
	MinArgs, MaxArgs int
	// List, when set, bounds the list of changes the command takes and
	// names the flags it knows.
	List *List
	// Hidden commands are not listed by help (they still work).
	Hidden bool
	// Run does the work and returns the reply. An error made with Errorf is
	// shown to the user as is; any other error is logged and the user gets a
	// generic apology.
	Run func(ctx context.Context, c *Call) (bot.Text, error)
}

// MaxChanges is the most changes one command may name: each costs Gerrit
// requests, and each problem a line of reply.
const MaxChanges = 20

// List describes a command that takes a list of changes, perhaps with flags
// and followed by free text (a reason). The dispatcher checks it before the
// handler runs, so a refused request costs no outside work.
type List struct {
	// Max is the most items one call may name.
	Max int
	// Flags are the flags the command knows; any other word starting
	// with "-" before the free text is refused.
	Flags []string
	// Item tells list items from the free text that may follow them: the
	// list is the leading words Item accepts (the first word always
	// counts, so the handler can say what is wrong with it). Nil means
	// every word that is not a flag is an item.
	Item func(word string) bool
}

// check returns a refusal of args for the command called name, or "".
func (l *List) check(name string, args []string) string {
	n := 0
	for _, w := range args {
		switch {
		case isFlag(w):
			if !slices.Contains(l.Flags, w) {
				return unknownFlag(name, w, l.Flags)
			}
		case l.Item == nil || n == 0 || l.Item(w):
			n++
		default: // the free text starts
			return tooMany(name, n, l.Max)
		}
	}
	return tooMany(name, n, l.Max)
}

func tooMany(name string, n, max int) string {
	if n <= max {
		return ""
	}
	return fmt.Sprintf("%s takes at most %d changes at a time; split the list and ask again. Nothing was done.", name, max)
}

func unknownFlag(name, flag string, known []string) string {
	if len(known) == 0 {
		return fmt.Sprintf("%s does not know the flag %s; it takes no flags. Nothing was done.", name, Quote(flag))
	}
	parts := make([]bot.Text, len(known))
	for i, k := range known {
		parts[i] = bot.T(k)
	}
	return fmt.Sprintf("%s does not know the flag %s; its flags are %s. Nothing was done.", name, Quote(flag), bot.JoinList(parts).String())
}

// isFlag reports whether a word is written like a flag: "-f", "--force",
// "--" (but not "-5").
func isFlag(w string) bool {
	return len(w) > 1 && w[0] == '-' && (w[1] == '-' || unicode.IsLetter(rune(w[1])))
}

// Trigger runs a command when a line, addressed or not, matches Pattern:
// the customary phrases people already use ("I can deploy today").
type Trigger struct {
	Pattern *regexp.Regexp
	Command string
}

// Call is one invocation of a command.
type Call struct {
	*bot.Request
	Command *Command
	Args    []string
	Rest    string
	// Person is who the sender is, by authenticated identity; nil when the
	// sender is not identified or not in the people list.
	Person *config.Person
	// Phrase is the customary phrase that triggered the command ("I can
	// deploy today"), or "" when the command was named.
	Phrase string
	// Addressed is whether the message was addressed to the bot (by its
	// nick, or in a private conversation): a phrase said to the bot gets
	// an answer even where the same words said in passing would not.
	Addressed bool
}

// UserError is an error whose text is written for the person who asked.
type UserError struct{ Msg string }

func (e *UserError) Error() string { return e.Msg }

// Errorf returns an error that is shown to the user verbatim.
func Errorf(format string, args ...any) error {
	return &UserError{Msg: fmt.Sprintf(format, args...)}
}

// Options configure a Dispatcher.
type Options struct {
	Config *config.Config
	Log    *slog.Logger
	// Timeout bounds one command's run (default 2 minutes).
	Timeout time.Duration
	// Observe, when set, learns each command's result: "ok", "refused"
	// (not allowed, wrong arguments, a no from the command) or "error".
	// An unknown command's name is "unknown".
	Observe func(command, result string)
}

// Dispatcher routes messages to commands. It implements bot.Handler.
type Dispatcher struct {
	cfg     *config.Config
	log     *slog.Logger
	timeout time.Duration
	observe func(command, result string)

	mu       sync.RWMutex
	byName   map[string]*Command
	ordered  []*Command
	triggers []Trigger

	refusedMu sync.Mutex
	refused   map[string]time.Time // sender and command → when a phrase was last refused
}

// NewDispatcher returns a dispatcher with an empty table.
func NewDispatcher(o Options) *Dispatcher {
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Observe == nil {
		o.Observe = func(string, string) {}
	}
	return &Dispatcher{cfg: o.Config, log: o.Log.With("component", "commands"), timeout: o.Timeout, byName: map[string]*Command{}, observe: o.Observe}
}

// Register adds commands to the table. A name or alias registered twice is
// a programming error and panics at start.
func (d *Dispatcher) Register(cmds ...Command) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range cmds {
		c := &cmds[i]
		for _, n := range append([]string{c.Name}, c.Aliases...) {
			if _, dup := d.byName[n]; dup {
				panic("commands: " + n + " registered twice")
			}
			d.byName[n] = c
		}
		d.ordered = append(d.ordered, c)
	}
	sort.Slice(d.ordered, func(i, j int) bool { return d.ordered[i].Name < d.ordered[j].Name })
}

// AddTrigger registers a phrase that runs a command.
func (d *Dispatcher) AddTrigger(t Trigger) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.triggers = append(d.triggers, t)
}

// Lookup finds a command by name or alias.
func (d *Dispatcher) Lookup(name string) (*Command, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	c, ok := d.byName[strings.ToLower(name)]
	return c, ok
}

// Commands lists the commands in name order.
func (d *Dispatcher) Commands() []*Command {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return slices.Clone(d.ordered)
}

// Nick is the name the bot answers to.
func (d *Dispatcher) Nick() string { return d.cfg.Bot.Nick }

// Handle implements bot.Handler.
func (d *Dispatcher) Handle(ctx context.Context, r *bot.Request) {
	p, ok := Parse(r.Text, d.Nick(), r.Private)
	if cur := r.CurrentNick(); !ok && cur != "" && !strings.EqualFold(cur, d.Nick()) {
		p, ok = Parse(r.Text, cur, r.Private)
	}
	// A customary phrase ("I can deploy today") counts whether or not it
	// is addressed to the bot.
	tp, triggered := d.trigger(r.Text)
	if !triggered && ok {
		tp, triggered = d.trigger(p.Name + " " + p.Rest)
	}
	switch {
	case triggered:
		p = tp
	case !ok:
		return
	}
	c, found := d.Lookup(p.Name)
	if !found {
		d.observe("unknown", "refused")
		d.reply(ctx, r, bot.T(fmt.Sprintf("I don't know the command %s. Say \"%s: help\" to see what I can do.", Quote(p.Name), d.Nick())))
		return
	}
	call := &Call{Request: r, Command: c, Args: p.Args, Rest: p.Rest, Person: d.Who(r.Message), Addressed: ok}
	call.Phrase = p.Phrase
	if msg := d.authorise(call); msg != "" {
		d.observe(c.Name, "refused")
		d.refuse(ctx, call, msg, !ok) // addressed to the bot: always answered
		return
	}
	if len(p.Args) < c.MinArgs || (c.MaxArgs >= 0 && len(p.Args) > c.MaxArgs) {
		d.observe(c.Name, "refused")
		d.reply(ctx, r, bot.T(fmt.Sprintf("Usage: %s: %s", d.Nick(), c.Usage)))
		return
	}
	if c.List != nil {
		if msg := c.List.check(c.Name, p.Args); msg != "" {
			d.reply(ctx, r, bot.T(msg))
			return
		}
	}
	d.reply(ctx, r, d.run(ctx, call))
}

// HandleTriggers runs the command of a customary phrase in r, if any, and
// nothing else. It is for lines another handler has consumed (a
// "!log … deploys done" line is a SAL entry and also releases the window).
func (d *Dispatcher) HandleTriggers(ctx context.Context, r *bot.Request) {
	p, ok := d.trigger(r.Text)
	if !ok {
		return
	}
	c, found := d.Lookup(p.Name)
	if !found {
		return
	}
	call := &Call{Request: r, Command: c, Person: d.Who(r.Message), Phrase: p.Phrase}
	if msg := d.authorise(call); msg != "" {
		d.refuse(ctx, call, msg, true)
		return
	}
	d.reply(ctx, r, d.run(ctx, call))
}

func (d *Dispatcher) trigger(text string) (Parsed, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	clean := Clean(text)
	for _, t := range d.triggers {
		if said := t.Pattern.FindString(clean); said != "" {
			return Parsed{Name: t.Command, Phrase: strings.TrimSpace(said)}, true
		}
	}
	return Parsed{}, false
}

// run calls the handler, turning errors and panics into replies.
func (d *Dispatcher) run(ctx context.Context, c *Call) (reply bot.Text) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	log := d.log.With("command", c.Command.Name, "network", c.Network, "nick", c.Nick, "account", c.Account)
	result := "error"
	defer func() { d.observe(c.Command.Name, result) }()
	defer func() {
		if v := recover(); v != nil {
			log.Error("command panicked", "panic", v, "stack", string(debug.Stack()))
			reply = bot.T(fmt.Sprintf("Sorry, %s failed because of a bug in me; it has been logged. Nothing else was affected.", c.Command.Name))
		}
	}()
	out, err := c.Command.Run(ctx, c)
	var ue *UserError
	switch {
	case err == nil:
		result = "ok"
		return out
	case errors.As(err, &ue):
		result = "refused"
		return bot.T(ue.Msg)
	case errors.Is(err, context.DeadlineExceeded):
		log.Warn("command timed out", "err", err)
		return bot.T(fmt.Sprintf("Sorry, %s took too long and was stopped. Try again in a moment.", c.Command.Name))
	default:
		log.Error("command failed", "err", err)
		return bot.T(fmt.Sprintf("Sorry, %s failed; the details are in my log.", c.Command.Name))
	}
}

func (d *Dispatcher) reply(ctx context.Context, r *bot.Request, t bot.Text) {
	if len(t) == 0 {
		return
	}
	if err := r.Reply(ctx, t); err != nil && !errors.Is(err, bot.ErrSlowDown) {
		d.log.Warn("reply failed", "network", r.Network, "room", r.Room, "err", err)
	}
}

// Who maps the sender's authenticated identity to a person.
func (d *Dispatcher) Who(m bot.Message) *config.Person {
	return Who(d.cfg, m)
}

// Who maps an authenticated identity to a person in cfg; nil when the
// sender is not identified or unknown. Nicks never count.
func Who(cfg *config.Config, m bot.Message) *config.Person {
	if !m.Identified() {
		return nil
	}
	if m.Network == ConsoleNetwork {
		return cfg.PersonByName(m.Account)
	}
	n := cfg.NetworkByName(m.Network)
	if n == nil {
		return nil
	}
	switch n.Type {
	case "irc":
		return cfg.PersonByIRCAccount(m.Account)
	case "matrix":
		return cfg.PersonByMatrixID(m.Account)
	}
	return nil
}

// ConsoleNetwork is the network name of the local console. Its account is
// the name of the person the operator acts as.
const ConsoleNetwork = "console"

// refuseAgainAfter is how long a phrase said in passing ("tested ok", "I
// can deploy today") by someone who may not use it goes unexplained after
// one explanation: they may say it for other reasons.
const refuseAgainAfter = 5 * time.Minute

// refuse tells the sender why the call may not run: always when the bot
// was addressed, at most once per sender and command every
// refuseAgainAfter for a phrase said in passing.
func (d *Dispatcher) refuse(ctx context.Context, c *Call, msg string, inPassing bool) {
	if inPassing {
		key := c.Network + "\t" + c.Account + "\t" + c.Nick + "\t" + c.Command.Name
		now := time.Now()
		d.refusedMu.Lock()
		last, seen := d.refused[key]
		if seen && now.Sub(last) < refuseAgainAfter {
			d.refusedMu.Unlock()
			return
		}
		if d.refused == nil || len(d.refused) > 10000 {
			d.refused = map[string]time.Time{}
		}
		d.refused[key] = now
		d.refusedMu.Unlock()
	}
	d.reply(ctx, c.Request, bot.T(msg))
}

// authorise returns a refusal, or "" when the call may run.
func (d *Dispatcher) authorise(c *Call) string {
	need := c.Command.Perm
	if need == Anyone {
		return ""
	}
	what := c.Command.Name
	if c.Phrase != "" {
		what = Quote(c.Phrase)
	}
	if !c.Identified() {
		return fmt.Sprintf("%s needs you to be identified, and you are not logged in to an account; log in (NickServ/SASL on IRC) and ask again.", what)
	}
	if need == Identified {
		return ""
	}
	p := c.Person
	if p == nil {
		return fmt.Sprintf("Only %s may use %s, and your account %s is not in my people list.", need, what, Quote(c.Account))
	}
	ok := false
	switch need {
	case Owner:
		ok = p.Has(config.RoleOwner) || p.Has(config.RoleDeployer)
	case Deployer:
		ok = p.Has(config.RoleDeployer)
	case Admin:
		ok = p.Has(config.RoleAdmin)
	}
	if !ok {
		return fmt.Sprintf("Only %s may use %s; %s is not one.", need, what, p.Name)
	}
	return ""
}
