package app_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// localMaint is a maintenance "host" reached through sh -c (as
// maint.remote allows for kubectl exec and the like) whose command is a
// stand-in for mwscript: fail.php fails its dry run, slow.php waits for
// the gate file on testwiki and ignores SIGTERM on test2wiki (both end
// when the test's directory is removed, should a test fail before they
// are stopped), secret.php prints a line.
type localMaint struct {
	Config config.Maint
	Gate   string
}

func startLocalMaint(t *testing.T) *localMaint {
	t.Helper()
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	wrapper := filepath.Join(dir, "mwscript-test")
	script := `#!/bin/sh
wiki=$1; script=$2; shift 2
echo "$script on $wiki: $*"
case $script in
fail.php)
	for a in "$@"; do [ "$a" = --fix ] && { echo "fixed 3 pages"; exit 0; }; done
	echo "3 pages would break"; exit 3 ;;
slow.php)
	if [ "$wiki" = testwiki ]; then
		while [ ! -f ` + gate + ` ] && [ -d ` + dir + ` ]; do sleep 0.05; done
	else
		trap '' TERM
		while [ -d ` + dir + ` ]; do sleep 0.05; done
	fi ;;
secret.php) echo "the secret output line" ;;
esac
`
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return &localMaint{Gate: gate, Config: config.Maint{Host: "local", Remote: []string{"sh", "-c"}, Command: []string{wrapper, "{wiki}", "{script}"},
		WorkDir: filepath.Join(dir, "work"), Wikis: []string{"testwiki", "test2wiki"}, Lists: map[string][]string{"both": {"testwiki", "test2wiki"}},
		DryRun:       []config.DryRun{{Script: "fail.php", Real: []string{"--fix"}}},
		PollInterval: 50 * time.Millisecond, ProgressEvery: 24 * time.Hour, Timeout: time.Hour, KillAfter: time.Second, Retention: 24 * time.Hour}}
}

// console runs the built-in default in the afternoon window (Wednesday
// 25 November, 14:20 UTC) with m as its maintenance host.
func (m *localMaint) console(t *testing.T) *consoleSession {
	t.Helper()
	return runConsole(t, time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC), "", func(c *config.Config) { c.Maint = m.Config }, app.Options{})
}

// countBarPages is alice's config change asking for secret.php on
// test2wiki.
var countBarPages = gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: "master", Owner: "alice", Subject: "Count the Bar pages",
	Footers: []string{"Maintenance-Script: secret.php test2wiki"},
	Files:   []gerrittest.File{{Path: "wmf-config/CommonSettings.php", Content: "<?php\n// Bar pages\n"}}}

// deployTested deploys change (titled title in the SAL) as deploy id,
// says "tested ok" at the testservers and waits until it is done.
func deployTested(s *consoleSession, id int, change, title string) {
	s.t.Helper()
	s.say("jouncebot: deploy " + change)
	s.expect("amir, alice: Backport for [[gerrit:" + change + "|" + title + "]] synced to the testservers.")
	s.say("tested ok")
	s.expect("amir: deploy " + strconv.Itoa(id) + " is done: " + change + ".")
}

// jobPID waits for the pid file of run 1's real run on wiki i and returns
// the pid (the job's process group).
func (m *localMaint) jobPID(t *testing.T, i int) int {
	t.Helper()
	deadline := time.Now().Add(testenv.Scale(time.Minute))
	for {
		if ps, _ := filepath.Glob(filepath.Join(m.Config.WorkDir, "1-real-"+strconv.Itoa(i)+"-*", "pid")); len(ps) == 1 {
			if b, err := os.ReadFile(ps[0]); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					return pid
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d of run 1 did not start on the host", i)
		}
		time.Sleep(20 * time.Millisecond) // polling the host's files
	}
}

