package maint_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/maint"
	"github.com/jouncebot/jouncebot/maint/mainttest"
)

// namespaceDupes.php on two wikis: pages titled "Foo:…" collide with a
// namespace added later; the dry run shows what would move and changes
// nothing, and only "maint go" runs it with --fix, which moves them.
func TestDryRunThenGoMovesPages(t *testing.T) {
	t.Parallel()
	h := mainttest.StartHost(t, "testwiki", "test2wiki")
	for _, w := range h.Wikis {
		w.EditPage(t, "Foo:Bar", "a page in the main namespace")
	}
	for n := range h.Wikis {
		h.AddNamespace(t, n)
	}
	b := newBench(t, h.Config, filepath.Join(t.TempDir(), "db"))
	r := b.start("namespaceDupes.php list:both T123")
	if got := b.svc.StartedText(r).String(); !strings.Contains(got, "dry run of namespaceDupes.php on 2 wikis (list:both) started; the real run (namespaceDupes.php --fix) waits for maint go 1.") {
		t.Errorf("started: %q", got)
	}
	dry := b.expect("dry run of namespaceDupes.php on 2 wikis (list:both) finished (exit 0 on all 2 wikis)")
	for _, want := range []string{"testwiki: ", "test2wiki: ", "Foo:Bar", "Start the real run (namespaceDupes.php --fix) with: maint go 1"} {
		if !strings.Contains(dry, want) {
			t.Errorf("dry run summary lacks %q:\n%s", want, dry)
		}
	}
	for n, w := range h.Wikis {
		if ns, _ := mainttest.NamespaceOf(t, w, "Foo:Bar"); ns != 3000 {
			t.Fatalf("%s: Foo:Bar is in namespace %d", n, ns)
		}
		if _, exists := mainttest.NamespaceOf(t, w, "Foo:Bar"); exists {
			t.Errorf("%s: the dry run moved the page", n)
		}
	}
	if got := b.salLines(); len(got) != 0 {
		t.Errorf("SAL lines for a dry run: %q", got)
	}

	if _, err := b.svc.Go(context.Background(), r.ID, amir, ""); err != nil {
		t.Fatal(err)
	}
	end := b.expect("Run 1: namespaceDupes.php --fix on 2 wikis (list:both) finished (exit 0 on all 2 wikis) in ")
	if !strings.Contains(end, "Output: http://bot.example/maint/"+r.Token) {
		t.Errorf("no link to the output: %s", end)
	}
	for n, w := range h.Wikis {
		if _, exists := mainttest.NamespaceOf(t, w, "Foo:Bar"); !exists {
			t.Errorf("%s: Foo:Bar was not moved into the Foo namespace", n)
		}
	}
	sal := b.salLines()
	if len(sal) != 2 || sal[0] != "Amir: Started maintenance script namespaceDupes.php --fix on 2 wikis (list:both) for T123" ||
		!strings.HasPrefix(sal[1], "Amir: Finished maintenance script namespaceDupes.php --fix on 2 wikis (list:both) for T123 (duration: ") ||
		!strings.HasSuffix(sal[1], ", exit 0 on all 2 wikis)") {
		t.Errorf("SAL lines: %q", sal)
	}
	if _, err := b.svc.Go(context.Background(), r.ID, amir, ""); err == nil || err.Error() != "Run 1 is not waiting for maint go: it finished." {
		t.Errorf("second go: %v", err)
	}
	run, outs, err := b.svc.Get(r.ID)
	if err != nil || len(outs) != 4 || run.State != maint.Done {
		t.Fatalf("kept: %+v %d outputs %v", run, len(outs), err)
	}
}

// A script that fails is reported with its exit status and last lines.
func TestFailingScript(t *testing.T) {
	t.Parallel()
	h := mainttest.StartHost(t, "testwiki")
	dbPath := filepath.Join(t.TempDir(), "db")
	b := newBench(t, h.Config, dbPath)
	b.start("showSiteStats.php testwiki --no-such-option")
	got := b.expect("Run 1: showSiteStats.php --no-such-option on testwiki failed (exit 1) after ")
	if !strings.Contains(got, "Last lines on testwiki: ") || !strings.Contains(got, "no-such-option") {
		t.Errorf("no last lines: %s", got)
	}
	if sal := b.salLines(); len(sal) != 2 || !strings.HasSuffix(sal[1], ", exit 1)") {
		t.Errorf("SAL: %q", sal)
	}

	// Past the retention the run, its output and its job's directory on
	// the host are gone.
	job := b.jobDir(h, 1, 0)
	b.close()
	later := newBench(t, h.Config, dbPath, func(o *maint.Options) {
		o.Retention = 24 * time.Hour
		o.Now = func() time.Time { return time.Now().Add(25 * time.Hour) }
	})
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) { // polling the host's files
		if _, err := os.Stat(job); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the old job's directory is still on the host")
		}
	}
	if runs, err := later.svc.List(); err != nil || len(runs) != 0 {
		t.Errorf("runs kept past the retention: %d %v", len(runs), err)
	}
}

