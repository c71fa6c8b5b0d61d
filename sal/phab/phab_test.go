package phab_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/internal/testenv"
	"github.com/jouncebot/jouncebot/sal"
	"github.com/jouncebot/jouncebot/sal/phab"
	"github.com/jouncebot/jouncebot/sal/phab/phabtest"
	"github.com/jouncebot/jouncebot/store"
)

const token = "api-abcdefghijklmnopqrstuvwxyz12"

func TestClientErrors(t *testing.T) {
	srv := phabtest.New(t, token)
	ctx := context.Background()
	if err := phab.New(srv.URL, token, nil).Call(ctx, "conduit.ping", nil, nil); err != nil {
		t.Fatalf("ping: %v", err)
	}
	bad := "api-wrongwrongwrongwrongwrongwron"
	err := phab.New(srv.URL, bad, nil).Call(ctx, "conduit.ping", nil, nil)
	var ce *phab.Error
	if !errors.As(err, &ce) || ce.Code != "ERR-INVALID-AUTH" {
		t.Fatalf("bad token: got %v, want ERR-INVALID-AUTH", err)
	}
	if strings.Contains(err.Error(), bad) {
		t.Errorf("the error shows the token: %v", err)
	}
	err = phab.New(srv.URL, token, nil).Call(ctx, "no.such", nil, nil)
	if !errors.As(err, &ce) || ce.Code != "ERR-CONDUIT-CALL" {
		t.Errorf("unknown method: got %v", err)
	}
	if _, err := phab.New(srv.URL, token, nil).Task(ctx, 99); !errors.Is(err, phab.ErrNoTask) {
		t.Errorf("missing task: got %v, want ErrNoTask", err)
	}
}

type notices struct {
	mu   sync.Mutex
	list []sal.Notice
}

func (n *notices) add(_ context.Context, no sal.Notice) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.list = append(n.list, no)
}

func (n *notices) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.list)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testenv.Scale(10 * time.Second))
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func setup(t *testing.T, srv *phabtest.Server) (*sal.Log, *notices) {
	t.Helper()
	t.Setenv("PHAB_TEST_TOKEN", token)
	yaml := `
bot: {base_url: "https://bot.example.org"}
sal:
  projects:
    - {name: production, rooms: ["console/#ops"], allow: [identified]}
    - {name: quiet, rooms: ["console/#quiet"], allow: [identified], phabricator: false}
  phabricator:
    url: ` + srv.URL + `
    token: {env: PHAB_TEST_TOKEN}
    security_projects: [security, "` + srv.AddProject("sre-private") + `"]
`
	cfg, err := config.Parse([]byte(yaml), "test.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "jouncebot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w := phab.NewWriter(phab.New(cfg.SAL.Phabricator.URL, cfg.SAL.Phabricator.Token.Value(), nil), cfg.SAL.Phabricator.SecurityProjects, nil)
	var got notices
	l := sal.New(db, cfg, sal.Options{
		BaseURL:    cfg.Bot.BaseURL,
		Routes:     []sal.Route{phab.Route(w, cfg)},
		Notify:     got.add,
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		Now: func() time.Time { return time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC) },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return l, &got
}

func TestComments(t *testing.T) {
	srv := phabtest.New(t, token)
	srv.AddProject("security")
	for _, task := range []phabtest.Task{
		{ID: 1}, {ID: 2},
		{ID: 3, Projects: []string{"security"}},
		{ID: 4, Subtype: "security"},
		{ID: 5, ViewPolicy: "PHID-PROJ-00000000000000000009"},
		{ID: 6, Hidden: true},
		{ID: 7, Projects: []string{"sre-private", "other"}},
		{ID: 8},
	} {
		srv.AddTask(task)
	}
	l, _ := setup(t, srv)
	ctx := context.Background()
	src := sal.Source{Network: "console", Room: "#ops", Nick: "alice", Account: "alice"}
	for _, line := range []string{
		"!log fixed T1 and T2, see T1 again; not 2022-12-16T19:00",
		"!log touched T3 T4 T5 T6 T7 T999",
		"!log last one for T8",
	} {
		if reply, _ := l.HandleLine(ctx, src, line); !strings.HasPrefix(reply.String(), "Logged the message at ") {
			t.Fatalf("%q: %q", line, reply)
		}
	}
	l.HandleLine(ctx, sal.Source{Network: "console", Room: "#quiet", Nick: "alice", Account: "alice"}, "!log quiet T8")
	l.HandleLine(ctx, src, "!log after T8")
	waitFor(t, "the comment on T8", func() bool { return len(srv.Comments(8)) == 2 })
	want := map[int][]string{
		1: {"Mentioned in SAL (#ops) [2026-11-25T19:00:00Z] <alice> fixed T1 and T2, see T1 again; not 2022-12-16T19:00 (https://bot.example.org/sal/log/1)"},
		2: {"Mentioned in SAL (#ops) [2026-11-25T19:00:00Z] <alice> fixed T1 and T2, see T1 again; not 2022-12-16T19:00 (https://bot.example.org/sal/log/1)"},
		8: {"Mentioned in SAL (#ops) [2026-11-25T19:00:00Z] <alice> last one for T8 (https://bot.example.org/sal/log/3)",
			"Mentioned in SAL (#ops) [2026-11-25T19:00:00Z] <alice> after T8 (https://bot.example.org/sal/log/5)"},
	}
	for id := 1; id <= 8; id++ {
		if d := cmp.Diff(want[id], srv.Comments(id)); d != "" {
			t.Errorf("comments on T%d (-want +got):\n%s", id, d)
		}
	}
}

func TestCommentsWaitWhileDown(t *testing.T) {
	srv := phabtest.New(t, token)
	srv.AddProject("security")
	srv.AddTask(phabtest.Task{ID: 10})
	srv.AddTask(phabtest.Task{ID: 11})
	srv.SetDown(true)
	l, got := setup(t, srv)
	ctx := context.Background()
	src := sal.Source{Network: "console", Room: "#ops", Nick: "alice", Account: "alice"}
	for _, m := range []string{"!log one T10", "!log two T11", "!log three T10"} {
		l.HandleLine(ctx, src, m)
	}
	waitFor(t, "the failure notice", func() bool { return got.count() == 1 })
	srv.SetDown(false)
	waitFor(t, "all comments", func() bool { return len(srv.Comments(10)) == 2 && len(srv.Comments(11)) == 1 })
	if !strings.Contains(srv.Comments(10)[0], "> one T10") || !strings.Contains(srv.Comments(10)[1], "> three T10") {
		t.Errorf("comments on T10 out of order: %q", srv.Comments(10))
	}
	waitFor(t, "the recovery notice", func() bool { return got.count() == 2 })
	got.mu.Lock()
	defer got.mu.Unlock()
	if !got.list[0].Failing || got.list[1].Failing || got.list[0].Route != "phabricator" {
		t.Errorf("notices: %+v", got.list)
	}
	if s := got.list[0].Text(); !strings.Contains(s, "writing to Phabricator has started failing") {
		t.Errorf("failure notice reads %q", s)
	}
}
