package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/internal/testenv"
)

// sandboxBot is a jouncebot process on the built-in default (the deploy sandbox)
// driven through its console.
type sandboxBot struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // stdout, then stderr lines prefixed "log: "
	done  chan struct{}
	mu    sync.Mutex
	all   []string
}

// startSandboxBot runs jouncebot on the deploy sandbox with its data in
// data, with extra environment. Its configuration (data + ".yaml") is the
// built-in default's deploy sandbox and people without the windows: the
// built-in default keeps the example's puppet and train windows, whose
// rules refuse a forced deploy at some hours of the day, and a test must
// not depend on when it runs.
func startSandboxBot(t *testing.T, data string, env ...string) *sandboxBot {
	t.Helper()
	cfg := data + ".yaml"
	if _, err := os.Stat(cfg); err != nil {
		writeFile(t, cfg, fmt.Sprintf(`bot: {nick: jouncebot, data_dir: %q, console_person: Amir}
people:
  - {name: Amir, irc_account: amir, roles: [deployer]}
  - {name: Alice, irc_account: alice, gerrit: alice, roles: [owner]}
  - {name: Bob, irc_account: bob, gerrit: bob, roles: [owner]}
deploy: {sandbox: true}
sal:
  projects:
    - {name: production, rooms: ["console/console"], allow: ["role:deployer"]}
`, data))
	}
	return startBotCmd(t, exec.Command(os.Args[0], "--config", cfg, "--http", ""), env...)
}

// startBotCmd runs cmd (this test binary as jouncebot) with extra
// environment.
func startBotCmd(t *testing.T, cmd *exec.Cmd, env ...string) *sandboxBot {
	t.Helper()
	cmd.Env = append(append(os.Environ(), "JOUNCEBOT_TEST_RUN_MAIN=1"), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &sandboxBot{t: t, cmd: cmd, stdin: stdin, lines: make(chan string, 10000), done: make(chan struct{})}
	var wg sync.WaitGroup
	read := func(r io.Reader, prefix string) {
		defer wg.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			b.mu.Lock()
			b.all = append(b.all, prefix+sc.Text())
			b.mu.Unlock()
			b.lines <- prefix + sc.Text()
		}
	}
	wg.Add(2)
	go read(stdout, "")
	go read(stderr, "log: ")
	go func() { wg.Wait(); cmd.Wait(); close(b.done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-b.done })
	return b
}

// drain discards the bot's lines as they come, for a test that waits on
// nothing it says (output still has every line).
func (b *sandboxBot) drain() {
	go func() {
		for {
			select {
			case <-b.lines:
			case <-b.done:
				return
			}
		}
	}()
}

func (b *sandboxBot) say(line string) {
	b.t.Helper()
	if _, err := fmt.Fprintln(b.stdin, line); err != nil {
		b.t.Fatalf("write %q: %v", line, err)
	}
}

// waitLine waits for an output line containing one of subs and returns
// it. Deploys in the sandbox take seconds; the limit is for a hung bot.
func (b *sandboxBot) waitLine(subs ...string) string {
	b.t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-b.lines:
			if !ok {
				b.t.Fatalf("jouncebot ended without saying %q:\n%s", subs, b.output())
			}
			for _, s := range subs {
				if strings.Contains(l, s) {
					return l
				}
			}
		case <-b.done:
			// Drain what is left, then give up.
			for {
				select {
				case l := <-b.lines:
					for _, s := range subs {
						if strings.Contains(l, s) {
							return l
						}
					}
					continue
				default:
				}
				break
			}
			b.t.Fatalf("jouncebot exited without saying %q:\n%s", subs, b.output())
		case <-deadline:
			b.t.Fatalf("jouncebot did not say %q:\n%s", subs, b.output())
		}
	}
}

func (b *sandboxBot) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.all, "\n")
}

// kill is kill -9.
func (b *sandboxBot) kill() {
	b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.done
}

// quit ends the console and waits for a clean exit.
func (b *sandboxBot) quit() {
	b.stdin.Close()
	select {
	case <-b.done:
	case <-time.After(time.Minute):
		b.t.Fatal("jouncebot did not exit at the end of its input")
	}
}