// maint stop ends a running script on the host; the timeout stops a
// stuck one.
func TestStopAndTimeout(t *testing.T) {
	t.Parallel()
	h := mainttest.StartHost(t, "testwiki")
	b := newBench(t, h.Config, filepath.Join(t.TempDir(), "db"))
	r := b.start("runJobs.php testwiki --wait")
	waitFile(t, filepath.Join(b.jobDir(h, 1, 0), "pid"))
	if _, err := b.svc.Start(context.Background(), maint.Request{Script: "runJobs.php", Target: "testwiki"}, amir, ""); err == nil ||
		!strings.HasPrefix(err.Error(), "Refused: run 1 of runJobs.php on testwiki has not ended") {
		t.Errorf("second run of the script on the wiki: %v", err)
	}
	msg, err := b.svc.Stop(context.Background(), r.ID, amir)
	if err != nil || msg.String() != "Stopping run 1; the bot says when the script has ended." {
		t.Fatalf("stop: %v %v", msg, err)
	}
	b.expect("Run 1: runJobs.php --wait on testwiki stopped by Amir after ")
	if sal := b.salLines(); len(sal) != 2 || !strings.HasSuffix(sal[1], ", stopped by Amir)") {
		t.Errorf("SAL: %q", sal)
	}

	h.Config.Timeout = 2 * time.Second
	b2 := newBench(t, h.Config, filepath.Join(t.TempDir(), "db2"))
	b2.start("runJobs.php testwiki --wait")
	b2.expect("Run 1: runJobs.php --wait on testwiki stopped at the timeout after ")
}

// Dropping the connection to the host (sshd and its connections killed)
// does not stop the script; the bot says it cannot reach the host, and
// follows the script again once the host is back.
func TestHostDroppedMidRun(t *testing.T) {
	t.Parallel()
	h := mainttest.StartHost(t, "testwiki")
	b := newBench(t, h.Config, filepath.Join(t.TempDir(), "db"))
	b.start("runJobs.php testwiki --wait")
	job := b.jobDir(h, 1, 0)
	waitFile(t, filepath.Join(job, "pid"))
	h.SSHD.Stop()
	b.expect("Run 1: the maintenance host cannot be reached; a started script keeps running there, and the bot keeps trying.")
	pid, err := os.ReadFile(filepath.Join(job, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("kill", "-0", strings.TrimSpace(string(pid))).Run(); err != nil {
		t.Fatalf("the script died with the connection: %v", err)
	}
	if _, err := os.Stat(filepath.Join(job, "exit")); err == nil {
		t.Fatal("the script ended with the connection")
	}
	h.SSHD.Start()
	b.expect("Run 1: the maintenance host answers again; following the script.")
	if _, err := b.svc.Stop(context.Background(), 1, amir); err != nil {
		t.Fatal(err)
	}
	b.expect("Run 1: runJobs.php --wait on testwiki stopped by Amir after ")
}

// Names that could reach a shell or leave the maintenance directory are
// refused before anything runs.
func TestRefusedNames(t *testing.T) {
	rules := maint.Rules{Scripts: config.MaintScriptNames("namespaceDupes.php"), Wikis: []string{"testwiki"}, Lists: map[string][]string{"both": {"testwiki"}}}
	for _, c := range []struct{ words, want string }{
		{"namespaceDupes.php;id testwiki", `Refused: "namespaceDupes.php;id" is not a script name`},
		{"../../../bin/sh testwiki", `Refused: "../../../bin/sh" is not a script name`},
		{"/usr/bin/id.php testwiki", `Refused: "/usr/bin/id.php" is not a script name`},
		{"$(id).php testwiki", `Refused: "$(id).php" is not a script name`},
		{"deleteEverything.php testwiki", "Refused: deleteEverything.php is not one of the scripts allowed here (namespaceDupes.php)."},
		{"namespaceDupes.php test`id`wiki", "Refused: \"test`id`wiki\" is not a wiki name"},
		{"namespaceDupes.php ../testwiki", `Refused: "../testwiki" is not a wiki name`},
		{"namespaceDupes.php enwiki", "Refused: enwiki is not a wiki known here."},
		{"namespaceDupes.php list:nope", `Refused: there is no wiki list "nope" (lists: both).`},
		{"namespaceDupes.php testwiki --fix;reboot", `Refused: the argument "--fix;reboot" is not allowed`},
		{"namespaceDupes.php testwiki --x=$(id)", `Refused: the argument "--x=$(id)" is not allowed`},
		{"namespaceDupes.php testwiki -'x'", `Refused: the argument "-'x'" is not allowed`},
	} {
		req, err := maint.ParseWords(strings.Fields(c.words))
		if err == nil {
			_, err = rules.Check(req)
		}
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.words, err, c.want)
		}
	}
	req, _ := maint.ParseWords(strings.Fields("namespaceDupes testwiki --fix for T123"))
	req, err := rules.Check(req)
	if err != nil || req.Script != "namespaceDupes.php" || !slices.Equal(req.Args, []string{"--fix"}) || req.Reason != "for T123" {
		t.Errorf("good request: %+v %v", req, err)
	}
}

