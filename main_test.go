package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary run jouncebot itself, for signal tests.
func TestMain(m *testing.M) {
	if os.Getenv("JOUNCEBOT_TEST_RUN_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
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
	if len(lines) < 5 {
		t.Fatalf("got %d lines:\n%s", len(lines), out.String())
	}
	// now, then next, in that order.
	if !strings.HasPrefix(lines[0], "For the next ") && !strings.HasPrefix(lines[0], "No deployments scheduled for the next ") {
		t.Errorf("first line is not a now answer: %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "In ") || !strings.Contains(lines[1], " UTC") {
		t.Errorf("second line is not a next answer: %q", lines[1])
	}
	if lines[2] != "jouncebot: now — Says which deployment windows are open now." {
		t.Errorf("help now answered %q", lines[2])
	}
	if !strings.HasPrefix(lines[len(lines)-1], "jouncebot ") {
		t.Errorf("version not answered last: %q", lines[len(lines)-1])
	}
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
		"UTC afternoon backport window [backport]", "America/Los_Angeles", "max 6 patches", "Amir (deployer): irc:amir @amir:example.org gerrit:amir"} {
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
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				t.Fatal("did not stop within 5 s")
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
