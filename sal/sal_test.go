package sal

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/store"
)

const testConfig = `
bot:
  base_url: https://bot.example.org/
networks:
  - name: libera
    type: irc
    server: irc.example.org:6697
    channels: [{name: "#ops"}, {name: "#releng"}, {name: "#chat"}]
  - name: matrix
    type: matrix
    homeserver: https://matrix.example.org
    user_id: "@jouncebot:example.org"
    access_token: {env: SAL_TEST_MATRIX_TOKEN}
    rooms: ["!ops:example.org"]
people:
  - {name: Alice, irc_account: alice, matrix_id: "@alice:example.org", roles: [logger]}
  - {name: Bob, irc_account: bob, roles: [owner]}
  - {name: Carol, irc_account: carol}
sal:
  relays: [libera/relaybot]
  projects:
    - name: production
      rooms: ["libera/#ops", "matrix/!ops:example.org"]
    - name: releng
      rooms: ["libera/#releng"]
      allow: [identified]
    - name: tools
      rooms: ["console/console"]
      allow: [Carol]
`

func testConfigParsed(t testing.TB) *config.Config {
	t.Helper()
	t.Setenv("SAL_TEST_MATRIX_TOKEN", "x")
	cfg, err := config.Parse([]byte(testConfig), "test.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func openDB(t testing.TB, path string) *store.DB {
	t.Helper()
	db, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newTestLog(t testing.TB, opts Options) (*Log, *store.DB) {
	t.Helper()
	if opts.BaseURL == "" {
		opts.BaseURL = testBaseURL
	}
	db := openDB(t, filepath.Join(t.TempDir(), "jouncebot.db"))
	return New(db, testConfigParsed(t), opts), db
}

// testBaseURL is the web server's address in tests.
const testBaseURL = "https://bot.example.org"

var t0 = time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC)

func TestParse(t *testing.T) {
	p := NewPolicy(testConfigParsed(t), nil)
	alice := Source{Network: "libera", Room: "#ops", Nick: "alice_", Account: "alice", Time: t0.Add(500 * time.Millisecond)}
	at := func(s Source, f func(*Source)) Source { f(&s); return s }
	tests := []struct {
		name string
		src  Source
		text string
		want Parsed
	}{
		{"not a command", alice, "hello !log", Parsed{Kind: NotCommand}},
		{"no space", alice, "!logged it", Parsed{Kind: NotCommand}},
		{"missing", alice, "!log", Parsed{Kind: Missing, Project: "production"}},
		{"missing with spaces", alice, "!log   ", Parsed{Kind: Missing, Project: "production"}},
		{"help", alice, "!log help", Parsed{Kind: Help, Project: "production"}},
		{"too long", alice, "!log " + strings.Repeat("x", MaxMessage+1), Parsed{Kind: TooLong, Project: "production"}},
		{"not here", at(alice, func(s *Source) { s.Room = "#chat" }), "!log hi", Parsed{Kind: NotHere}},
		{"private", at(alice, func(s *Source) { s.Room = "alice_" }), "!log hi", Parsed{Kind: NotHere}},
		{"channel case", at(alice, func(s *Source) { s.Room = "#OPS" }), "!log hi", Parsed{Kind: Accepted, Project: "production",
			Entry: Entry{Time: t0, Nick: "alice_", Account: "alice", Network: "libera", Room: "#OPS", Project: "production", Message: "hi"}}},
		{"formatting stripped", alice, "!log \x02restarted\x02 \x0304,12apache\x03 on mw1", Parsed{Kind: Accepted, Project: "production",
			Entry: Entry{Time: t0, Nick: "alice_", Account: "alice", Network: "libera", Room: "#ops", Project: "production", Message: "restarted apache on mw1"}}},
		{"not identified", at(alice, func(s *Source) { s.Account = "" }), "!log hi", Parsed{Kind: NotIdentified, Project: "production"}},
		{"no role", at(alice, func(s *Source) { s.Nick, s.Account = "bob", "bob" }), "!log hi", Parsed{Kind: NotAllowed, Project: "production"}},
		{"unknown account", at(alice, func(s *Source) { s.Nick, s.Account = "mallory", "mallory" }), "!log hi", Parsed{Kind: NotAllowed, Project: "production"}},
		{"nick is not identity", at(alice, func(s *Source) { s.Account = "mallory" }), "!log hi", Parsed{Kind: NotAllowed, Project: "production"}},
		{"matrix by user id", Source{Network: "matrix", Room: "!ops:example.org", Nick: "Alice", Account: "@alice:example.org", Time: t0}, "!log hi",
			Parsed{Kind: Accepted, Project: "production", Entry: Entry{Time: t0, Nick: "Alice", Account: "@alice:example.org", Network: "matrix", Room: "!ops:example.org", Project: "production", Message: "hi"}}},
		{"identified anyone", Source{Network: "libera", Room: "#releng", Nick: "mallory", Account: "mallory", Time: t0}, "!log hi",
			Parsed{Kind: Accepted, Project: "releng", Entry: Entry{Time: t0, Nick: "mallory", Account: "mallory", Network: "libera", Room: "#releng", Project: "releng", Message: "hi"}}},
		{"by name on console", Source{Network: "console", Room: "console", Nick: "carol", Account: "Carol", Time: t0}, "!log hi",
			Parsed{Kind: Accepted, Project: "tools", Entry: Entry{Time: t0, Nick: "carol", Account: "Carol", Network: "console", Room: "console", Project: "tools", Message: "hi"}}},
		{"relay attribution", Source{Network: "libera", Room: "#ops", Nick: "relaybot", Account: "relaybot", Time: t0}, "!log dave@deploy1001 synced wmf-config",
			Parsed{Kind: Accepted, Project: "production", Entry: Entry{Time: t0, Nick: "dave@deploy1001", Account: "relaybot", Network: "libera", Room: "#ops", Project: "production", Message: "synced wmf-config"}}},
		{"relay without prefix", Source{Network: "libera", Room: "#ops", Nick: "relaybot", Account: "relaybot", Time: t0}, "!log synced",
			Parsed{Kind: Accepted, Project: "production", Entry: Entry{Time: t0, Nick: "relaybot", Account: "relaybot", Network: "libera", Room: "#ops", Project: "production", Message: "synced"}}},
		{"spoofed relay prefix is text", alice, "!log dave@deploy1001 synced",
			Parsed{Kind: Accepted, Project: "production", Entry: Entry{Time: t0, Nick: "alice_", Account: "alice", Network: "libera", Room: "#ops", Project: "production", Message: "dave@deploy1001 synced"}}},
		{"untrusted relay is refused", Source{Network: "libera", Room: "#ops", Nick: "relaybot", Account: "otherbot", Time: t0}, "!log dave@deploy1001 synced",
			Parsed{Kind: NotAllowed, Project: "production"}},
		{"relay on another network is not trusted", Source{Network: "matrix", Room: "!ops:example.org", Nick: "relaybot", Account: "relaybot", Time: t0}, "!log dave@x synced",
			Parsed{Kind: NotAllowed, Project: "production"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Parse(tt.src, tt.text, t0.Add(time.Hour))
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Parse(%q) mismatch (-want +got):\n%s", tt.text, d)
			}
		})
	}
}