// A dry run that fails holds the run: "maint go" is refused until the
// deployer says why the failure is fine, and that reason is shown and
// written to the SAL.
func TestMaintFailedDryRunHolds(t *testing.T) {
	t.Parallel()
	m := startLocalMaint(t)
	s := startOps(t, time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC), func(c *config.Config) { c.Maint = m.Config }, app.Options{})
	s.say("jouncebot: maint fail.php testwiki T1")
	s.expectEach("Run 1: dry run of fail.php on testwiki started; the real run (fail.php --fix) waits for maint go 1.",
		"amir: Run 1: dry run of fail.php on testwiki failed (exit 3); the real run does not start.")
	held := s.expect("The real run (fail.php --fix) starts only if you say why the failure is fine: maint go 1 <reason> (or maint stop 1).")
	page := regexp.MustCompile(`Output: (http://\S+)`).FindStringSubmatch(held)
	if page == nil {
		t.Fatalf("no link to the run's page in %q", held)
	}
	s.say("jouncebot: maint go 1")
	s.expectContains("Refused: the dry run of run 1 failed (exit 3), so its real run needs a reason: maint go 1 <why the failure is fine>.")
	s.say("jouncebot: maint")
	s.expectContains("1: fail.php on testwiki by Amir 2026-11-25 14:20 UTC — its dry run failed; it waits for maint go 1 <reason>")
	s.say("jouncebot: maint go 1 the 3 pages are known, T42")
	s.expectEach("Run 1: fail.php --fix on testwiki started despite its failed dry run (Amir: the 3 pages are known, T42).",
		"amir: Run 1: fail.php --fix on testwiki finished (exit 0) in ")
	s.say("jouncebot: sal fail.php")
	s.expectContains("Started maintenance script fail.php --fix on testwiki for T1 despite a failed dry run (Amir: the 3 pages are known, T42)")
	if code, body := get(t, page[1]); code != 200 || !strings.Contains(body, `The dry run failed; Amir started the real run anyway at 2026-11-25 14:20:00 UTC: the 3 pages are known, <a href="https://phabricator.wikimedia.org/T42">T42</a>`) {
		t.Errorf("the run's page does not show the override: %d\n%s", code, body)
	}
}

