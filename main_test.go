package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/deploy/kube/kubetest"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// TestMain lets the test binary run jouncebot itself, for signal tests.
func TestMain(m *testing.M) {
	if os.Getenv("JOUNCEBOT_TEST_RUN_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	code := kubetest.Main(m) // m.Run, then the kubernetes tests' cluster stops
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// The README's run command, with piped input: the answer is printed and
// the bot exits at the end of input.
func TestPipedConsole(t *testing.T) {
	data := t.TempDir()
	var out, errs bytes.Buffer
	in := strings.NewReader("jouncebot: nowandnext\nhelp now\n\x00\xff\n" + strings.Repeat("z", 10*1024) + "\nversion\n")
	code := run([]string{"--data", data, "--http", ""}, in, &out, &errs)
	if code != exitOK {
		t.Fatalf("exit code %d; stderr:\n%s", code, errs.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// The deploy sandbox's welcome comes first.
	if !strings.HasPrefix(lines[0], "Deploy sandbox: a fake Gerrit at http://127.0.0.1:") {
		t.Errorf("no sandbox welcome: %q", lines[0])
	}
	for len(lines) > 0 && !strings.HasPrefix(lines[0], "Try `jouncebot: plan") {
		lines = lines[1:]
	}
	lines = lines[1:]
	// The answers come in the order asked. A window of the embedded
	// calendar may open or be reminded of while the test runs: its
	// announcement can come between two answers, so each answer is looked
	// for after the one before it rather than at a fixed line.
	at := 0
	find := func(what string, match func(string) bool) {
		t.Helper()
		for i := at; i < len(lines); i++ {
			if match(lines[i]) {
				at = i + 1
				return
			}
		}
		t.Errorf("no %s after line %d of the answers:\n%s", what, at, strings.Join(lines, "\n"))
	}
	// now, then next, in that order.
	find("now answer", func(l string) bool {
		return strings.HasPrefix(l, "For the next ") || strings.HasPrefix(l, "No deployments scheduled for the next ")
	})
	find("next answer", func(l string) bool { return strings.HasPrefix(l, "In ") && strings.Contains(l, " UTC") })
	find("answer to help now", func(l string) bool { return l == "jouncebot: now — Says which deployment windows are open now." })
	find("answer to version", func(l string) bool { return strings.HasPrefix(l, "jouncebot ") })
	if strings.Contains(out.String(), "\x00") || strings.Contains(out.String(), "\xff") {
		t.Errorf("reply echoes control or invalid bytes")
	}
	if _, err := os.Stat(filepath.Join(data, "jouncebot.db")); err != nil {
		t.Errorf("no database in the data directory: %v", err)
	}
}

// A bad configuration is one clear error, exit code 2, and nothing written.
func TestBadConfigExitsTwoAndWritesNothing(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad.yaml")
	os.WriteFile(cfg, []byte("bot:\n  data_dir: data\nwindows:\n  - name: w\n    schedule: \"0 6 * * *\"\n    timezone: Mars/Olympus\n    duration: 1h\n"), 0o644)
	var out, errs bytes.Buffer
	code := run([]string{"--config", cfg}, strings.NewReader(""), &out, &errs)
	if code != exitConfig {
		t.Errorf("exit code %d, want %d", code, exitConfig)
	}
	want := cfg + `:6: windows[0].timezone: unknown time zone "Mars/Olympus"`
	if !strings.Contains(errs.String(), want) {
		t.Errorf("stderr %q does not contain %q", errs.String(), want)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("data directory was created for a bad config")
	}
	if code := run([]string{"check-config", cfg}, nil, &out, &errs); code != exitConfig {
		t.Errorf("check-config exit code %d, want %d", code, exitConfig)
	}
}

func TestCheckConfigSummary(t *testing.T) {
	t.Setenv("JOUNCEBOT_IRC_PASSWORD", "x")
	t.Setenv("JOUNCEBOT_GERRIT_PASSWORD", "y")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "mx"), []byte("z"), 0o600)
	data, _ := os.ReadFile("config.example.yaml")
	data = bytes.ReplaceAll(data, []byte("/etc/jouncebot/matrix-password"), []byte(filepath.Join(dir, "mx")))
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, data, 0o644)
	var out, errs bytes.Buffer
	if code := run([]string{"check-config", cfg}, nil, &out, &errs); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	for _, want := range []string{"is valid", "libera: IRC irc.libera.chat:6697", "#wikimedia-operations", "matrix: Matrix https://matrix.example.org",
		"UTC afternoon backport window [backport]", "America/Los_Angeles", "max 6 patches", "Amir (deployer): irc:amir @amir:example.org gerrit:amir",
		"Releases freeze these untracked paths too: private/, php-*/cache/l10n/; no sync deletes these on the hosts: private/, php-*/cache/"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "x\n") || strings.Contains(out.String(), "gerrit-secret") {
		t.Errorf("summary shows a secret")
	}
}

// SIGTERM stops a running bot cleanly, closing the database, within 5 s.
func TestSignalShutdown(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			data := t.TempDir()
			cmd := exec.Command(os.Args[0], "--data", data, "--http", "127.0.0.1:0")
			cmd.Env = append(os.Environ(), "JOUNCEBOT_TEST_RUN_MAIN=1")
			stdin, _ := cmd.StdinPipe() // kept open: the console waits for input
			defer stdin.Close()
			stderr, _ := cmd.StderrPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(stderr)
			for sc.Scan() && !strings.Contains(sc.Text(), "jouncebot running") {
			}
			cmd.Process.Signal(sig)
			done := make(chan error, 1)
			go func() {
				for sc.Scan() {
				}
				done <- cmd.Wait()
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("exit: %v", err)
				}
			case <-time.After(testenv.Scale(5 * time.Second)):
				cmd.Process.Kill()
				t.Fatalf("did not stop within %s", testenv.Scale(5*time.Second))
			}
			if _, err := os.Stat(filepath.Join(data, "jouncebot.db.pid")); !os.IsNotExist(err) {
				t.Errorf("pid file left behind: the database was not closed")
			}
		})
	}
}