func TestFindTasks(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"fixing T123 and T45, again T123", []string{"T123", "T45"}},
		{"(T1) [T22]: T333.", []string{"T1", "T22", "T333"}},
		{"window 2022-12-16T19:00 UTC", nil},
		{"at T19:00 sharp", nil},
		{"ABT123 T12a xT5 T0 T", nil},
		{"https://phabricator.example.org/T9876", []string{"T9876"}},
		{"t123 is lower case", nil},
	}
	for _, tt := range tests {
		if d := cmp.Diff(tt.want, FindTasks(tt.in)); d != "" {
			t.Errorf("FindTasks(%q) (-want +got):\n%s", tt.in, d)
		}
	}
}

func TestFindChanges(t *testing.T) {
	tests := []struct {
		in   string
		want []int
	}{
		{"Synchronized wmf-config: [[gerrit:812345|Enable foo (T1)]] and gerrit:812346", []int{812345, 812346}},
		{"https://gerrit.example.org/r/c/operations/puppet/+/9001 and https://gerrit.example.org/r/9002 and /r/#/c/9003/", []int{9001, 9002, 9003}},
		{"gerrit:5 gerrit:5", []int{5}},
		{"no changes 123 here", nil},
	}
	for _, tt := range tests {
		if d := cmp.Diff(tt.want, FindChanges(tt.in)); d != "" {
			t.Errorf("FindChanges(%q) (-want +got):\n%s", tt.in, d)
		}
	}
}

