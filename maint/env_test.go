package maint_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/maint"
	"github.com/jouncebot/jouncebot/store"
)

// bench is a maint.Service with its notices and SAL lines collected.
type bench struct {
	t       *testing.T
	db      *store.DB
	svc     *maint.Service
	said    chan string
	mu      sync.Mutex
	sal     []string
	stopRun func()
}

var amir = maint.Person{Name: "Amir", IRCNick: "amir"}

func newBench(t *testing.T, cfg config.Maint, dbPath string, adjust ...func(*maint.Options)) *bench {
	t.Helper()
	db, err := store.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{t: t, db: db, said: make(chan string, 100)}
	o := maint.Options{DB: db, Rules: maint.RulesFrom(cfg), Host: maint.HostFrom(cfg),
		Timeout: cfg.Timeout, PollInterval: 100 * time.Millisecond, ProgressEvery: time.Hour, BaseURL: "http://bot.example",
		Notify: func(_ context.Context, origin string, t bot.Text) { b.said <- t.String() },
		SAL: func(_ context.Context, by maint.Person, msg string) error {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.sal = append(b.sal, by.Name+": "+msg)
			return nil
		},
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))}
	for _, f := range adjust {
		f(&o)
	}
	b.svc = maint.NewService(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.svc.Run(ctx) }()
	b.stopRun = func() { cancel(); <-done; db.Close() }
	t.Cleanup(b.close)
	return b
}

func (b *bench) close() {
	if b.stopRun != nil {
		b.stopRun()
		b.stopRun = nil
	}
}

// expect waits for a notice containing want, failing after two minutes.
func (b *bench) expect(want string) string {
	b.t.Helper()
	deadline := time.After(2 * time.Minute)
	var seen []string
	for {
		select {
		case s := <-b.said:
			if strings.Contains(s, want) {
				return s
			}
			seen = append(seen, s)
		case <-deadline:
			b.t.Fatalf("nothing said containing %q within 2 minutes; said:\n%s", want, strings.Join(seen, "\n"))
		}
	}
}

func (b *bench) salLines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.sal...)
}

func (b *bench) start(words string) *maint.Run {
	b.t.Helper()
	req, err := maint.ParseWords(strings.Fields(words))
	if err != nil {
		b.t.Fatal(err)
	}
	r, err := b.svc.Start(context.Background(), req, amir, "console\tconsole")
	if err != nil {
		b.t.Fatalf("maint %s: %v", words, err)
	}
	return r
}
