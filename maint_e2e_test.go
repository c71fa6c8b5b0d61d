package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/maint/mainttest"
	"github.com/jouncebot/jouncebot/wiki/wikitest"
)

// The bot is SIGKILLed while a maintenance script runs; the script goes
// on on the host and ends there; the restarted bot re-attaches, keeps
// the output, and reports the end once.
func TestMaintSurvivesSIGKILL(t *testing.T) {
	h := mainttest.StartHost(t, "testwiki")
	w := h.Wikis["testwiki"]
	dir := t.TempDir()
	list := func(v []string) string { b, _ := json.Marshal(v); return string(b) }
	cfg := filepath.Join(dir, "config.yaml")
	write := func(path, data string) {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(cfg, fmt.Sprintf(`bot:
  data_dir: %s
  console_person: Amir
people:
  - {name: Amir, irc_account: amir, roles: [deployer]}
sal:
  projects:
    - name: production
maint:
  host: root@127.0.0.1
  remote: %s
  command: %s
  work_dir: %s
  wikis: [testwiki]
  poll_interval: 100ms
`, filepath.Join(dir, "data"), list(h.Config.Remote), list(h.Config.Command), h.WorkDir))

	bot1 := startMaintBot(t, cfg)
	bot1.say("jouncebot: maint runJobs.php testwiki --wait --maxjobs=1 T123")
	bot1.expect("Run 1: runJobs.php --wait --maxjobs=1 on testwiki started.")
	job := waitJob(t, h.WorkDir)
	bot1.kill()

	// The script waits for a job; the bot is dead. Give it one: it runs
	// it and ends.
	eval := exec.Command("php", filepath.Join(wikitest.MediaWikiDir, "maintenance", "eval.php"))
	eval.Env = append(os.Environ(), "MW_CONFIG_FILE="+filepath.Join(w.Dir, "LocalSettings.php"))
	eval.Stdin = strings.NewReader("MediaWiki\\MediaWikiServices::getInstance()->getJobQueueGroup()->push( new NullJob( [] ) );\n")
	if out, err := eval.CombinedOutput(); err != nil {
		t.Fatalf("queue a job: %v: %s", err, out)
	}
	exitFile := filepath.Join(job, "exit")
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) { // polling the host's files
		if _, err := os.Stat(exitFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the script did not end on the host after its job was queued")
		}
	}

	bot2 := startMaintBot(t, cfg)
	bot2.expect("amir: Run 1: runJobs.php --wait --maxjobs=1 on testwiki finished (exit 0) in ")
	bot2.say("jouncebot: maint")
	bot2.expect("No live maintenance runs.")
	bot2.expect("1: runJobs.php --wait --maxjobs=1 on testwiki by Amir")
	bot2.say("jouncebot: sal maintenance script")
	bot2.expect("All 2 matching Server Admin Log entries")
	bot2.say("jouncebot: version")
	lines := bot2.expectLines("jouncebot ")
	for _, l := range lines {
		if strings.Contains(l, "finished") {
			t.Errorf("the end was reported again: %q", l)
		}
	}
	bot2.stop()

	bot3 := startMaintBot(t, cfg)
	bot3.say("jouncebot: version")
	for _, l := range bot3.expectLines("jouncebot ") {
		if strings.Contains(l, "finished") {
			t.Errorf("a third start reported the end again: %q", l)
		}
	}
	bot3.stop()
}

// waitJob waits for the first job's directory with its pid on the host.
func waitJob(t *testing.T, workDir string) string {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) { // polling the host's files
		if m, _ := filepath.Glob(filepath.Join(workDir, "1-real-0-*", "pid")); len(m) == 1 {
			return filepath.Dir(m[0])
		}
		if time.Now().After(deadline) {
			t.Fatal("no job started on the host within 2 minutes")
		}
	}
}

// maintBot is jouncebot running as its own process with a console.
type maintBot struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	done  chan struct{}
}

func startMaintBot(t *testing.T, cfg string) *maintBot {
	t.Helper()
	cmd := exec.Command(os.Args[0], "--config", cfg, "--http", "")
	cmd.Env = append(os.Environ(), "JOUNCEBOT_TEST_RUN_MAIN=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &maintBot{t: t, cmd: cmd, in: in, lines: make(chan string, 1000), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			b.lines <- sc.Text()
		}
		close(b.lines)
		cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(b.kill)
	return b
}

func (b *maintBot) say(line string) {
	b.t.Helper()
	if _, err := io.WriteString(b.in, line+"\n"); err != nil {
		b.t.Fatal(err)
	}
}

// expectLines reads lines until one starts with prefix and returns all read.
func (b *maintBot) expectLines(prefix string) []string {
	b.t.Helper()
	deadline := time.After(2 * time.Minute)
	var seen []string
	for {
		select {
		case l, ok := <-b.lines:
			if !ok {
				b.t.Fatalf("the bot exited waiting for %q; saw:\n%s", prefix, strings.Join(seen, "\n"))
			}
			seen = append(seen, l)
			if strings.HasPrefix(l, prefix) {
				return seen
			}
		case <-deadline:
			b.t.Fatalf("no line starting %q within 2 minutes; saw:\n%s", prefix, strings.Join(seen, "\n"))
		}
	}
}

func (b *maintBot) expect(prefix string) string {
	b.t.Helper()
	ls := b.expectLines(prefix)
	return ls[len(ls)-1]
}

// kill SIGKILLs the bot: no shutdown, no cleanup.
func (b *maintBot) kill() {
	b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.done
}

// stop ends the console's input: the bot shuts down cleanly.
func (b *maintBot) stop() {
	b.in.Close()
	<-b.done
}