// The timeout bounds the whole run, not each wiki: a run over two wikis
// whose jobs together pass it is stopped, and a job that ignores SIGTERM
// gets SIGKILL after kill_after, its whole process group.
func TestMaintTimeoutPerRunKills(t *testing.T) {
	t.Parallel()
	m := startLocalMaint(t)
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	s := runConsole(t, time.Time{}, "", func(c *config.Config) { c.Maint = m.Config }, app.Options{Now: now})
	s.say("jouncebot: maint slow.php list:both")
	s.expect("Run 1: slow.php on 2 wikis (list:both) started.") // the end waits for the gate
	m.jobPID(t, 0)
	offset.Add(int64(40 * time.Minute))
	if err := os.WriteFile(m.Gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pid := m.jobPID(t, 1)
	offset.Add(int64(30 * time.Minute)) // 70 minutes in all, 30 on this wiki
	s.expect("amir: Run 1: slow.php on 2 wikis (list:both) stopped at the timeout after ")
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the job that ignores SIGTERM still runs on the host after the end was reported (kill -0: %v)", err)
		syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// Options that change the target are refused unless the script's options
// list them, a script with an options list takes only those, and shells
// are refused unless the allow list names them.
func TestMaintArgumentRules(t *testing.T) {
	t.Parallel()
	m := startLocalMaint(t)
	s := m.console(t)
	for _, c := range []struct{ say, want string }{
		{"maint eval.php testwiki", "Refused: eval.php opens a shell or runs arbitrary code, so it runs only when the configuration's maint.scripts allow list names it."},
		{"maint shell.php testwiki", "Refused: shell.php opens a shell"},
		{"maint sql.php testwiki", "Refused: sql.php opens a shell"},
		{"maint getConfiguration.php testwiki --settings=wgDBpassword", "Refused: getConfiguration.php prints the configuration, secrets included, so it runs only when the configuration's maint.scripts allow list names it."},
		{"maint showSiteStats.php testwiki --wiki=enwiki", "Refused: --wiki changes which wiki, server, configuration or database account showSiteStats.php uses;"},
		{"maint showSiteStats.php testwiki --dbpass=hunter2", "Refused: --dbpass changes which wiki"},
		{"maint showSiteStats.php testwiki --server=https://en.wikipedia.org", "Refused: --server changes which wiki"},
		{"maint showSiteStats.php testwiki --conf=/etc/other.php", "Refused: --conf changes which wiki"},
	} {
		s.say("jouncebot: " + c.say)
		s.expectContains(c.want)
	}

	m2 := startLocalMaint(t)
	m2.Config.Scripts = []config.MaintScript{{Script: "runJobs.php", Options: map[string]string{"--maxjobs": "[0-9]+", "--wait": ""}}, {Script: "eval.php"}}
	s2 := m2.console(t)
	s2.say("jouncebot: maint runJobs.php testwiki --maxjobs=lots")
	s2.expectContains(`Refused: the value of --maxjobs for runJobs.php must match [0-9]+, and "lots" does not.`)
	s2.say("jouncebot: maint runJobs.php testwiki --type=refreshLinks")
	s2.expectContains("Refused: runJobs.php takes only the options --maxjobs, --wait here, not --type.")
	s2.say("jouncebot: maint runJobs.php testwiki --maxjobs=2 --wait")
	s2.expectEach("Run 1: runJobs.php --maxjobs=2 --wait on testwiki started.", "amir: Run 1: runJobs.php --maxjobs=2 --wait on testwiki finished (exit 0)")
	s2.say("jouncebot: maint eval.php test2wiki")
	s2.expectEach("Run 2: eval.php on test2wiki started.", "amir: Run 2: eval.php on test2wiki finished (exit 0)")
}

// maint <change> reads the footers of merged changes only, and reads the
// Maintenance: spelling that readiness reads too.
func TestMaintFootersOfMergedChanges(t *testing.T) {
	t.Parallel()
	m := startLocalMaint(t)
	s := m.console(t)
	sb := s.app.Sandbox()
	s.expect("Try `jouncebot: plan")
	n := upload(t, sb, gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: "master", Owner: "alice", Subject: "Count the Foo pages",
		Footers: []string{"Bug: T7", "Maintenance: secret.php testwiki"},
		Files:   []gerrittest.File{{Path: "wmf-config/InitialiseSettings.php", Content: "<?php\n// Foo pages\n"}}})
	ns := strconv.Itoa(n)
	s.say("jouncebot: maint " + ns)
	s.expectContains("Change " + ns + " is not merged yet (NEW): its maintenance scripts run only after it is merged and deployed.")
	s.say("jouncebot: maint")
	s.expect("No maintenance runs yet.")
	deployTested(s, 1, ns, "Count the Foo pages (T7)")
	s.expect("amir: " + ns + " asks for the maintenance script secret.php testwiki.")
	s.say("jouncebot: maint " + ns)
	s.expectEach("Run 1: secret.php on testwiki started.", "amir: Run 1: secret.php on testwiki finished (exit 0)")
}

// Run pages are at unguessable addresses, and the output of a script
// marked private is not on the public page: only the link sent to the
// security destination shows it.
func TestMaintPagesUnguessableAndPrivate(t *testing.T) {
	t.Parallel()
	m := startLocalMaint(t)
	m.Config.Scripts = []config.MaintScript{{Script: "secret.php", Private: true}, {Script: "fail.php"}}
	o := startOps(t, time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC), func(c *config.Config) {
		c.Maint = m.Config
		c.Security.Rooms = []string{"console/security"}
	}, app.Options{})
	link := regexp.MustCompile(`Output: (http://\S+)`)

	o.say("jouncebot: maint fail.php testwiki")
	ls := o.expectEach("Run 1: dry run of fail.php on testwiki started", "amir: Run 1: dry run of fail.php on testwiki failed (exit 3)")
	started := ls[0]
	u := link.FindStringSubmatch(started)
	if u == nil || !regexp.MustCompile(`/maint/[a-z0-9]{26,}$`).MatchString(u[1]) {
		t.Fatalf("no unguessable link in %q", started)
	}
	if code, body := get(t, u[1]); code != 200 || !strings.Contains(body, "3 pages would break") {
		t.Errorf("the run's page: %d\n%s", code, body)
	}
	if code, _ := get(t, o.base+"/maint/1"); code != 404 {
		t.Errorf("/maint/1 answers %d; runs must not be found by counting", code)
	}

	o.say("jouncebot: maint secret.php testwiki")
	ls = o.expectEach("Run 2: secret.php on testwiki started.", "Run 2 (private output): ", "amir: Run 2: secret.php on testwiki finished (exit 0)")
	started, private, end := ls[0], ls[1], ls[2]
	u = link.FindStringSubmatch(started)
	if u == nil {
		t.Fatalf("no link in %q", started)
	}
	for _, l := range []string{started, end} {
		if strings.Contains(l, "the secret output line") {
			t.Errorf("a public line shows the private output: %q", l)
		}
	}
	if code, body := get(t, u[1]); code != 200 || strings.Contains(body, "the secret output line") || !strings.Contains(body, "The output of secret.php is private") {
		t.Errorf("the public page of a private run: %d\n%s", code, body)
	}
	pu := link.FindStringSubmatch(private)
	if pu == nil || !strings.HasPrefix(pu[1], u[1]+"/") {
		t.Fatalf("no private link in %q", private)
	}
	if code, body := get(t, pu[1]); code != 200 || !strings.Contains(body, "the secret output line") {
		t.Errorf("the private page: %d\n%s", code, body)
	}
	if code, _ := get(t, u[1]+"/"+strings.Repeat("a", 26)); code != 404 {
		t.Errorf("a wrong private key answers %d", code)
	}
}

