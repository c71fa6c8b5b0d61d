package deploy_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/deploy/git"
	"github.com/jouncebot/jouncebot/internal/testenv"
	"github.com/jouncebot/jouncebot/store"
)

var (
	alice = deploy.Person{Name: "Alice", IRCNick: "alice", Gerrit: "alice", Deployer: true}
	bob   = deploy.Person{Name: "Bob", IRCNick: "bob", Gerrit: "bob", Deployer: true}
	carol = deploy.Person{Name: "Carol", IRCNick: "carol"} // no deployer role
)

// recGit records every git command an agent runs.
type recGit struct {
	git.Runner
	mu   sync.Mutex
	cmds []string
	// after, if set, runs after each command and may replace its error
	// (to simulate a crash right after a git operation).
	after func(args []string) error
}

func (r *recGit) Run(ctx context.Context, dir string, args ...string) (string, error) {
	r.mu.Lock()
	r.cmds = append(r.cmds, strings.Join(args, " "))
	r.mu.Unlock()
	out, err := r.Runner.Run(ctx, dir, args...)
	if r.after != nil {
		if aerr := r.after(args); aerr != nil {
			return "", aerr
		}
	}
	return out, err
}

// count is how many commands started with prefix.
func (r *recGit) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.cmds {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// env is a sandbox, a database and a running agent.
type env struct {
	t      testing.TB
	sb     *gerrittest.Sandbox
	dbPath string
	db     *store.DB
	opts   deploy.Options
	agent  *deploy.Engine
	git    *recGit
	events chan deploy.Event
	hook   func(deploy.Event) // called on each event, before it is queued
	// wrapGerrit and gitAfter, if set, apply to the next agent started.
	wrapGerrit func(deploy.Gerrit) deploy.Gerrit
	gitAfter   func(args []string) error
	// gerritTimeout, if set, is the Gerrit client's timeout for the next
	// agent started (default 30s, for a busy machine).
	gerritTimeout time.Duration
	cancel        context.CancelFunc
	done          chan struct{}
	mu            sync.Mutex
	texts         []string
}

func newEnv(t testing.TB, tweak ...func(*deploy.Options)) *env {
	t.Helper()
	gerrittest.RequireGit(t)
	dir := t.TempDir()
	sb, err := gerrittest.NewSandbox(filepath.Join(dir, "sandbox"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	sb.SetGate(gerrittest.Gate{Delay: 20 * time.Millisecond})
	e := &env{t: t, sb: sb, dbPath: filepath.Join(dir, "data", "jouncebot.db"), events: make(chan deploy.Event, 1000)}
	e.opts = deploy.Options{StagingDir: sb.Staging, MergeTimeout: 10 * time.Second, PollInterval: 5 * time.Millisecond,
		ProgressEvery: time.Hour,
		Owner: func(u string) (bot.Person, bool) {
			return bot.Person{Name: strings.ToUpper(u[:1]) + u[1:], IRCNick: u}, u == "alice" || u == "bob"
		}}
	for _, f := range tweak {
		f(&e.opts)
	}
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *env) client() *gerrit.Client {
	timeout := e.gerritTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	c, err := gerrit.New(gerrit.Options{URL: e.sb.URL, Username: gerrittest.BotUser, Password: gerrittest.BotPassword,
		Timeout: timeout, Backoff: time.Millisecond, Tries: 2})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// start opens the database and runs a new agent on it.
func (e *env) start() {
	db, err := store.Open(e.dbPath)
	if err != nil {
		e.t.Fatal(err)
	}
	e.db = db
	e.git = &recGit{after: e.gitAfter}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	n := deploy.NotifierFunc(func(_ context.Context, ev deploy.Event) {
		e.mu.Lock()
		e.texts = append(e.texts, ev.Text.String())
		hook := e.hook
		e.mu.Unlock()
		if hook != nil {
			hook(ev)
		}
		e.events <- ev
	})
	var g deploy.Gerrit = e.client()
	if e.wrapGerrit != nil {
		g = e.wrapGerrit(g)
	}
	// As the app wires it: events kept in the outbox with the history,
	// told at once, drained (sent) on their own.
	out := deploy.NewOutbox(db, n, nil)
	e.agent = deploy.NewEngine(db, g, e.git, out, e.opts)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		out.Drain(ctx, func(context.Context, deploy.Event) error { return nil })
	}()
	go func() {
		defer close(e.done)
		e.agent.Run(ctx)
		<-drained
	}()
}

// stop stops the agent as a kill would (at its next checkpoint) and closes
// the database.
func (e *env) stop() {
	if e.db == nil {
		return
	}
	e.cancel()
	<-e.done
	e.db.Close()
	e.db = nil
}

// restart is a bot restart: a new agent on the same database file.
func (e *env) restart() {
	e.stop()
	e.setHook(nil)
	e.wrapGerrit, e.gitAfter = nil, nil
	e.start()
}

func (e *env) setHook(f func(deploy.Event)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hook = f
}

// waitFor returns the next event of one of the kinds, failing the test on
// an unexpected end or after a deadline.
func (e *env) waitFor(kinds ...deploy.EventKind) deploy.Event {
	e.t.Helper()
	deadline := time.After(testenv.Scale(15 * time.Second))
	for {
		select {
		case ev := <-e.events:
			for _, k := range kinds {
				if ev.Kind == k {
					return ev
				}
			}
			switch ev.Kind {
			case deploy.EventFailed, deploy.EventAborted, deploy.EventPrepared, deploy.EventDone, deploy.EventNeeds:
				e.t.Fatalf("got %s event %q, want %v; history:\n%s", ev.Kind, ev.Text, kinds, e.history())
			}
		case <-deadline:
			e.t.Fatalf("no %v event; history:\n%s", kinds, e.history())
		}
	}
}

func (e *env) history() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.texts, "\n")
}

func (e *env) deploy(by deploy.Person, changes ...int) deploy.ID {
	e.t.Helper()
	id, err := e.agent.Start(context.Background(), e.request(by, changes...))
	if err != nil {
		e.t.Fatalf("Start: %v", err)
	}
	return id
}

func (e *env) request(by deploy.Person, changes ...int) deploy.Request {
	r := deploy.Request{By: by, InWindow: true, Window: "UTC late backport window"}
	for _, n := range changes {
		r.Changes = append(r.Changes, itoa(n))
	}
	return r
}

// gitOut runs git in a staging checkout.
func (e *env) gitOut(dir string, args ...string) string {
	e.t.Helper()
	r := git.Runner{}
	out, err := r.Run(context.Background(), dir, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) reviews(n int) []gerrittest.Review {
	var out []gerrittest.Review
	for _, r := range e.sb.Reviews() {
		if r.Change == n {
			out = append(out, r)
		}
	}
	return out
}

// waitText waits for a progress event starting with prefix.
func (e *env) waitText(prefix string) {
	e.t.Helper()
	for {
		if ev := e.waitFor("progress"); strings.HasPrefix(ev.Text.String(), prefix) {
			return
		}
	}
}