// jobDir waits until run id has recorded step i and returns its job's
// directory on the host.
func (b *bench) jobDir(h *mainttest.Host, id, i int) string {
	b.t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if r, _, err := b.svc.Get(id); err == nil && len(r.Steps) > i {
			return filepath.Join(h.WorkDir, r.Steps[i].Job)
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("run %d has no step %d after 2 minutes", id, i)
		}
		time.Sleep(20 * time.Millisecond) // polling the database
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within 2 minutes", path)
		}
		time.Sleep(20 * time.Millisecond) // polling a file on the host
	}
}

// The remote template replaces ssh for sites that run scripts elsewhere:
// here a local shell stands in for e.g. kubectl exec … -- sh -c.
func TestRemoteTemplate(t *testing.T) {
	t.Parallel()
	h := mainttest.StartHost(t, "testwiki")
	cfg := h.Config
	cfg.Remote, cfg.Host = []string{"sh", "-c"}, ""
	b := newBench(t, cfg, filepath.Join(t.TempDir(), "db"))
	b.start("showSiteStats.php testwiki")
	b.expect("Run 1: showSiteStats.php on testwiki finished (exit 0) in ")
	_, outs, err := b.svc.Get(1)
	if err != nil || len(outs) != 1 || !strings.Contains(string(outs[0]), "Number of articles") {
		t.Errorf("output kept: %q %v", outs, err)
	}
}