// expectEach reads lines until one starts with each prefix, in any order
// (notices of a run and answers to commands may interleave), and returns
// them in the order of the prefixes.
func (s *consoleSession) expectEach(prefixes ...string) []string {
	s.t.Helper()
	out := make([]string, len(prefixes))
	left := len(prefixes)
	for left > 0 {
		s.expectLine(fmt.Sprintf("starting with one of %q", prefixes), testenv.Scale(time.Minute), func(l string) bool {
			for i, p := range prefixes {
				if out[i] == "" && strings.HasPrefix(l, p) {
					out[i] = l
					left--
					return true
				}
			}
			return false
		})
	}
	return out
}

// A script written as its path below the maintenance directory is the
// same script: the spelling does not dodge its dry run (fail.php's --fix
// only in the real run), the one-run-per-wiki rule or its entry in the
// allow list; nor does writing the real run's flag with a value
// (--fix=1, which MediaWiki reads as --fix) put it in the dry run.
func TestMaintScriptPathSpellingKeepsTheRules(t *testing.T) {
	t.Parallel()
	m := startLocalMaint(t)
	s := m.console(t)
	s.say("jouncebot: maint maintenance/fail.php testwiki --fix")
	s.expectEach("Run 1: dry run of fail.php on testwiki started; the real run (fail.php --fix) waits for maint go 1.",
		"amir: Run 1: dry run of fail.php on testwiki failed (exit 3); the real run does not start.")
	s.say("jouncebot: maint maintenance/fail.php testwiki")
	s.expectContains("Refused: run 1 of fail.php on testwiki has not ended")
	s.say("jouncebot: maint fail.php test2wiki --fix=1")
	s.expectContains("Refused: --fix=1 is set by the bot for the dry run and the real run of fail.php; leave it out (the real run has --fix, after maint go).")

	m2 := startLocalMaint(t)
	m2.Config.Scripts = []config.MaintScript{{Script: "runJobs.php", Options: map[string]string{"--maxjobs": "[0-9]+"}}}
	s2 := m2.console(t)
	s2.say("jouncebot: maint maintenance/runJobs.php testwiki --type=x")
	s2.expectContains("Refused: runJobs.php takes only the options --maxjobs here, not --type.")
}

// A run waiting for maint go expires after maint.wait_expiry (24 hours by
// default, 2 hours here): maint go then refuses, saying the dry run is too old and how
// to run it again; the list and the run's page show it expired, and the
// script can be started again on the wiki.
func TestMaintWaitingRunExpires(t *testing.T) {
	t.Parallel()
	m := startLocalMaint(t)
	m.Config.DryRun = append(m.Config.DryRun, config.DryRun{Script: "secret.php", Real: []string{"--fix"}})
	m.Config.WaitExpiry = 2 * time.Hour
	var offset atomic.Int64
	start := time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC)
	now := func() time.Time { return start.Add(time.Duration(offset.Load())) }
	s := startOps(t, time.Time{}, func(c *config.Config) { c.Maint = m.Config }, app.Options{Now: now})
	s.say("jouncebot: maint secret.php testwiki T1")
	ls := s.expectEach("Run 1: dry run of secret.php on testwiki started", "amir: Run 1: dry run of secret.php on testwiki finished (exit 0).")
	page := regexp.MustCompile(`Output: (http://\S+)`).FindStringSubmatch(ls[0])
	if page == nil {
		t.Fatalf("no link to the run's page in %q", ls[0])
	}
	s.expect("Start the real run (secret.php --fix) with: maint go 1 (or maint stop 1).")

	offset.Store(int64(time.Hour))
	s.say("jouncebot: maint")
	s.expectContains("1: secret.php on testwiki by Amir 2026-11-25 14:20 UTC — waits for maint go 1 after its dry run")
	offset.Store(int64(2*time.Hour + time.Minute))
	s.say("jouncebot: maint go 1")
	s.expectContains("Refused: the dry run of run 1 ended 2026-11-25 14:20 UTC, more than 2h ago: it is too old to go on from. Run the dry run again: maint secret.php testwiki T1")
	s.say("jouncebot: maint")
	s.expect("No live maintenance runs.")
	s.expectContains("1: secret.php on testwiki by Amir 2026-11-25 14:20 UTC — expired (its dry run was not followed by maint go within 2h)")
	if code, body := get(t, page[1]); code != 200 || !strings.Contains(body, "expired") {
		t.Errorf("the run's page does not show it expired: %d\n%s", code, body)
	}
	s.say("jouncebot: maint go 1")
	s.expectContains("Run 1 is not waiting for maint go: it expired")
	s.say("jouncebot: maint secret.php testwiki T1")
	s.expectEach("Run 2: dry run of secret.php on testwiki started", "amir: Run 2: dry run of secret.php on testwiki finished (exit 0).")
}