func TestStripFormatting(t *testing.T) {
	tests := map[string]string{
		"plain":                             "plain",
		"\x02bold\x02 \x1ditalic\x1d":       "bold italic",
		"\x0304red\x03 \x034,12x\x03,y":     "red x,y",
		"\x0399plain, 5":                    "plain, 5",
		"\x04FF0000hex\x04 \x0fend\x16\x1f": "hex end",
		"tab\there\x01\x7f":                 "tab here",
		"ünïcödé ✓":                         "ünïcödé ✓",
	}
	for in, want := range tests {
		if got := StripFormatting(in); got != want {
			t.Errorf("StripFormatting(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLogRoundTrip(t *testing.T) {
	l, _ := newTestLog(t, Options{Now: func() time.Time { return t0 }})
	ctx := context.Background()
	src := Source{Network: "libera", Room: "#ops", Nick: "alice_", Account: "alice"}
	reply, ok := l.HandleLine(ctx, src, "!log restarted \x02apache\x02 on mw1001 for T123 (gerrit:4567)")
	if !ok || reply.String() != "Logged the message at https://bot.example.org/sal/log/1" {
		t.Fatalf("HandleLine = %q, %v", reply, ok)
	}
	got, err := l.Get(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := Entry{ID: 1, Time: t0, Nick: "alice_", Account: "alice", Network: "libera", Room: "#ops", Project: "production",
		Message: "restarted apache on mw1001 for T123 (gerrit:4567)", Tasks: []string{"T123"}, Changes: []int{4567}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("stored entry (-want +got):\n%s", d)
	}

	replies := []struct {
		src        Source
		text, want string
	}{
		{src, "!log", "alice_: Message missing. Nothing logged."},
		{Source{Network: "libera", Room: "#chat", Nick: "alice_", Account: "alice"}, "!log hi", "alice_: Not expecting to hear !log here"},
		{Source{Network: "libera", Room: "#ops", Nick: "bob", Account: "bob"}, "!log hi", "bob: You are not on the list of people allowed to !log to production. Nothing logged; ask an admin to add you to the project's allow list."},
		{Source{Network: "libera", Room: "#ops", Nick: "eve"}, "!log hi", "eve: Please identify to your account (e.g. with NickServ) first; only identified people can !log to production. Nothing logged."},
		{src, "!log help", `alice_: "!log <message>" records <message> in the Server Admin Log for production (https://bot.example.org/sal?project=production). Search it with "jouncebot: sal <words>"; see "jouncebot: help sal".`},
	}
	for _, r := range replies {
		reply, ok := l.HandleLine(ctx, r.src, r.text)
		if got := reply.String(); !ok || got != r.want {
			t.Errorf("HandleLine(%+v, %q) = %q, %v; want %q", r.src, r.text, reply.String(), ok, r.want)
		}
	}
	if _, ok := l.HandleLine(ctx, src, "jouncebot: next"); ok {
		t.Error("a line that is not !log was handled")
	}
	res, err := l.Search(ctx, Query{})
	if err != nil || len(res.Entries) != 1 {
		t.Errorf("after refused lines the log holds %d entries (err %v), want 1", len(res.Entries), err)
	}
}

func TestAppendRejectsEmpty(t *testing.T) {
	l, _ := newTestLog(t, Options{})
	for _, e := range []Entry{{Nick: "a", Project: "p", Message: " \x02\x02 "}, {Project: "p", Message: "m"}, {Nick: "a", Message: "m"}} {
		if _, err := l.Append(context.Background(), e); err == nil {
			t.Errorf("Append(%+v) succeeded; want an error", e)
		}
	}
}

// TestTimesNeverGoBack checks that an entry stamped before its predecessor
// (clock stepped back, or a late line from another network) is moved
// forward, so time order and id order agree.
func TestTimesNeverGoBack(t *testing.T) {
	l, _ := newTestLog(t, Options{})
	ctx := context.Background()
	a, _ := l.Append(ctx, Entry{Nick: "a", Project: "p", Message: "first", Time: t0})
	b, _ := l.Append(ctx, Entry{Nick: "a", Project: "p", Message: "second", Time: t0.Add(-time.Minute)})
	if a.ID != 1 || b.ID != 2 || !b.Time.Equal(t0) {
		t.Errorf("got %d at %v then %d at %v; want 1 and 2 both at %v", a.ID, a.Time, b.ID, b.Time, t0)
	}
}

func TestConcurrentLogging(t *testing.T) {
	l, _ := newTestLog(t, Options{})
	ctx := context.Background()
	const n = 10000
	sources := []Source{
		{Network: "libera", Room: "#ops", Nick: "alice_", Account: "alice"},
		{Network: "matrix", Room: "!ops:example.org", Nick: "Alice", Account: "@alice:example.org"},
	}
	var wg sync.WaitGroup
	replies := make([]string, n)
	sem := make(chan struct{}, 200) // like a busy bot: many lines in flight
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r, _ := l.HandleLine(ctx, sources[i%2], fmt.Sprintf("!log line %d", i))
			replies[i] = r.String()
		})
	}
	wg.Wait()
	ids := map[string]int{}
	for i, r := range replies {
		id, ok := strings.CutPrefix(r, "Logged the message at https://bot.example.org/sal/log/")
		if !ok {
			t.Fatalf("line %d: reply %q", i, r)
		}
		if j, dup := ids[id]; dup {
			t.Fatalf("lines %d and %d both got id %s", j, i, id)
		}
		ids[id] = i
	}
	seen := map[string]bool{}
	var before uint64
	perNetwork := map[string]int{}
	for {
		res, err := l.Search(ctx, Query{Limit: MaxLimit, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range res.Entries {
			i := ids[fmt.Sprint(e.ID)]
			if want := fmt.Sprintf("line %d", i); e.Message != want || e.Network != sources[i%2].Network {
				t.Fatalf("entry %d is %q from %s; its reply went to %q from %s", e.ID, e.Message, e.Network, want, sources[i%2].Network)
			}
			seen[e.Message] = true
			perNetwork[e.Network]++
		}
		if !res.More {
			break
		}
		before = res.Entries[len(res.Entries)-1].ID
	}
	if len(seen) != n || perNetwork["libera"] != n/2 || perNetwork["matrix"] != n/2 {
		t.Errorf("found %d distinct entries (%v); want %d", len(seen), perNetwork, n)
	}
	res, _ := l.Search(ctx, Query{Text: "line 4242"})
	if len(res.Entries) != 1 || res.Entries[0].Message != "line 4242" {
		t.Errorf("search for one line found %+v", res.Entries)
	}
}

// TestDurableBeforeReply kills a process right after it printed the reply
// and checks the entry is in the database when it is opened again.
func TestDurableBeforeReply(t *testing.T) {
	if path := os.Getenv("SAL_TEST_KILL_DB"); path != "" {
		db, err := store.Open(path)
		if err != nil {
			fmt.Println("open:", err)
			os.Exit(3)
		}
		l := New(db, testConfigParsed(t), Options{BaseURL: testBaseURL})
		reply, _ := l.HandleLine(context.Background(), Source{Network: "libera", Room: "#ops", Nick: "alice_", Account: "alice"}, "!log depooled db1001 T4242")
		fmt.Println(reply.String())
		os.Stdout.Sync()
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	path := filepath.Join(t.TempDir(), "jouncebot.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestDurableBeforeReply$")
	cmd.Env = append(os.Environ(), "SAL_TEST_KILL_DB="+path)
	out, err := cmd.Output()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v; output %q", err, out)
	}
	if !strings.HasPrefix(string(out), "Logged the message at https://bot.example.org/sal/log/1\n") {
		t.Fatalf("child replied %q", out)
	}
	l := New(openDB(t, path), testConfigParsed(t), Options{BaseURL: testBaseURL})
	e, err := l.Get(context.Background(), 1)
	if err != nil || e.Message != "depooled db1001 T4242" || e.Nick != "alice_" {
		t.Errorf("after the kill, entry 1 is %+v (err %v)", e, err)
	}
}

// TestFutureTimeIsNow checks that a line stamped in the future (a Matrix
// origin_server_ts is whatever the sender's homeserver says) is logged at
// the time it arrived, and does not re-date the entries after it.
func TestFutureTimeIsNow(t *testing.T) {
	now := t0
	l, _ := newTestLog(t, Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	src := Source{Network: "libera", Room: "#ops", Nick: "alice", Account: "alice", Time: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)}
	if reply, _ := l.HandleLine(ctx, src, "!log from the future"); !strings.HasPrefix(reply.String(), "Logged the message") {
		t.Fatalf("HandleLine = %q", reply)
	}
	now = t0.Add(time.Minute)
	later, err := l.Append(ctx, Entry{Nick: "a", Project: "production", Message: "a minute later"})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := l.Get(ctx, 1)
	if !first.Time.Equal(t0) || !later.Time.Equal(t0.Add(time.Minute)) {
		t.Errorf("entries at %v and %v; want %v and %v", first.Time, later.Time, t0, t0.Add(time.Minute))
	}
	res, err := l.Search(ctx, Query{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)})
	if err != nil || len(res.Entries) != 2 {
		t.Errorf("date search found %d entries (err %v), want 2", len(res.Entries), err)
	}
}
