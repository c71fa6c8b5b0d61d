package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/lrstanley/girc"

	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/bot/irc/irctest"
	"github.com/jouncebot/jouncebot/bot/matrix/matrixtest"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// The leak test: every way a security patch can be in staging, with and
// without a private room, through every command and the automatic check,
// and then every public surface searched for what names it. The private
// destination must have received the details (so nothing passes by
// saying nothing).

// leakSecrets name the sandbox's local security patch ("SECURITY: reject
// oversized requests (T9001)", in includes/Setup.php), the uncommitted
// change of the uncommitted scenario, and the change marked private in
// Gerrit of the private scenario ("Cap the upload size (T9002)", in
// includes/UploadLimits.php, asking for the maintenance script
// capUploads.php while it is not merged).
var leakSecrets = []string{"oversized", "T9001", "Setup.php", "SECURITY", "T9002", "UploadLimits", "Cap the upload", "capUploads"}

// leakState is how staging holds a security patch.
type leakState struct {
	name string
	// rooms: a private security room (#security) is configured; without
	// one the details go to the deployers privately.
	rooms bool
	// clean: the change is ready and deploys (to the testservers); the
	// check has nothing private to say, the deploy has.
	clean bool
	// prepare sets staging and Gerrit up while the bot runs and returns
	// the change to queue.
	prepare func(t *testing.T, sb *deploy.Sandbox) int
}

// leakAction is one thing people do; done recognises the bot's last
// answer to it in the channel.
type leakAction struct {
	who, say string
	done     func(text string) bool
}