// maint <change> runs the footers of a change only when the bot deployed
// it: a merged change of a project or branch the bot does not deploy is
// refused, and so is a merged change of a deployed project that staging
// does not hold yet, each with the condition that failed; once deployed,
// its scripts run.
func TestMaintFootersOnlyOfDeployedChanges(t *testing.T) {
	t.Parallel()
	m := startLocalMaint(t)
	s := m.console(t)
	sb := s.app.Sandbox()
	s.expect("Try `jouncebot: plan")
	merged := func(project, branch, path string) string {
		t.Helper()
		n := upload(t, sb, gerrittest.Upload{Project: project, Branch: branch, Owner: "alice", Subject: "Count the Foo pages",
			Footers: []string{"Bug: T7", "Maintenance-Script: secret.php testwiki"},
			Files:   []gerrittest.File{{Path: path, Content: "<?php\n// Foo pages\n"}}})
		if err := sb.Vote(n, "alice", "Code-Review", 2); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(testenv.Scale(time.Minute))
		for sb.Status(n) != "MERGED" {
			if time.Now().After(deadline) {
				t.Fatalf("the gate did not merge %d", n)
			}
			time.Sleep(50 * time.Millisecond) // polling the fake Gerrit's gate
		}
		return strconv.Itoa(n)
	}

	master := merged(gerrittest.CoreProject, "master", "includes/Foo.php")
	s.say("jouncebot: maint " + master)
	s.expectContains("Change " + master + " is merged in mediawiki/core on master, which the bot does not deploy: its maintenance scripts run only for changes the bot deployed.")

	notYet := merged(gerrittest.ConfigProject, "master", "wmf-config/InitialiseSettings.php")
	s.say("jouncebot: maint " + notYet)
	s.expectContains("Change " + notYet + " is merged but not deployed: the staging checkout does not hold it. Deploy it first (deploy " + notYet + "), then run maint " + notYet + ".")
	s.say("jouncebot: maint")
	s.expect("No maintenance runs yet.")

	deployTested(s, 1, notYet, "Count the Foo pages (T7)")
	s.say("jouncebot: maint " + notYet)
	s.expectEach("Run 1: secret.php on testwiki started.", "amir: Run 1: secret.php on testwiki finished (exit 0)")

	// Rolled back: merged, and staging holds it, but it is not live.
	n := upload(t, sb, countBarPages)
	rb := strconv.Itoa(n)
	s.say("jouncebot: deploy " + rb)
	s.expect("amir, alice: Backport for [[gerrit:" + rb + "|Count the Bar pages]] synced to the testservers.")
	s.say("tested fail")
	s.expect("amir: deploy 2 stopped: Rolled back")
	s.say("jouncebot: maint " + rb)
	s.expectContains("Change " + rb + " was rolled back (deploy 2): it is merged but not live, so its maintenance scripts do not run.")
}

// A change deployed and then reverted through Gerrit (revert
// --via-gerrit: the revert is another change, deployed by its own deploy)
// is not live: maint <change> refuses its footers.
func TestMaintFootersNotOfChangeRevertedViaGerrit(t *testing.T) {
	t.Parallel()
	m := startLocalMaint(t)
	s := m.console(t)
	sb := s.app.Sandbox()
	s.expect("Try `jouncebot: plan")
	n := upload(t, sb, countBarPages)
	c := strconv.Itoa(n)
	deployTested(s, 1, c, "Count the Bar pages")
	s.say("jouncebot: revert --via-gerrit " + c + " it counts wrong")
	s.expectContains("synced to the testservers")
	s.say("tested ok")
	s.expectContains("deploy 2 is done")
	s.say("jouncebot: maint " + c)
	l := s.expectLine("the answer to maint "+c, testenv.Scale(time.Minute), func(l string) bool {
		return strings.Contains(l, "Change "+c) || strings.HasPrefix(l, "Run 1")
	})
	if !strings.Contains(l, "reverted") {
		t.Errorf("maint %s of a change reverted through Gerrit: %q", c, l)
	}
}