// The README's run command as a newcomer types it: no flags at all, so the
// data directory is the relative default. Run from a fresh directory.
func TestDefaultRunFromFreshDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var out, errs bytes.Buffer
	code := run([]string{"--http", ""}, strings.NewReader("jouncebot: plan 445113\n"), &out, &errs)
	if code != exitOK {
		t.Fatalf("exit code %d; stderr:\n%s", code, errs.String())
	}
	if !strings.Contains(out.String(), "Deploying 445113 would:") {
		t.Errorf("plan not answered:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "jouncebot-data", "jouncebot.db")); err != nil {
		t.Errorf("no database under ./jouncebot-data: %v", err)
	}
}

// A mistyped subcommand or a stray argument is a usage error (exit 2) that
// starts nothing and writes nothing, run as the real program from a fresh
// directory.
func TestCommandLineTyposAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"versoin"},
		{"check-confg", "x.yaml"},
		{"--no-console", "x.yaml"},
		{"--data", "d", "extra"},
		{"version", "now"},
		{"check-config"},
		{"check-config", "a.yaml", "b.yaml"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "JOUNCEBOT_TEST_RUN_MAIN=1")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != exitConfig {
				t.Fatalf("exit %v, want code %d; stderr:\n%s", err, exitConfig, stderr.String())
			}
			if !strings.Contains(stderr.String(), "Usage:\n  jouncebot [flags]") {
				t.Errorf("no usage on stderr:\n%s", stderr.String())
			}
			if stdout.Len() > 0 {
				t.Errorf("printed to stdout: %q", stdout.String())
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("wrote %s in the working directory", entries[0].Name())
			}
		})
	}
}

// "jouncebot version" prints the build and exits.
func TestVersionSubcommand(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "version")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "JOUNCEBOT_TEST_RUN_MAIN=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "jouncebot ") {
		t.Errorf("version printed %q", out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("wrote %s in the working directory", entries[0].Name())
	}
}

// check-config shows how the calendar is built: the horizon and the wiki
// import, or that there is none.
func TestCheckConfigShowsWikiImport(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		yaml string
		want []string
	}{
		{"calendar:\n  horizon: 336h\n  wiki: {api: \"https://wikitech.example.org/w/api.php\", page: Deployments}\n",
			[]string{"Calendar: recurring windows listed 14 days ahead (calendar.horizon)",
				`Wiki import: page "Deployments" from https://wikitech.example.org/w/api.php (read anonymously), re-read every 15 minutes.`}},
		{"windows: []\n", []string{"Calendar: recurring windows listed 56 days ahead", "Wiki import: none (calendar.wiki is not set)."}},
	} {
		cfg := filepath.Join(dir, "c.yaml")
		os.WriteFile(cfg, []byte("bot:\n  data_dir: data\n"+tt.yaml), 0o644)
		var out, errs bytes.Buffer
		if code := run([]string{"check-config", cfg}, nil, &out, &errs); code != exitOK {
			t.Fatalf("exit %d: %s", code, errs.String())
		}
		for _, want := range tt.want {
			if !strings.Contains(out.String(), want) {
				t.Errorf("summary lacks %q:\n%s", want, out.String())
			}
		}
	}
}