// Options are checked against the script's rule: target options are
// refused unless listed, an options list is the only options, values
// must match their pattern, and shells run only when allowed by name.
func TestArgumentRules(t *testing.T) {
	open := maint.Rules{}
	listed := maint.Rules{Scripts: []config.MaintScript{
		{Script: "runJobs.php", Options: map[string]string{"--maxjobs": "[0-9]+", "--wait": ""}},
		{Script: "showSiteStats.php"},
		{Script: "importImages.php", Options: map[string]string{"--wiki": "testwiki|test2wiki", "--comment": ".*"}},
		{Script: "eval.php"},
		{Script: "cleanupTitles.php", Options: map[string]string{}},
	}}
	for _, c := range []struct {
		name  string
		rules maint.Rules
		words string
		want  string // "" when accepted
	}{
		{"any option without a list", open, "showSiteStats.php testwiki --update", ""},
		{"--wiki", open, "showSiteStats.php testwiki --wiki=enwiki", "Refused: --wiki changes which wiki"},
		{"--server", open, "showSiteStats.php testwiki --server=https://x.example", "Refused: --server changes"},
		{"--conf", open, "showSiteStats.php testwiki --conf=/etc/x.php", "Refused: --conf changes"},
		{"--dbuser", open, "showSiteStats.php testwiki --dbuser=root", "Refused: --dbuser changes"},
		{"--dbpass", open, "showSiteStats.php testwiki --dbpass=x", "Refused: --dbpass changes"},
		{"--dbgroupdefault", open, "showSiteStats.php testwiki --dbgroupdefault=vslow", "Refused: --dbgroupdefault changes"},
		{"single dash", open, "showSiteStats.php testwiki -wiki=enwiki", "Refused: -wiki changes"},
		{"upper case", open, "showSiteStats.php testwiki --WIKI=enwiki", "Refused: --WIKI changes"},
		{"target option on a plain entry", listed, "showSiteStats.php testwiki --wiki=enwiki", "Refused: --wiki changes"},
		{"eval.php without a list", open, "eval.php testwiki", "Refused: eval.php opens a shell"},
		{"shell.php", open, "shell.php testwiki", "Refused: shell.php opens a shell"},
		{"sql.php", open, "sql.php testwiki", "Refused: sql.php opens a shell"},
		{"mysql.php", open, "mysql.php testwiki", "Refused: mysql.php opens a shell"},
		{"an extension's eval.php", open, "extensions/Foo/maintenance/eval.php testwiki", "Refused: extensions/Foo/maintenance/eval.php opens a shell"},
		{"getConfiguration.php prints secrets", open, "getConfiguration.php testwiki --settings=wgDBpassword", "Refused: getConfiguration.php prints the configuration, secrets included,"},
		{"eval.php allowed by name", listed, "eval.php testwiki", ""},
		// Spellings that must not dodge the rules (MediaWiki's Maintenance
		// reads long options exactly, no abbreviations; a separate value
		// word is where the reason starts, so it never reaches the host).
		{"--wiki as two words", open, "showSiteStats.php testwiki --wiki enwiki", "Refused: --wiki changes"},
		{"--wiki= empty", open, "showSiteStats.php testwiki --wiki=", "Refused: --wiki changes"},
		{"end of options then --wiki", open, "showSiteStats.php testwiki -- --wiki=enwiki", `Refused: the argument "--" is not allowed`},
		{"three dashes", open, "showSiteStats.php testwiki ---wiki=enwiki", `Refused: the argument "---wiki=enwiki" is not allowed`},
		{"../eval.php", open, "../eval.php testwiki", `Refused: "../eval.php" is not a script name`},
		{"maintenance/eval.php", open, "maintenance/eval.php testwiki", "Refused: eval.php opens a shell"},
		{"maintenance/ path of a listed script", listed, "maintenance/runJobs.php testwiki --type=x", "Refused: runJobs.php takes only the options --maxjobs, --wait here, not --type."},
		{"maintenance/ path of a listed script, listed options", listed, "maintenance/runJobs.php testwiki --maxjobs=5", ""},
		{"eval without .php", open, "eval testwiki", "Refused: eval.php opens a shell"},
		{"a target option as the wiki", open, "showSiteStats.php --wiki=enwiki", `Refused: "--wiki=enwiki" is not a wiki name`},
		{"an option as the script", open, "--conf=/tmp/x.php testwiki", `Refused: "--conf=/tmp/x.php" is not a script name`},
		{"shell.php not on the list", listed, "shell.php testwiki", "Refused: shell.php is not one of the scripts allowed here"},
		{"no options listed", listed, "cleanupTitles.php testwiki --dry-run", "Refused: cleanupTitles.php takes no options here, not --dry-run."},
		{"listed options", listed, "runJobs.php testwiki --maxjobs=5 --wait", ""},
		{"unlisted option", listed, "runJobs.php testwiki --type=x", "Refused: runJobs.php takes only the options --maxjobs, --wait here, not --type."},
		{"bad value", listed, "runJobs.php testwiki --maxjobs=5x", `Refused: the value of --maxjobs for runJobs.php must match [0-9]+, and "5x" does not.`},
		{"missing value", listed, "runJobs.php testwiki --maxjobs", `Refused: the value of --maxjobs for runJobs.php must match [0-9]+, and "" does not.`},
		{"value to a flag", listed, "runJobs.php testwiki --wait=1", "Refused: --wait of runJobs.php takes no value; write it as --wait."},
		{"target option listed", listed, "importImages.php testwiki --wiki=test2wiki", ""},
		{"listed target option, other value", listed, "importImages.php testwiki --wiki=enwiki", `Refused: the value of --wiki for importImages.php must match testwiki|test2wiki, and "enwiki" does not.`},
		{"pattern anchored", listed, "importImages.php testwiki --wiki=testwikix", `Refused: the value of --wiki for importImages.php must match`},
		{"characters still checked", listed, "importImages.php testwiki --comment=$(id)", `Refused: the argument "--comment=$(id)" is not allowed`},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := maint.ParseWords(strings.Fields(c.words))
			if err == nil {
				_, err = c.rules.Check(req)
			}
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want)):
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
}