var leakStates = []leakState{
	{name: "combined conflict", rooms: true, prepare: func(t *testing.T, sb *deploy.Sandbox) int {
		// Upstream moves past staging (Hooks.php), staging is updated and
		// keeps its security patch on top; the change, built on the old
		// branch, conflicts with both.
		core := sb.CoreDir()
		old := gitOut(t, core, "rev-parse", "refs/remotes/origin/"+gerrittest.CoreBranch)
		if _, err := sb.PushDirect(gerrittest.CoreProject, gerrittest.CoreBranch, "Hooks: return null",
			[]gerrittest.File{{Path: "includes/Hooks.php", Content: "<?php\nfunction runHooks() {\n\treturn null;\n}\n"}}); err != nil {
			t.Fatal(err)
		}
		gitOut(t, core, "fetch", "-q", "origin")
		gitOut(t, core, "rebase", "-q", "refs/remotes/origin/"+gerrittest.CoreBranch)
		return leakUpload(t, sb, old, gerrittest.File{Path: "includes/Hooks.php", Content: "<?php\nfunction runHooks() {\n\treturn 1;\n}\n"})
	}},
	{name: "missing origin ref", prepare: func(t *testing.T, sb *deploy.Sandbox) int {
		gitOut(t, sb.CoreDir(), "update-ref", "-d", "refs/remotes/origin/"+gerrittest.CoreBranch)
		return leakUpload(t, sb, "")
	}},
	{name: "private Gerrit change", rooms: true, prepare: func(t *testing.T, sb *deploy.Sandbox) int {
		// A security fix reviewed as a private change in Gerrit; upstream
		// has moved past it in the same file, so it is blocked.
		core := sb.CoreDir()
		old := gitOut(t, core, "rev-parse", "refs/remotes/origin/"+gerrittest.CoreBranch)
		if _, err := sb.PushDirect(gerrittest.CoreProject, gerrittest.CoreBranch, "Uploads: a first limit",
			[]gerrittest.File{{Path: "includes/UploadLimits.php", Content: "<?php\n$limit = 1;\n"}}); err != nil {
			t.Fatal(err)
		}
		gitOut(t, core, "fetch", "-q", "origin")
		gitOut(t, core, "rebase", "-q", "refs/remotes/origin/"+gerrittest.CoreBranch)
		n, err := sb.Upload(gerrittest.Upload{Project: gerrittest.CoreProject, Branch: gerrittest.CoreBranch, Owner: "bob", Private: true,
			Subject: "Cap the upload size", Footers: []string{"Bug: T9002", "Maintenance-Script: capUploads.php testwiki"}, Parent: old,
			Files: []gerrittest.File{{Path: "includes/UploadLimits.php", Content: "<?php\n$limit = 2;\n"}}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}},
	{name: "private Gerrit change deployed", rooms: true, clean: true, prepare: func(t *testing.T, sb *deploy.Sandbox) int {
		n, err := sb.Upload(gerrittest.Upload{Project: gerrittest.CoreProject, Branch: gerrittest.CoreBranch, Owner: "bob", Private: true,
			Subject: "Cap the upload size", Footers: []string{"Bug: T9002", "Maintenance-Script: capUploads.php testwiki"},
			Files: []gerrittest.File{{Path: "includes/UploadLimits.php", Content: "<?php\n$limit = 2;\n"}}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}},
	{name: "uncommitted patch", prepare: func(t *testing.T, sb *deploy.Sandbox) int {
		// The security fix is committed nowhere: an edit in staging.
		gitOut(t, sb.CoreDir(), "reset", "-q", "--soft", "HEAD~1")
		gitOut(t, sb.CoreDir(), "reset", "-q")
		return sb.Changes["core"]
	}},
}

// leakUpload uploads bob's change that rewrites the security patch's line
// (and any more files), on parent ("" for the branch tip).
func leakUpload(t *testing.T, sb *deploy.Sandbox, parent string, more ...gerrittest.File) int {
	t.Helper()
	n, err := sb.Upload(gerrittest.Upload{Project: gerrittest.CoreProject, Branch: gerrittest.CoreBranch, Owner: "bob",
		Subject: "Log the request size", Parent: parent,
		Files: append([]gerrittest.File{{Path: "includes/Setup.php", Content: "<?php\n// MediaWiki setup\n// log the request size\n"}}, more...)})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Vote(n, "jenkins-bot", "Verified", 1); err != nil {
		t.Fatal(err)
	}
	return n
}

func leakActions(n int, clean bool) []leakAction {
	num := strconv.Itoa(n)
	answered := func(prefixes ...string) func(string) bool {
		return func(s string) bool {
			for _, p := range prefixes {
				if strings.Contains(s, p) {
					return true
				}
			}
			return false
		}
	}
	next := func(string) bool { return true } // the next answer
	deployed, planned := next, next
	if clean { // the deploy goes on, saying more after its answer
		deployed, planned = answered(`Reply "tested ok"`), answered("Deploying "+num+" would")
	}
	return []leakAction{
		{who: "bob", say: "check", done: answered("UTC afternoon backport window: ")},
		{who: "alice", say: "check", done: answered("UTC afternoon backport window: ")},
		{who: "alice", say: "deploy " + num, done: deployed},
		{who: "alice", say: "plan " + num, done: planned},
		{who: "alice", say: "deploy --force " + num + " testing the leak", done: answered("cannot be merged", "stopped", "Cannot deploy", "uncommitted changes", "needs a second deployer", "failed", "holds the deploy lock")},
		{who: "alice", say: "status", done: next},
		{who: "bob", say: "queue", done: answered("UTC afternoon backport window (")},
		{who: "alice", say: "rollback", done: next},
		{who: "alice", say: "!log looked at the queue", done: answered("Logged the message")},
	}
}

func TestSecurityPatchNeverLeaks(t *testing.T) {
	t.Parallel()
	for _, st := range leakStates {
		t.Run(st.name, func(t *testing.T) { runLeakScenario(t, st) })
	}
}

// leakWorld is one state's servers and the people in them.
type leakWorld struct {
	ircd        *irctest.Server
	alice, bob  *irctest.Client
	hs          *matrixtest.Server
	botUser     matrixtest.User
	carol       *mautrix.Client
	carolWatch  *matrixtest.Watcher
	room        id.RoomID
	dir, config string
	now         atomic.Pointer[time.Time]
}

func runLeakScenario(t *testing.T, st leakState) {
	w := &leakWorld{ircd: irctest.Start(t)}
	defer func() {
		if t.Failed() && testing.Verbose() {
			for _, c := range []*irctest.Client{w.alice, w.bob} {
				for _, m := range c.Messages() {
					t.Logf("%s saw %s", c.GetNick(), m)
				}
			}
		}
	}()
	w.ircd.Register(t, "alice", "alicepassword1")
	w.ircd.Register(t, "bob", "bobpassword11")
	w.alice = w.ircd.Client(t, irctest.ClientConfig{Nick: "alice", Account: "alice", Password: "alicepassword1"})
	w.bob = w.ircd.Client(t, irctest.ClientConfig{Nick: "bob", Account: "bob", Password: "bobpassword11"})
	w.alice.Join(t, "#ops")
	w.bob.Join(t, "#ops")
	if st.rooms {
		w.alice.Join(t, "#security")
	}
	w.hs = matrixtest.Start(t)
	w.botUser = w.hs.CreateUser(t, "jouncebot", "bot-password")
	w.carol = w.hs.Client(t, w.hs.CreateUser(t, "carol", "carol-password"))
	w.carolWatch = matrixtest.Watch(t, w.carol)
	resp, err := w.carol.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	w.room = resp.RoomID
	w.dir = t.TempDir()
	os.WriteFile(filepath.Join(w.dir, "mx"), []byte(w.botUser.Password), 0o600)
	security := ""
	channels := `[{name: "#ops"}]`
	if st.rooms {
		security = "security: {rooms: [\"libera/#security\"]}\n"
		channels = `[{name: "#ops"}, {name: "#security"}]`
	}
	w.config = `
bot: {nick: jouncebot, data_dir: data, http: "127.0.0.1:0"}
networks:
  - {name: libera, type: irc, server: "` + w.ircd.Addr + `", channels: ` + channels + `}
  - {name: matrix, type: matrix, homeserver: "` + w.hs.URL + `", user_id: "` + w.botUser.ID.String() + `", password: {file: mx}, rooms: ["` + w.room.String() + `"]}
people:
  - {name: Alice, irc_account: alice, gerrit: alice, roles: [deployer]}
  - {name: Bob, irc_account: bob, gerrit: bob, roles: [owner]}
windows:
  - {name: UTC afternoon backport window, kind: backport, schedule: "0 14 * * *", duration: 1h, deployers: [Alice]}
policy:
  windows: [{kind: backport, allow: [deploy, revert]}]
sal:
  projects: [{name: production, rooms: ["libera/#ops"]}]
deploy: {sandbox: true}
` + security

	// First run, an hour before the window: the change is queued.
	w.setNow(time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC))
	a, stop := w.start(t)
	n := st.prepare(t, a.Sandbox())
	w.bob.Say("#ops", "jouncebot: add "+strconv.Itoa(n))
	w.bob.Expect(t, func(m irctest.Msg) bool {
		return m.Target == "#ops" && strings.Contains(m.Text, "Queued change "+strconv.Itoa(n))
	})
	stop()

	// Second run, five minutes before: the automatic check reports.
	w.setNow(time.Date(2026, 11, 25, 13, 55, 0, 0, time.UTC))
	a, stop = w.start(t)
	defer stop()
	w.bob.Expect(t, func(m irctest.Msg) bool {
		verdict := "blocked"
		if st.clean {
			verdict = "1 patch ready"
		}
		return m.Target == "#ops" && strings.Contains(plain(m.Text), "UTC afternoon backport window: ") && strings.Contains(m.Text, verdict)
	})
	if !st.rooms {
		// Said once the bot is in the channel, before or after the check.
		w.bob.WaitEvent(t, func(e *girc.Event) bool {
			return e.Command == girc.PRIVMSG && len(e.Params) > 0 && e.Params[0] == "#ops" && e.Last() == app.NoSecurityRoom
		})
	}
	if !st.clean {
		w.alice.Expect(t, func(m irctest.Msg) bool { return w.private(st, m) && leaksAny(m.Text) != "" })
	}

	// In the window: everything people do.
	w.setNow(time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC))
	memberAnswers := 0
	for _, act := range leakActions(n, st.clean) {
		c, other := w.alice, w.bob
		if act.who == "bob" {
			c, other = w.bob, w.alice
		}
		say := act.say
		if !strings.HasPrefix(say, "!") {
			say = "jouncebot: " + say
		}
		c.Say("#ops", say)
		// Both wait for the answer, so that neither reads it later as
		// the answer to the next one; a member's private answer comes
		// before it.
		var answer string
		toMember := false
		m, err := c.ExpectWithin(irctest.Timeout, func(m irctest.Msg) bool {
			if m.Target == "alice" && leaksAny(m.Text) != "" {
				toMember = true
			}
			return m.Target == "#ops" && m.Nick == "jouncebot" && act.done(plain(m.Text))
		})
		if err != nil {
			t.Errorf("%s %q: %v", act.who, act.say, err)
			continue
		}
		answer = m.Text
		if _, err := other.ExpectWithin(irctest.Timeout, func(m irctest.Msg) bool { return m.Target == "#ops" && m.Text == answer }); err != nil {
			t.Errorf("%s did not see the answer to %q: %v", other.GetNick(), act.say, err)
		}
		if act.who == "alice" && act.say == "check" && toMember {
			memberAnswers++
		}
	}
	if st.clean {
		if w.privateSecrets(st) == 0 {
			t.Error("the security destination did not get the details of the private change's deploy")
		}
	} else if memberAnswers == 0 {
		t.Error("a check by a member of the security destination did not send the details privately")
	}

	// Every public surface, searched.
	public := map[string]bool{}
	for _, c := range []*irctest.Client{w.alice, w.bob} {
		for _, m := range c.Messages() {
			if !w.private(st, m) {
				wantNoLeak(t, "IRC "+m.Target+" (seen by "+c.GetNick()+")", m.Text)
				public[m.Text] = true
				// Public texts do not point people to the security room.
				if strings.Contains(strings.ToLower(m.Text), "#security") {
					t.Errorf("IRC %s (seen by %s) names the security room: %q", m.Target, c.GetNick(), m.Text)
				}
			}
		}
	}
	// The security room is no announcement room: nothing said in public
	// (announcements, reminders, readiness reports, the warning) is said
	// there, and no reminder is sent privately naming it.
	for _, m := range w.alice.Messages() {
		if m.Target == "#security" && m.Nick == "jouncebot" && public[m.Text] {
			t.Errorf("the security room received a public announcement: %q", m.Text)
		}
	}
	for _, e := range w.carolWatch.Events() {
		if c, ok := e.Content.Parsed.(*event.MessageEventContent); ok && e.RoomID == w.room {
			wantNoLeak(t, "Matrix", c.Body+" "+c.FormattedBody)
		}
	}
	var links []string
	for _, m := range w.bob.Messages() {
		links = append(links, m.Text)
	}
	searchWeb(t, a, strings.Join(links, "\n"))
}

// private reports whether a message went to the security destination: the
// security room, or a private message to the deployer (a member).
func (w *leakWorld) private(st leakState, m irctest.Msg) bool {
	return (st.rooms && m.Target == "#security") || m.Target == "alice"
}

// privateSecrets counts the messages to the security destination that
// name the security patch.
func (w *leakWorld) privateSecrets(st leakState) int {
	n := 0
	for _, m := range w.alice.Messages() {
		if w.private(st, m) && leaksAny(m.Text) != "" {
			n++
		}
	}
	return n
}

func (w *leakWorld) setNow(t time.Time) { w.now.Store(&t) }

// start builds the bot from the configuration file and runs it until
// stop, waiting until it is in #ops and the Matrix room.
func (w *leakWorld) start(t *testing.T) (*app.App, func()) {
	t.Helper()
	cfg, err := config.Parse([]byte(w.config), "jouncebot.yaml", w.dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Options{Config: cfg, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), Now: func() time.Time { return *w.now.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
			a.Close()
		}
	}
	t.Cleanup(stop)
	deadline := time.After(testenv.Scale(60 * time.Second))
	for {
		joined, changed := a.Bot().Joined(bot.Target{Network: "libera", Room: "#ops"})
		if joined {
			break
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatal("the bot did not join #ops")
		}
	}
	for _, tr := range a.Bot().Transports() {
		if r, ok := tr.(interface{ Ready() <-chan struct{} }); ok {
			select {
			case <-r.Ready():
			case <-time.After(testenv.Scale(60 * time.Second)):
				t.Fatal("the Matrix transport did not get ready")
			}
		}
	}
	return a, stop
}

// searchWeb fetches every page the web server serves, filling each path
// parameter with every value it can take, and searches it. A pattern the
// test cannot fill fails the test: a new page must be added here.
func searchWeb(t *testing.T, a *app.App, chat string) {
	t.Helper()
	base := "http://" + a.HTTPAddr()
	var salIDs []string
	var api struct {
		Entries []struct {
			ID json.Number `json:"id"`
		} `json:"entries"`
	}
	if _, body := get(t, base+"/api/sal"); json.Unmarshal([]byte(body), &api) == nil {
		for _, e := range api.Entries {
			salIDs = append(salIDs, e.ID.String())
		}
	}
	if len(salIDs) == 0 {
		t.Errorf("the SAL has no entries to search (GET /api/sal)")
	}
	_, status := get(t, base+"/")
	windows := regexp.MustCompile(`/windows/([^"'<>\s]+)`).FindAllStringSubmatch(status+"\n"+chat, -1)
	fill := map[string][]string{
		"GET /sal/log/{id}":       salIDs,
		"GET /api/sal/{id}":       salIDs,
		"GET /sal/atom/{project}": {"production"},
		"GET /sal/{project}":      {"production"},
		"GET /windows/{id}":       nil, // from the links in chat and on the status page
		// The maintenance surface: the pages of the maintenance runs, at
		// unguessable tokens (no runs in these scenarios).
		"GET /maint/{token}":       nil,
		"GET /maint/{token}/{key}": nil,
		// The canary reports of the deploys the scenarios made.
		"GET /deploys/{id}/canary": {"1", "2", "3"},
	}
	for _, m := range windows {
		fill["GET /windows/{id}"] = append(fill["GET /windows/{id}"], m[1])
	}
	if len(fill["GET /windows/{id}"]) == 0 {
		t.Error("no link to the readiness report: /windows/{id} is not searched")
	}
	searched := 0
	for _, p := range a.WebPatterns() {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			path = method // every method, GET too
		} else if method != "GET" {
			continue
		}
		path = strings.TrimSuffix(path, "{$}")
		if p == "GET /status/events" {
			continue // a stream: its first event is read below
		}
		if !strings.Contains(path, "{") {
			code, body := get(t, base+path)
			if code == 200 {
				searched++
			}
			wantNoLeak(t, "GET "+path, body)
			continue
		}
		values, known := fill[p]
		if !known {
			t.Errorf("the leak test does not know the values of %q: add them to searchWeb", p)
		}
		for _, v := range values {
			u := base + regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(path, v)
			code, body := get(t, u)
			if code == 200 {
				searched++
			}
			wantNoLeak(t, "GET "+u, body)
		}
	}
	if searched < 8 {
		t.Errorf("only %d pages answered", searched)
	}
	// The status page's live stream: its first event.
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Scale(10*time.Second))
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/status/events", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		var ev strings.Builder
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() && sc.Text() != "" {
			ev.WriteString(sc.Text() + "\n")
		}
		resp.Body.Close()
		wantNoLeak(t, "GET /status/events", ev.String())
	}
	_, metrics := get(t, base+"/metrics")
	wantNoLeak(t, "GET /metrics", metrics)
}

// plain drops IRC formatting (bold).
func plain(s string) string { return strings.ReplaceAll(s, "\x02", "") }

func leaksAny(text string) string {
	for _, s := range leakSecrets {
		if strings.Contains(text, s) {
			return s
		}
	}
	return ""
}

func wantNoLeak(t *testing.T, where, text string) {
	t.Helper()
	if s := leaksAny(text); s != "" {
		i := strings.Index(text, s)
		t.Errorf("%s names the security patch (%q): …%s…", where, s, text[max(0, i-200):min(len(text), i+100)])
	}
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gerrittest.GitEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}