// TestCrashMatrix kills jouncebot (SIGKILL) at each step of a deploy in
// the sandbox and starts it again in the same data directory, some runs
// with servers reset or unreachable while it is down, or an abort it
// never saw before the kill. Every run must announce the resumed deploy
// and end with the hosts verified to hold the release (or, after a
// rollback, the one from before), exactly one +2, no host synced twice
// without need, SAL Started lines each with their closing line, and no
// raw git or rsync output in the chat.
func TestCrashMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 34 jouncebot processes")
	}
	needTools(t, "git", "rsync")
	points := []struct {
		name string
		// at is the crash point (JOUNCEBOT_TEST_CRASH_AT), or "" to kill
		// when the line question appears.
		at, question string
		fail         bool // answer "tested fail" and crash in the rollback
		tested       bool // answer "tested ok" before the crash
		// tamper changes the servers (in the sandbox directory) while
		// jouncebot is down; resynced are the hosts it changed, which
		// must be synced once more.
		tamper   func(t *testing.T, sb string)
		resynced []string
		// midway changes the servers in the first run, before the test
		// is answered; abort says "abort" once the crash point is
		// reached (the deploy never sees it before the kill).
		midway func(t *testing.T, sb string)
		abort  bool
		// unreachable is a host that cannot be reached at the restart:
		// the deployer is asked, the host comes back and the deployer
		// says "retry".
		unreachable string
	}{
		{name: "after +2", at: "voted"},
		{name: "during the merge wait", at: "merge-wait"},
		{name: "after fetch", at: "fetched"},
		{name: "during the staging update", at: "updating"},
		{name: "during the testservers sync", at: "sync:testservers"},
		{name: "at the test question", question: "Please test it there"},
		{name: "during canaries", at: "sync:canaries", tested: true},
		{name: "during production", at: "sync:production", tested: true},
		{name: "during a rollback", at: "rollback:testservers", fail: true},
		{name: "test server reset while down", question: "Please test it there",
			tamper: resetServer("mwdebug1001"), resynced: []string{"mwdebug1001"}},
		{name: "canary reset while down", at: "sync:production", tested: true,
			tamper: resetServer("mw1001"), resynced: []string{"mw1001"}},
		{name: "aborted mid-sync with nothing recorded", at: "sync:testservers", abort: true},
		{name: "aborted between two stages with canaries unrecorded", at: "sync:canaries", tested: true, abort: true},
		{name: "canary unreachable at restart", at: "sync:production", tested: true,
			tamper: unreachable("mw1002"), unreachable: "mw1002"},
		{name: "between canaries and production, the last canary unrecorded", at: "synced:canaries", tested: true},
		// The last canary, synced but not on record, is asked about like
		// the other: neither rolls the tested deploy back by itself.
		{name: "between canaries and production, the last canary unrecorded, both unreachable at restart", at: "synced:canaries", tested: true,
			tamper: all(unreachable("mw1001"), unreachable("mw1002")), unreachable: "mw1001, mw1002"},
		{name: "aborted between canaries and production, the last canary unrecorded", at: "synced:canaries", tested: true, abort: true,
			resynced: []string{"mw1001", "mw1002"}}, // forward, then back
		{name: "during a rollback of canaries", at: "rollback:canaries", tested: true, fail: true,
			midway: unreachable("mw1002"), tamper: reachable("mw1002"), resynced: []string{"mw1001", "mw1002"}},
	}
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			data := t.TempDir()
			var env []string
			if p.at != "" {
				env = append(env, "JOUNCEBOT_TEST_CRASH_AT="+p.at)
			}
			first := startSandboxBot(t, data, env...)
			first.waitLine("Try `jouncebot: plan")
			first.say("deploy --force 445113 crash test")
			if p.fail || p.tested {
				first.waitLine("Please test it there")
				if p.midway != nil {
					p.midway(t, filepath.Join(data, "sandbox"))
				}
				first.say(map[bool]string{true: "tested fail", false: "tested ok"}[p.fail && !p.tested])
			}
			if p.at != "" {
				first.waitLine("test crash point " + p.at + " reached")
			} else {
				first.waitLine(p.question)
			}
			if p.abort {
				first.say("abort")
				first.waitLine("Aborting deploy 1")
			}
			first.kill()
			if p.tamper != nil {
				p.tamper(t, filepath.Join(data, "sandbox"))
			}

			second := startSandboxBot(t, data)
			second.waitLine("Resuming deploy 1 (445113) after a restart")
			switch {
			case p.abort:
				second.waitLine("Deploy 1 was aborted by ")
			case p.unreachable != "":
				q := second.waitLine("could not be checked after the restart: ", "deploy 1 stopped: ")
				if !strings.Contains(q, "could not be checked after the restart: "+p.unreachable+" ") {
					t.Fatalf("after the restart: %s\nwant the deployer asked about %s; chat:\n%s", q, p.unreachable, second.output())
				}
				for _, h := range strings.Split(p.unreachable, ", ") {
					reachable(h)(t, filepath.Join(data, "sandbox"))
				}
				second.say("retry")
				second.waitLine("deploy 1 is done: 445113.", "deploy 1 stopped: ")
			case p.fail:
				second.waitLine("deploy 1 stopped: ")
			case p.tested:
				second.waitLine("deploy 1 is done: 445113.", "deploy 1 stopped: ")
			default:
				second.waitLine("Please test it there")
				second.say("tested ok")
				second.waitLine("deploy 1 is done: 445113.", "deploy 1 stopped: ")
			}
			second.quit()
			chat := first.output() + "\n" + second.output()
			checkCrashRun(t, data, chat, p.fail || p.abort, p.resynced...)
		})
	}
}