// The flags of a dry-run form are the bot's: written with a value
// (--fix=1, --fix=, which MediaWiki reads as --fix), the real run's flag
// would otherwise go to the dry run, which would then change the wikis.
func TestDryRunFlagsAreTheBots(t *testing.T) {
	rules := maint.Rules{DryRun: append([]config.DryRun{{Script: "cleanupTitles.php", Dry: []string{"--dry-run"}}}, config.DefaultMaintDryRuns...)}
	for _, c := range []struct{ words, want string }{
		{"namespaceDupes.php testwiki --fix", ""},
		{"namespaceDupes.php testwiki --fix=1", "Refused: --fix=1 is set by the bot for the dry run and the real run of namespaceDupes.php"},
		{"namespaceDupes.php testwiki --fix=", "Refused: --fix= is set by the bot"},
		{"namespaceDupes.php testwiki --fix=0", "Refused: --fix=0 is set by the bot"},
		{"cleanupTitles.php testwiki --dry-run=0", "Refused: --dry-run=0 is set by the bot"},
		{"cleanupTitles.php testwiki --dry-run", ""},
		{"namespaceDupes.php testwiki --fixed=1", ""},
	} {
		t.Run(c.words, func(t *testing.T) {
			req, err := maint.ParseWords(strings.Fields(c.words))
			if err == nil {
				_, err = rules.Check(req)
			}
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want)):
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
}

// A script's spellings are one script: its dry-run form is found
// whichever way it is written.
func TestScriptSpellingsKeepTheDryRun(t *testing.T) {
	rules := maint.Rules{DryRun: config.DefaultMaintDryRuns}
	for _, words := range []string{"namespaceDupes testwiki --fix", "namespaceDupes.php testwiki --fix", "maintenance/namespaceDupes.php testwiki --fix"} {
		t.Run(words, func(t *testing.T) {
			req, err := maint.ParseWords(strings.Fields(words))
			if err == nil {
				req, err = rules.Check(req)
			}
			if err != nil {
				t.Fatal(err)
			}
			dry, real, ok := rules.Phases(req)
			if req.Script != "namespaceDupes.php" || !ok || slices.Contains(dry, "--fix") || !slices.Contains(real, "--fix") {
				t.Errorf("script %q, dry run %v (%q), real run %q", req.Script, ok, dry, real)
			}
		})
	}
}

// The configuration's spellings of a script are its one name too: an
// allow list entry or a dry-run form written maintenance/foo.php or foo
// is the rule of foo.php.
func TestConfigSpellingsAreOneScript(t *testing.T) {
	cfg, err := config.Parse([]byte(`maint:
  host: maint.example
  scripts:
    - {script: maintenance/runJobs.php, options: {--maxjobs: "[0-9]+"}}
    - cleanupTitles
  dry_run:
    - {script: maintenance/cleanupTitles.php, dry: [--dry-run]}
`), "test.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rules := maint.RulesFrom(cfg.Maint)
	for _, c := range []struct{ words, want string }{
		{"runJobs.php testwiki --maxjobs=3", ""},
		{"runJobs.php testwiki --type=x", "Refused: runJobs.php takes only the options --maxjobs here, not --type."},
		{"maintenance/runJobs.php testwiki --type=x", "Refused: runJobs.php takes only the options --maxjobs here, not --type."},
		{"cleanupTitles.php testwiki", ""},
		{"cleanupTitles.php testwiki --dry-run=0", "Refused: --dry-run=0 is set by the bot"},
	} {
		t.Run(c.words, func(t *testing.T) {
			req, err := maint.ParseWords(strings.Fields(c.words))
			if err == nil {
				req, err = rules.Check(req)
			}
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want)):
				t.Errorf("got %v, want %q", err, c.want)
			}
			if _, _, hasDry := rules.Phases(req); err == nil && hasDry != (req.Script == "cleanupTitles.php") {
				t.Errorf("%s: dry run %v", req.Script, hasDry)
			}
		})
	}
}