// A console line over the cap (2 MiB here) is refused with a sentence and
// the running bot goes on answering the lines after it.
func TestHugeConsoleLineRefused(t *testing.T) {
	cmd := exec.Command(os.Args[0], "--data", t.TempDir(), "--http", "")
	cmd.Env = append(os.Environ(), "JOUNCEBOT_TEST_RUN_MAIN=1")
	cmd.Stdin = strings.NewReader("jouncebot: version\n" + strings.Repeat("x", 2<<20) + "\njouncebot: help now\n")
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		t.Fatalf("exit: %v; stderr:\n%s", err, errs.String())
	}
	for _, want := range []string{
		"That line is 2097152 bytes long; I read lines of up to 64 KiB, so I ignored it. Nothing was done.\n",
		"jouncebot: now — Says which deployment windows are open now.\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(errs.String(), "token too long") {
		t.Errorf("stderr: %s", errs.String())
	}
}

// consoleConfig is a real configuration without networks or deploy
// section: the console acts as Amir and feeds the SAL.
const consoleConfig = `bot:
  data_dir: data
  console_person: Amir
people:
  - name: Amir
    irc_account: amir
    roles: [deployer]
sal:
  projects:
    - {name: production, rooms: ["console/console"], allow: [identified]}
`

func writeConfig(t *testing.T, text string) (cfg, dir string) {
	t.Helper()
	dir = t.TempDir()
	cfg = filepath.Join(dir, "jouncebot.yaml")
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg, dir
}

// A real configuration without a deploy section starts no sandbox (no
// fake Gerrit, no welcome, nothing under sandbox/) and says deploys are
// off; without a web server, !log answers carry no link.
func TestConfigWithoutDeployStartsNoSandbox(t *testing.T) {
	cfg, dir := writeConfig(t, consoleConfig)
	var out, errs bytes.Buffer
	code := run([]string{"--config", cfg}, strings.NewReader("jouncebot: plan 445113\n!log restarted apache\n"), &out, &errs)
	if code != exitOK {
		t.Fatalf("exit code %d; stderr:\n%s", code, errs.String())
	}
	want := "Deploys are off: this bot has no Gerrit configured (deploy.gerrit in its configuration file).\nLogged the message.\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "sandbox")); !os.IsNotExist(err) {
		t.Errorf("a sandbox was written: %v", err)
	}
}

// With --no-console and no networks there is nothing to run: exit 2
// before the database or a sandbox is written.
func TestNothingToRunWritesNothing(t *testing.T) {
	cfg, dir := writeConfig(t, consoleConfig+"deploy:\n  sandbox: true\n")
	var out, errs bytes.Buffer
	code := run([]string{"--config", cfg, "--no-console"}, strings.NewReader(""), &out, &errs)
	if code != exitConfig || !strings.Contains(errs.String(), "nothing to run") {
		t.Errorf("exit code %d, stderr %q; want %d and nothing to run", code, errs.String(), exitConfig)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("the data directory was written: %v", err)
	}
}

// A web server address that cannot be listened on stops the start (exit
// 2) before anything is written; the address given works, and !log
// answers link to it.
func TestWebAddress(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg, dir := writeConfig(t, strings.Replace(consoleConfig, "bot:\n", "bot:\n  http: "+taken.Addr().String()+"\n", 1))
	var out, errs bytes.Buffer
	code := run([]string{"--config", cfg}, strings.NewReader("version\n"), &out, &errs)
	want := "jouncebot: the web server cannot listen on " + taken.Addr().String() + " (bot.http): bind: address already in use; free the address or choose another"
	if code != exitConfig || !strings.Contains(errs.String(), want) {
		t.Errorf("exit code %d, stderr %q; want %d and %q", code, errs.String(), exitConfig, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("the data directory was written: %v", err)
	}
	// The built-in default with an address given on purpose, too.
	if code := run([]string{"--data", t.TempDir(), "--http", taken.Addr().String()}, strings.NewReader(""), &out, &errs); code != exitConfig {
		t.Errorf("built-in default on a taken --http: exit code %d, want %d", code, exitConfig)
	}

	cfg, _ = writeConfig(t, strings.Replace(consoleConfig, "bot:\n", "bot:\n  http: 127.0.0.1:0\n", 1))
	cmd := exec.Command(os.Args[0], "--config", cfg)
	cmd.Env = append(os.Environ(), "JOUNCEBOT_TEST_RUN_MAIN=1")
	stdin, _ := cmd.StdinPipe()
	defer stdin.Close()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	io.WriteString(stdin, "!log restarted apache\n")
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		t.Fatalf("no answer to !log: %v", sc.Err())
	}
	link, ok := strings.CutPrefix(sc.Text(), "Logged the message at http://127.0.0.1:")
	if !ok {
		t.Fatalf("answer %q has no permalink to the web server", sc.Text())
	}
	resp, err := http.Get("http://127.0.0.1:" + link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "restarted apache") {
		t.Errorf("GET the permalink: %d\n%s", resp.StatusCode, body)
	}
}