// resetServer puts the sandbox server host back to the tree from before
// the deploy behind jouncebot's back, release marker included.
func resetServer(host string) func(t *testing.T, sb string) {
	return func(t *testing.T, sb string) {
		t.Helper()
		dir := filepath.Join(sb, "servers", host)
		if err := os.WriteFile(filepath.Join(dir, "wmf-config/InitialiseSettings.php"), []byte(pristineSettings), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(dir, ".jouncebot-release")); err != nil {
			t.Fatal(err)
		}
	}
}

// unreachable makes the sandbox server host unreachable: a file stands
// where its directory was (rsync fails, as for a host that is down).
func unreachable(host string) func(t *testing.T, sb string) {
	return func(t *testing.T, sb string) {
		t.Helper()
		dir := filepath.Join(sb, "servers", host)
		if err := os.Rename(dir, filepath.Join(sb, "servers", ".away-"+host)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir, []byte("down\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// all makes every change of fs.
func all(fs ...func(t *testing.T, sb string)) func(t *testing.T, sb string) {
	return func(t *testing.T, sb string) {
		t.Helper()
		for _, f := range fs {
			f(t, sb)
		}
	}
}

// reachable undoes unreachable.
func reachable(host string) func(t *testing.T, sb string) {
	return func(t *testing.T, sb string) {
		t.Helper()
		dir := filepath.Join(sb, "servers", host)
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(sb, "servers", ".away-"+host), dir); err != nil {
			t.Fatal(err)
		}
	}
}

// pristineSettings is the sandbox's InitialiseSettings.php before 445113.
const pristineSettings = "<?php\n$wgExampleLimit = 10;\n$wgExampleDebug = false;\n"

var noRawOutput = regexp.MustCompile(`(?m)^[^l].*(fatal:|git [a-z-]+ .* failed|rsync failed|exit code|Invalid revision)`)

// checkCrashRun checks the end state of a crash-matrix run.
func checkCrashRun(t *testing.T, data, chat string, rolledBack bool, resynced ...string) {
	t.Helper()
	if strings.Contains(chat, "deploy 1 is done") == rolledBack {
		t.Errorf("deploy outcome wrong (rolled back: %v):\n%s", rolledBack, chat)
	}
	if m := noRawOutput.FindString(chat); m != "" {
		t.Errorf("raw tool output in the chat: %q", m)
	}
	sb := filepath.Join(data, "sandbox")
	m := regexp.MustCompile(`Froze release ([0-9a-f]{20})`).FindStringSubmatch(chat)
	if m == nil {
		t.Fatalf("no release was frozen:\n%s", chat)
	}
	rel := m[1]
	want := treeOf(t, filepath.Join(sb, "releases", rel, "tree"))
	servers, _ := os.ReadDir(filepath.Join(sb, "servers"))
	var pristine map[string]string
	for _, s := range servers {
		if strings.HasPrefix(s.Name(), ".") {
			continue
		}
		dir := filepath.Join(sb, "servers", s.Name())
		got := treeOf(t, dir)
		marker, _ := os.Readlink(filepath.Join(dir, ".jouncebot-release"))
		if !rolledBack {
			if marker != rel || !equalTrees(want, got) {
				t.Errorf("%s does not hold release %s (marker %q)", s.Name(), rel, marker)
			}
			continue
		}
		if pristine == nil {
			pristine = got
		}
		if !equalTrees(pristine, got) || !strings.Contains(got["wmf-config/InitialiseSettings.php"], "$wgExampleLimit = 10;") || marker == rel {
			t.Errorf("%s does not hold the tree from before the deploy after the rollback (marker %q)", s.Name(), marker)
		}
	}
	// Exactly one +2.
	var st struct {
		Reviews []struct {
			Change int
			Labels map[string]int
		}
	}
	b, err := os.ReadFile(filepath.Join(sb, "gerrit", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &st)
	votes := 0
	for _, r := range st.Reviews {
		if r.Change == 445113 && r.Labels["Code-Review"] == 2 {
			votes++
		}
	}
	if votes != 1 {
		t.Errorf("%d votes on 445113, want 1", votes)
	}
	// No host synced twice without need: once forward, once more for a
	// rollback.
	synced := map[string]int{}
	for _, l := range regexp.MustCompile(`msg="host synced".* host=(\S+)`).FindAllStringSubmatch(chat, -1) {
		synced[l[1]]++
	}
	// (A host whose sync ended just as the process was killed may have
	// no log line: it holds the release, checked above.)
	for h, n := range synced {
		if wantN := 1 + btoi(rolledBack && h == "mwdebug1001") + btoi(slices.Contains(resynced, h)); n > wantN {
			t.Errorf("%s was synced %d times, want at most %d", h, n, wantN)
		}
	}
	checkSALPairs(t, data)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkSALPairs checks that every "Started …" SAL line got its closing
// line.
func checkSALPairs(t *testing.T, data string) {
	t.Helper()
	msgs := salMessages(t, data)
	count := func(prefix string) int {
		n := 0
		for _, m := range msgs {
			if strings.HasPrefix(m, prefix) {
				n++
			}
		}
		return n
	}
	syncs, rollbacks := count("Started sync: "), count("Started rollback ")
	if syncs != 1 || count("Finished sync: ")+count("Stopped sync: ")+rollbacks != syncs || count("Finished rollback ")+count("Stopped rollback ") != rollbacks {
		t.Errorf("SAL lines are not in pairs:\n%s", strings.Join(msgs, "\n"))
	}
}

// treeOf reads every file under dir but .git and the release marker.
func treeOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == ".git" || d.Name() == ".jouncebot-release" || d.Name() == "~jouncebot" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	return out
}

func equalTrees(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestRollbackInternalErrorClosesSAL: a rollback that cannot go on (the
// release to roll back to is gone) still closes its "Started rollback"
// SAL line, and says what to do.
func TestRollbackInternalErrorClosesSAL(t *testing.T) {
	needTools(t, "git", "rsync")
	data := t.TempDir()
	first := startSandboxBot(t, data, "JOUNCEBOT_TEST_CRASH_AT=rollback:testservers")
	first.waitLine("Try `jouncebot: plan")
	first.say("deploy --force 445113 crash test")
	rel := regexp.MustCompile(`Froze release ([0-9a-f]{20})`).FindStringSubmatch(first.waitLine("Froze release "))[1]
	first.waitLine("Please test it there")
	first.say("tested fail")
	first.waitLine("test crash point rollback:testservers reached")
	first.kill()
	releases := filepath.Join(data, "sandbox", "releases")
	ids, _ := os.ReadDir(releases)
	for _, id := range ids {
		if id.Name() != rel {
			if err := os.RemoveAll(filepath.Join(releases, id.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	second := startSandboxBot(t, data)
	if l := second.waitLine("deploy 1 stopped: "); !strings.Contains(l, "did not finish: look at the hosts by hand") {
		t.Errorf("the stop does not say the rollback did not finish: %s", l)
	}
	second.quit()
	checkSALPairs(t, data)
}

// needTools skips the test (or fails it when servers are required) when
// one of the tools it runs is not installed.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, fmt.Sprintf("%s is not installed", tool))
		}
	}
}