// check-config finds a bad web address and an inline secret, naming the
// file, line and key, and never shows the secret.
func TestCheckConfigHostileValues(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"port out of range", strings.Replace(consoleConfig, "bot:\n", "bot:\n  http: 127.0.0.1:99999\n", 1),
			":2: bot.http: port 99999 is out of range; give a port from 1 to 65535"},
		{"inline secret", consoleConfig + "deploy:\n  gerrit:\n    url: https://gerrit.example.org\n    username: bot\n    password: hunter2\n",
			":15: deploy.gerrit.password: wrong type: a secret is never written inline"},
		{"wrong type", strings.Replace(consoleConfig, "roles: [deployer]", "roles: deployer", 1),
			":7: people[0].roles: wrong type: got a string, expected a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _ := writeConfig(t, tt.text)
			var out, errs bytes.Buffer
			code := run([]string{"check-config", cfg}, nil, &out, &errs)
			if code != exitConfig || !strings.Contains(errs.String(), cfg+tt.want) {
				t.Errorf("exit code %d, stderr %q; want %d and %q", code, errs.String(), exitConfig, cfg+tt.want)
			}
			if strings.Contains(errs.String(), "hunter2") {
				t.Errorf("stderr shows the secret: %s", errs.String())
			}
		})
	}
}

// The built-in default runs without its web pages when its usual address
// is taken (by this test, or by another program) and --http was not given;
// its !log answers then carry no link.
func TestDefaultRunsWhenItsWebAddressIsTaken(t *testing.T) {
	if ln, err := net.Listen("tcp", "127.0.0.1:8080"); err == nil {
		defer ln.Close()
	}
	var out, errs bytes.Buffer
	code := run([]string{"--data", t.TempDir()}, strings.NewReader("!log testing the default\n"), &out, &errs)
	if code != exitOK {
		t.Fatalf("exit code %d; stderr:\n%s", code, errs.String())
	}
	if !strings.Contains(out.String(), "\nLogged the message.\n") {
		t.Errorf("no link-free answer to !log:\n%s", out.String())
	}
	if !strings.Contains(errs.String(), "web server not started") {
		t.Errorf("the log does not say the web server was not started:\n%s", errs.String())
	}
}

// Deploys on and no private security room: check-config warns that the
// details of security patches will go to deployers privately.
func TestCheckConfigWarnsWithoutSecurityRoom(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pw"), []byte("x"), 0o600)
	cfg := filepath.Join(dir, "c.yaml")
	base := "bot: {data_dir: data}\ndeploy:\n  gerrit: {url: \"https://gerrit.example.org/r/\", username: bot, password: {file: pw}}\n"
	for _, tt := range []struct {
		name, extra string
		warn        bool
	}{
		{"no room", "", true},
		{"a room", "networks:\n  - {name: libera, type: irc, server: \"irc.example.org:6697\", channels: [{name: \"#ops\"}, {name: \"#security\"}]}\nsecurity: {rooms: [\"libera/#security\"]}\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			os.WriteFile(cfg, []byte(base+tt.extra), 0o644)
			var out, errs bytes.Buffer
			if code := run([]string{"check-config", cfg}, nil, &out, &errs); code != exitOK {
				t.Fatalf("exit %d: %s", code, errs.String())
			}
			want := "Warning: security.rooms is empty: details of local security patches and uncommitted changes in staging will go to deployers privately"
			if got := strings.Contains(out.String(), want); got != tt.warn {
				t.Errorf("warning shown: %v, want %v:\n%s", got, tt.warn, out.String())
			}
		})
	}
}

// Words addressed to the bot are answered, also where the same words said
// in passing in a channel are not: "tested ok" with no deploy waiting for
// a test, and a --force without a change.
func TestAddressedWordsAreAnswered(t *testing.T) {
	data := t.TempDir()
	var out, errs bytes.Buffer
	in := strings.NewReader("tested ok\ndeploy --force\nrevert --force\n")
	if code := run([]string{"--data", data, "--http", ""}, in, &out, &errs); code != exitOK {
		t.Fatalf("exit code %d; stderr:\n%s", code, errs.String())
	}
	for _, want := range []string{
		"There is no deploy in progress.",
		"Say which changes to deploy, e.g. `deploy 445113` (numbers or Gerrit links).",
		"Say which changes to revert, e.g. `revert 445113` (numbers or Gerrit links).",
	} {
		if !strings.Contains(out.String(), "\n"+want+"\n") {
			t.Errorf("no answer %q in:\n%s", want, out.String())
		}
	}
}
