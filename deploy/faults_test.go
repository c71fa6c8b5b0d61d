package deploy_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/deploy/git"
)

// TestStartRefusals: bad input and faults that stop a deploy before it
// does anything. Each gives one clear message, posts no vote and takes no
// lock.
func TestStartRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sb := e.sb
	cfg, core := sb.Changes["config"], sb.Changes["core"]
	upload := func(u gerrittest.Upload) int {
		if u.Owner == "" {
			u.Owner = "bob"
		}
		if u.Files == nil {
			u.Files = []gerrittest.File{{Path: "README", Content: u.Subject + "\n"}}
		}
		n, err := sb.Upload(u)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := sb.CreateBranch(gerrittest.CoreProject, "wmf/1.46.0-wmf.1", "master"); err != nil {
		t.Fatal(err)
	}
	onMaster := upload(gerrittest.Upload{Project: gerrittest.CoreProject, Branch: "master", Subject: "Master only"})
	oldBranch := upload(gerrittest.Upload{Project: gerrittest.CoreProject, Branch: "wmf/1.46.0-wmf.1", Subject: "Old branch"})
	// A skin on a branch whose "version" is a directory of the core
	// checkout (php-1.46.0-wmf.3/includes exists).
	subBranch := gerrittest.CoreBranch + "/includes"
	if err := sb.CreateProject("mediawiki/skins/Odd", subBranch, []gerrittest.File{{Path: "README", Content: "odd\n"}}); err != nil {
		t.Fatal(err)
	}
	inSubdir := upload(gerrittest.Upload{Project: "mediawiki/skins/Odd", Branch: subBranch, Subject: "Sub branch"})
	abandoned := upload(gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: "master", Subject: "Abandoned"})
	sb.Abandon(abandoned)
	wip := upload(gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: "master", Subject: "Not ready", WIP: true})
	vetoed := upload(gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: "master", Subject: "Vetoed"})
	sb.Vote(vetoed, "bob", "Code-Review", -2)
	idA, idB := "I"+strings.Repeat("a", 40), "I"+strings.Repeat("b", 40)
	cycA := upload(gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: "master", Subject: "Cycle A", ChangeID: idA, Footers: []string{"Depends-On: " + idB}})
	cycB := upload(gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: "master", Subject: "Cycle B", ChangeID: idB, Footers: []string{"Depends-On: " + idA}})
	// A footer that, pasted into a query, would match every merged change.
	sneaky := upload(gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: "master", Subject: "Sneaky", Footers: []string{"Depends-On: " + sb.ChangeID(core) + " OR is:merged"}})
	needsCore := upload(gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: "master", Subject: "Needs core", Footers: []string{"Depends-On: " + sb.ChangeID(core)}})

	ready := func(r deploy.Request) deploy.Request { return r }
	req := func(changes ...string) deploy.Request {
		return deploy.Request{Changes: changes, By: alice, InWindow: true, Window: "UTC late backport window"}
	}
	n := itoa
	tests := []struct {
		name  string
		req   deploy.Request
		fault gerrittest.Fault
		setup func() func()
		want  string
	}{
		{name: "garbage", req: req("foo"), want: `"foo" is not a valid change number or URL; give a number like 445113 or a Gerrit link`},
		{name: "all problems together", req: req("foo", "https://example.org/nothing"),
			want: "Cannot deploy:\n- \"foo\" is not a valid change number or URL; give a number like 445113 or a Gerrit link\n- \"https://example.org/nothing\" is not a valid change number or URL; give a number like 445113 or a Gerrit link"},
		{name: "unknown", req: req("999"), want: "Change 999 was not found in Gerrit."},
		{name: "non-deployable branch", req: req(n(onMaster)),
			want: "Change " + n(onMaster) + " (mediawiki/core, branch master) is not deployable to production: only operations/mediawiki-config on master, mediawiki/core on a wmf/ branch with a php-<version> checkout in staging, and its extensions and skins are."},
		{name: "wmf branch naming a subdirectory", req: req(n(inSubdir)),
			want: "Change " + n(inSubdir) + " (mediawiki/skins/Odd, branch " + subBranch + ") is not deployable to production: only operations/mediawiki-config on master, mediawiki/core on a wmf/ branch with a php-<version> checkout in staging, and its extensions and skins are."},
		{name: "branch without checkout", req: req(n(oldBranch)),
			want: "Change " + n(oldBranch) + " is on wmf/1.46.0-wmf.1, which has no php-1.46.0-wmf.1 checkout in staging; it is not deployable to production."},
		{name: "abandoned", req: req(n(abandoned)), want: "Change " + n(abandoned) + " is abandoned."},
		{name: "work in progress", req: req(n(wip)), want: "Change " + n(wip) + " is a work in progress; its owner must mark it ready for review first."},
		{name: "vetoed", req: req(n(vetoed)), want: "Change " + n(vetoed) + " has Code-Review -2 from Bob."},
		{name: "old patchset in URL", req: req(sb.URL + "c/operations/mediawiki-config/+/" + n(cfg) + "/7"),
			want: "Change " + n(cfg) + " is at patchset 1, but you asked for patchset 7; look at the newest patchset and deploy that."},
		{name: "wrong project in URL", req: req(sb.URL + "c/mediawiki/core/+/" + n(cfg)),
			want: "Change " + n(cfg) + " is in operations/mediawiki-config, not mediawiki/core as the link says."},
		{name: "cycle", req: req(n(cycA), n(cycB)), want: "Changes " + n(cycA) + " → " + n(cycB) + " → " + n(cycA) + " depend on each other in a cycle; the gate can never merge them."},
		{name: "Depends-On not merged", req: req(n(needsCore)),
			want: "Change " + n(needsCore) + " has Depends-On: " + sb.ChangeID(core) + " (change " + n(core) + ", \"Hooks: return false when no handler ran\"), which is not merged and not in this deploy."},
		{name: "Depends-On not a Change-Id", req: req(n(sneaky)),
			want: "Change " + n(sneaky) + " has Depends-On: \"" + sb.ChangeID(core) + " OR is:merged\", which is not a Change-Id (I and 40 hex digits); fix the footer in Gerrit."},
		{name: "link to another Gerrit", req: req("https://gerrit.evil.example/r/c/operations/mediawiki-config/+/" + n(cfg)),
			want: "https://gerrit.evil.example/r/c/operations/mediawiki-config/+/" + n(cfg) + " links to gerrit.evil.example, but I deploy only from the Gerrit at " + strings.TrimSuffix(strings.TrimPrefix(sb.URL, "http://"), "/") + "; give the change number or a link to " + strings.TrimSuffix(strings.TrimPrefix(sb.URL, "http://"), "/") + "."},
		{name: "gerrit 500", req: req(n(cfg)), fault: gerrittest.Fault{Status: 500},
			want: "Gerrit is failing (HTTP 500) for change " + n(cfg) + " after 2 tries; try again later."},
		{name: "gerrit hangs", req: req(n(cfg)), fault: gerrittest.Fault{Hang: true},
			// A timeout that always elapses: the request hangs until then.
			setup: func() func() {
				e.gerritTimeout = 300 * time.Millisecond
				e.restart()
				return func() { e.gerritTimeout = 0; e.restart() }
			},
			want: "Gerrit did not answer about change " + n(cfg) + " within 300ms (2 tries); it may be down."},
		{name: "gerrit 401", req: req(n(cfg)), fault: gerrittest.Fault{Status: 401},
			want: "Gerrit refused jouncebot's credentials (HTTP 401) while reading change " + n(cfg) + "; check deploy.gerrit.username and the HTTP password secret."},
		{name: "staging dirty", req: req(n(cfg), n(core)),
			setup: func() func() {
				os.WriteFile(filepath.Join(sb.Staging, "junk.txt"), []byte("x"), 0o644)
				os.WriteFile(filepath.Join(sb.CoreDir(), "includes/Hooks.php"), []byte("edited on the host"), 0o644)
				return func() {
					os.Remove(filepath.Join(sb.Staging, "junk.txt"))
					e.gitOut(sb.CoreDir(), "checkout", "includes/Hooks.php")
				}
			},
			// The files are named only to the security destination.
			want: "Cannot deploy:\n- The checkout staging has uncommitted changes (1 file; the list went to the security contacts privately); clean it up before deploying. Nothing was done.\n- The checkout staging/php-1.46.0-wmf.3 has uncommitted changes (1 file; the list went to the security contacts privately); clean it up before deploying. Nothing was done."},
		{name: "not identified", req: ready(deploy.Request{Changes: []string{n(cfg)}, InWindow: true}),
			want: "I do not know who you are: log in to your account (NickServ or Matrix) and make sure it is in jouncebot's people list."},
		{name: "not a deployer", req: deploy.Request{Changes: []string{n(cfg)}, By: carol, InWindow: true},
			want: "Only people with the deployer role can deploy; ask an admin to add it to your entry in the configuration."},
		{name: "outside a window", req: deploy.Request{Changes: []string{n(cfg)}, By: alice},
			want: "No deployment window is open now. If this cannot wait, add --force and a reason: `deploy --force " + n(cfg) + " <reason>`."},
		{name: "force without reason", req: deploy.Request{Changes: []string{n(cfg)}, By: alice, Force: true},
			want: "--force needs a reason, e.g. `deploy --force " + n(cfg) + " <reason>`."},
		{name: "frozen", req: deploy.Request{Changes: []string{n(cfg)}, By: alice, InWindow: true, Frozen: "end-of-year freeze until 2027-01-04"},
			want: "Deploys are frozen: end-of-year freeze until 2027-01-04. If this cannot wait, add --force and a reason: `deploy --force " + n(cfg) + " <reason>`."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				defer tt.setup()()
			}
			sb.SetFault(tt.fault)
			defer sb.SetFault(gerrittest.Fault{})
			_, err := e.agent.Start(context.Background(), tt.req)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Start error:\n got %v\nwant %s", err, tt.want)
			}
		})
	}
	if r := sb.Reviews(); len(r) != 0 {
		t.Errorf("refused deploys voted: %+v", r)
	}
	if st, _ := e.agent.Status(context.Background()); st.Lock != nil {
		t.Errorf("a refused deploy holds the lock: %+v", st.Lock)
	}
}

func TestStagingMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	opts := e.opts
	opts.StagingDir = filepath.Join(t.TempDir(), "nowhere")
	a := deploy.NewEngine(e.db, e.client(), &git.Runner{}, nil, opts)
	_, err := a.Start(context.Background(), e.request(alice, e.sb.Changes["config"]))
	want := "The staging directory " + opts.StagingDir + " does not exist; nothing was done."
	if err == nil || err.Error() != want {
		t.Errorf("Start error:\n got %v\nwant %s", err, want)
	}
}

// TestMergeWaitFaults: things that go wrong while waiting for the gate.
func TestMergeWaitFaults(t *testing.T) {
	t.Parallel()
	type fault func(e *env, n int) // arranged before the deploy
	onReview := func(f func(e *env, n int)) fault {
		return func(e *env, n int) {
			e.sb.SetGate(gerrittest.Gate{Delay: time.Hour})
			e.sb.OnReview(func(r gerrittest.Review) {
				if r.PatchSet == 1 {
					f(e, n)
				}
			})
		}
	}
	tests := []struct {
		name    string
		timeout time.Duration
		fault   fault
		want    string // the final message after "alice: deploy 1 stopped: "
	}{
		{name: "gate never merges", timeout: 300 * time.Millisecond,
			fault: func(e *env, n int) { e.sb.SetGate(gerrittest.Gate{Never: true}) },
			want:  "The gate did not merge N within 300ms. +2 was given on N; it may still merge. The staging checkout was not changed."},
		{name: "Code-Review -2", fault: onReview(func(e *env, n int) { e.sb.Vote(n, "bob", "Code-Review", -2) }),
			want: "Bob gave Code-Review -2 on N. +2 was given on N; it may still merge. The staging checkout was not changed."},
		{name: "Verified -1", fault: onReview(func(e *env, n int) { e.sb.Vote(n, "jenkins-bot", "Verified", -1) }),
			want: "jenkins-bot gave Verified -1 on N after the +2: the tests failed. +2 was given on N; it may still merge. The staging checkout was not changed."},
		{name: "unmergeable", fault: onReview(func(e *env, n int) { e.sb.SetUnmergeable(n, true) }),
			want: "N can no longer be merged; it needs a rebase. +2 was given on N; it may still merge. The staging checkout was not changed."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(o *deploy.Options) {
				if tt.timeout > 0 {
					o.MergeTimeout = tt.timeout
				}
			})
			n := e.sb.Changes["config"]
			before := e.gitOut(e.sb.Staging, "rev-parse", "HEAD")
			tt.fault(e, n)
			e.deploy(alice, n)
			ev := e.waitFor("failed")
			want := "alice: deploy 1 stopped: " + strings.ReplaceAll(tt.want, "N", itoa(n))
			if ev.Text.String() != want {
				t.Errorf("final message:\n got %s\nwant %s", ev.Text, want)
			}
			if after := e.gitOut(e.sb.Staging, "rev-parse", "HEAD"); after != before {
				t.Errorf("staging moved from %s to %s", before, after)
			}
			if st, _ := e.agent.Status(context.Background()); st.Lock != nil {
				t.Errorf("the lock was not released: %+v", st.Lock)
			}
		})
	}
}

func newPatchSetMidWait(e *env, n int) {
	e.sb.SetGate(gerrittest.Gate{Delay: 200 * time.Millisecond})
	e.sb.OnReview(func(r gerrittest.Review) {
		if r.PatchSet == 1 {
			e.sb.NewPatchSet(n, "bob", []gerrittest.File{{Path: "wmf-config/InitialiseSettings.php",
				Content: "<?php\n$wgExampleLimit = 30;\n$wgExampleDebug = false;\n"}})
		}
	})
}

func TestNewPatchSetMidWaitContinue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.sb.Changes["config"]
	newPatchSetMidWait(e, n)
	e.deploy(alice, n)
	ev := e.waitFor("needs")
	want := "alice: Bob uploaded patchset 2 of " + itoa(n) + " while we waited for the merge; it was not approved. Review it, then say `continue` to approve and deploy it, or `abort`."
	if ev.Text.String() != want {
		t.Fatalf("got %q, want %q", ev.Text, want)
	}
	e.restart() // a paused deploy stays paused across a restart
	if st, _ := e.agent.Status(context.Background()); !strings.Contains(st.Text().String(), "waiting for continue or abort") {
		t.Errorf("status after the restart = %q", st.Text())
	}
	if err := e.agent.Continue(context.Background(), "", bob); err == nil || err.Error() != "Only Alice, who started deploy 1, can do that." {
		t.Errorf("continue by Bob: %v", err)
	}
	if err := e.agent.Continue(context.Background(), "", alice); err != nil {
		t.Fatal(err)
	}
	e.waitFor("prepared")
	r := e.reviews(n)
	if len(r) != 2 || r[0].PatchSet != 1 || r[1].PatchSet != 2 {
		t.Errorf("reviews = %+v, want +2 on patchsets 1 and 2", r)
	}
	b, _ := os.ReadFile(filepath.Join(e.sb.Staging, "wmf-config/InitialiseSettings.php"))
	if !strings.Contains(string(b), "$wgExampleLimit = 30;") {
		t.Errorf("staging lacks patchset 2:\n%s", b)
	}
}

func TestNewPatchSetMidWaitAbort(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.sb.Changes["config"]
	newPatchSetMidWait(e, n)
	e.deploy(alice, n)
	e.waitFor("needs")
	if err := e.agent.Abort(context.Background(), "", alice); err != nil {
		t.Fatal(err)
	}
	ev := e.waitFor("aborted")
	want := "Deploy 1 was aborted by Alice. +2 was given on " + itoa(n) + "; it may still merge. The staging checkout was not changed."
	if ev.Text.String() != want {
		t.Errorf("got %q, want %q", ev.Text, want)
	}
	if len(e.reviews(n)) != 1 {
		t.Errorf("the new patchset was voted on: %+v", e.reviews(n))
	}
}

func TestLockAndAbortDuringWait(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.sb.SetGate(gerrittest.Gate{Never: true})
	n, other := e.sb.Changes["config"], e.sb.Changes["core"]
	e.deploy(alice, n)
	e.waitText("Waiting up to")
	_, err := e.agent.Start(context.Background(), e.request(bob, other))
	if err == nil || !strings.HasPrefix(err.Error(), "Deploy 1 by Alice holds the deploy lock since ") ||
		!strings.HasSuffix(err.Error(), " UTC ("+itoa(n)+"; reason: in the window UTC late backport window); wait for it to finish or ask Alice.") {
		t.Errorf("second deploy: %v", err)
	}
	st, _ := e.agent.Status(context.Background())
	if s := st.Text().String(); !strings.HasPrefix(s, "Deploy 1 by Alice since ") || !strings.Contains(s, "at step merge") {
		t.Errorf("status = %q", s)
	}
	if err := e.agent.Abort(context.Background(), "1", bob); err == nil {
		t.Error("Bob could abort Alice's deploy")
	}
	if err := e.agent.Abort(context.Background(), "1", alice); err != nil {
		t.Fatal(err)
	}
	ev := e.waitFor("aborted")
	if want := "Deploy 1 was aborted by Alice. +2 was given on " + itoa(n) + "; it may still merge. The staging checkout was not changed."; ev.Text.String() != want {
		t.Errorf("got %q, want %q", ev.Text, want)
	}
	e.sb.SetGate(gerrittest.Gate{Delay: 20 * time.Millisecond})
	if _, err := e.agent.Start(context.Background(), e.request(bob, other)); err != nil {
		t.Errorf("the lock was not released: %v", err)
	}
	e.waitFor("prepared")
}

func TestUnexpectedUpstreamCommit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.sb.Changes["config"]
	var sneaky string
	e.sb.OnReview(func(r gerrittest.Review) {
		sneaky, _ = e.sb.PushDirect(gerrittest.ConfigProject, "master", "Sneaky change", []gerrittest.File{{Path: "sneaky.php", Content: "<?php\n"}})
	})
	before := e.gitOut(e.sb.Staging, "rev-parse", "HEAD")
	e.deploy(alice, n)
	ev := e.waitFor("failed")
	want := "alice: deploy 1 stopped: Upstream of staging (master) has commits that are not part of this deploy: " + sneaky[:10] +
		` "Sneaky change" by Mallory (no Change-Id). Find out what they are, then deploy them deliberately or revert them. ` + itoa(n) + " merged in Gerrit. The staging checkout was not changed."
	if ev.Text.String() != want {
		t.Errorf("got\n%s\nwant\n%s", ev.Text, want)
	}
	if after := e.gitOut(e.sb.Staging, "rev-parse", "HEAD"); after != before {
		t.Errorf("staging moved from %s to %s", before, after)
	}
}

func TestSecurityPatchConflict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n, err := e.sb.Upload(gerrittest.Upload{Project: gerrittest.CoreProject, Branch: gerrittest.CoreBranch, Owner: "bob",
		Subject: "Reword the setup comment", Files: []gerrittest.File{{Path: "includes/Setup.php", Content: "<?php\n// MediaWiki setup, reworded\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	core := e.sb.CoreDir()
	before := e.gitOut(core, "rev-parse", "HEAD")
	e.deploy(alice, n)
	sec := e.waitFor("security")
	ev := e.waitFor("failed")
	// The public sentence names no patch and no file; the details come as
	// a security event only.
	want := "alice: deploy 1 stopped: A local security patch conflicts with this change in staging/php-1.46.0-wmf.3. The checkout was left as it was (at " +
		before[:10] + "); the patch must be rebased by hand; details sent to the security contacts privately. " + itoa(n) + " merged in Gerrit. The staging checkout was not changed."
	if ev.Text.String() != want {
		t.Errorf("got\n%s\nwant\n%s", ev.Text, want)
	}
	private := `Deploy 1: Re-applying the local security patch "SECURITY: reject oversized requests (T9001)" on top of upstream ` +
		e.sb.BranchTip(gerrittest.CoreProject, gerrittest.CoreBranch)[:10] + " conflicts in includes/Setup.php. The checkout staging/php-1.46.0-wmf.3 was left as it was (at " +
		before[:10] + "); the patch must be rebased by hand."
	if sec.Text.String() != private {
		t.Errorf("security event\n%s\nwant\n%s", sec.Text, private)
	}
	rec, err := e.agent.Record("1")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range append(rec.History, deploy.Entry{Text: rec.Error}) {
		if strings.Contains(h.Text, "oversized") || strings.Contains(h.Text, "Setup.php") {
			t.Errorf("the deploy's record names the security patch: %s", h.Text)
		}
	}
	if after := e.gitOut(core, "rev-parse", "HEAD"); after != before {
		t.Errorf("core moved from %s to %s", before, after)
	}
	if st := e.gitOut(core, "status", "--porcelain"); st != "" {
		t.Errorf("core left dirty: %s", st)
	}
}

// TestKilledBetweenVoteAndMerge: the bot dies right after its +2; a new
// agent on the same database waits for the merge without voting again.
func TestKilledBetweenVoteAndMerge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.sb.SetGate(gerrittest.Gate{Delay: 300 * time.Millisecond})
	n := e.sb.Changes["core"]
	e.setHook(func(ev deploy.Event) {
		if strings.HasPrefix(ev.Text.String(), "Code-Review +2 given") {
			e.cancel()
		}
	})
	e.deploy(alice, n)
	<-e.done
	if s := e.sb.Status(n); s != "NEW" {
		t.Fatalf("change is %s before the restart; the gate was too quick for this test", s)
	}
	e.restart()
	e.waitFor("prepared")
	if r := e.reviews(n); len(r) != 1 {
		t.Errorf("reviews after the restart = %+v, want exactly one +2", r)
	}
	if got := e.git.count("fetch"); got != 1 {
		t.Errorf("the resumed agent fetched %d times, want 1", got)
	}
}

// TestKilledBetweenFetchAndUpdate: the bot dies after fetching; the new
// agent updates staging without fetching again.
func TestKilledBetweenFetchAndUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.sb.Changes["extension"]
	e.setHook(func(ev deploy.Event) {
		if strings.HasPrefix(ev.Text.String(), "Fetched ") {
			e.cancel()
		}
	})
	e.deploy(alice, n)
	<-e.done
	fetches := e.sb.Fetches(gerrittest.CoreProject)
	e.restart()
	e.waitFor("prepared")
	if e.git.count("fetch") != 0 || e.sb.Fetches(gerrittest.CoreProject) != fetches {
		t.Errorf("the resumed agent fetched again (%d git fetches)", e.git.count("fetch"))
	}
	if got := e.git.count("rebase"); got != 1 {
		t.Errorf("the resumed agent ran %d rebases, want 1", got)
	}
	if r := e.reviews(n); len(r) != 1 {
		t.Errorf("reviews = %+v, want one", r)
	}
	b, _ := os.ReadFile(filepath.Join(e.sb.CoreDir(), gerrittest.ExtensionPath, "Example.php"))
	if !strings.Contains(string(b), "htmlspecialchars") {
		t.Errorf("extension checkout lacks the change:\n%s", b)
	}
}

func TestForcedDeployNeedsSecondApprover(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *deploy.Options) { o.RequireSecondApprover = true })
	n := e.sb.Changes["config"]
	id, err := e.agent.Start(context.Background(), deploy.Request{Changes: []string{itoa(n)}, By: alice, Force: true, Reason: "site is down"})
	if err != nil {
		t.Fatal(err)
	}
	ev := e.waitFor("needs")
	if want := "Deploy 1 is forced (outside a window; reason: site is down) and needs a second deployer: say `approve 1`, or `abort 1`."; ev.Text.String() != want {
		t.Errorf("got %q, want %q", ev.Text, want)
	}
	if err := e.agent.Approve(context.Background(), id, alice); err == nil {
		t.Error("the deployer approved their own forced deploy")
	}
	if err := e.agent.Approve(context.Background(), id, carol); err == nil {
		t.Error("a non-deployer approved")
	}
	if len(e.sb.Reviews()) != 0 {
		t.Error("voted before the approval")
	}
	if err := e.agent.Approve(context.Background(), id, bob); err != nil {
		t.Fatal(err)
	}
	e.waitFor("prepared")
	if r := e.reviews(n); len(r) != 1 || !strings.Contains(r[0].Message, "Forced: site is down") {
		t.Errorf("reviews = %+v", r)
	}
}

// crashAfterReview posts the review, then dies before recording it.
type crashAfterReview struct {
	deploy.Gerrit
	crash func()
}

func (c crashAfterReview) Review(ctx context.Context, n int, rev string, in gerrit.ReviewInput) error {
	if err := c.Gerrit.Review(ctx, n, rev, in); err != nil {
		return err
	}
	c.crash()
	return context.Canceled
}

// TestKilledDuringVote: the bot dies after Gerrit took the +2 but before
// the bot wrote that down; the new agent sees the vote and does not repeat it.
func TestKilledDuringVote(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.stop()
	e.wrapGerrit = func(g deploy.Gerrit) deploy.Gerrit { return crashAfterReview{g, func() { e.cancel() }} }
	e.start()
	n := e.sb.Changes["config"]
	e.deploy(alice, n)
	<-e.done
	e.restart()
	e.waitFor("prepared")
	if r := e.reviews(n); len(r) != 1 {
		t.Errorf("reviews = %+v, want exactly one", r)
	}
}

// TestKilledDuringRebase: the bot dies right after git rebase finished but
// before it was recorded; the new agent sees staging already updated and
// does not rebase again.
func TestKilledDuringRebase(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.stop()
	e.gitAfter = func(args []string) error {
		if args[0] == "rebase" && args[1] != "--abort" {
			e.cancel()
			return context.Canceled
		}
		return nil
	}
	e.start()
	n := e.sb.Changes["core"]
	e.deploy(alice, n)
	<-e.done
	e.restart()
	e.waitFor("prepared")
	if got := e.git.count("rebase"); got != 0 {
		t.Errorf("the resumed agent ran %d rebases, want 0", got)
	}
	log := e.gitOut(e.sb.CoreDir(), "log", "--format=%s", "-2")
	if want := "SECURITY: reject oversized requests (T9001)\nHooks: return false when no handler ran"; log != want {
		t.Errorf("core log =\n%s\nwant\n%s", log, want)
	}
}

// newPatchSetBeforeVote uploads a rework just before the bot's vote lands.
type newPatchSetBeforeVote struct {
	deploy.Gerrit
	sb *gerrittest.Sandbox
}

func (g newPatchSetBeforeVote) Review(ctx context.Context, n int, rev string, in gerrit.ReviewInput) error {
	if err := g.sb.NewPatchSet(n, "bob", []gerrittest.File{{Path: "wmf-config/InitialiseSettings.php", Content: "<?php\n$wgExampleLimit = 40;\n"}}); err != nil {
		return err
	}
	return g.Gerrit.Review(ctx, n, rev, in)
}

// TestNewPatchSetBeforeVote: Gerrit refuses the vote on the old patchset
// (409); the deployer is asked about the new one instead of a failure.
func TestNewPatchSetBeforeVote(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.stop()
	e.wrapGerrit = func(g deploy.Gerrit) deploy.Gerrit { return newPatchSetBeforeVote{g, e.sb} }
	e.start()
	n := e.sb.Changes["config"]
	e.deploy(alice, n)
	ev := e.waitFor("needs")
	if want := "alice: Bob uploaded patchset 2 of " + itoa(n) + " while we waited for the merge; it was not approved. Review it, then say `continue` to approve and deploy it, or `abort`."; ev.Text.String() != want {
		t.Errorf("got %q, want %q", ev.Text, want)
	}
	if r := e.reviews(n); len(r) != 0 {
		t.Errorf("a vote landed: %+v", r)
	}
}

// TestGerritFailsDuringWait: Gerrit answers 500 for a while during the
// merge wait; the bot says so once and carries on when it recovers.
func TestGerritFailsDuringWait(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.sb.SetGate(gerrittest.Gate{Delay: 100 * time.Millisecond})
	e.sb.OnReview(func(gerrittest.Review) { e.sb.SetFault(gerrittest.Fault{Status: 500, Count: 6}) })
	n := e.sb.Changes["config"]
	e.deploy(alice, n)
	e.waitFor("prepared")
	want := "Gerrit is failing (HTTP 500) for change " + itoa(n) + " after 2 tries; try again later. Still waiting for the merge."
	if got := strings.Count(e.history(), want); got != 1 {
		t.Errorf("history has %d× %q, want once:\n%s", got, want, e.history())
	}
}

// TestBatchAcrossRepositories: a config change that Depends-On a core
// change, deployed together: core merges first, both checkouts are updated.
func TestBatchAcrossRepositories(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	core := e.sb.Changes["core"]
	cfg, err := e.sb.Upload(gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: "master", Owner: "alice",
		Subject: "Use the new hook result", Footers: []string{"Bug: T1002", "Depends-On: " + e.sb.ChangeID(core)},
		Files: []gerrittest.File{{Path: "wmf-config/CommonSettings.php", Content: "<?php\n// uses runHooks()\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.deploy(alice, cfg, core)
	e.waitFor("prepared")
	r := e.sb.Reviews()
	if len(r) != 2 || r[0].Change != core || r[1].Change != cfg {
		t.Errorf("reviews = %+v, want core first", r)
	}
	for _, want := range []string{"Fetched staging at ", " and staging/php-1.46.0-wmf.3 at ", "Staging checkout ready: " + itoa(core) + " and " + itoa(cfg) + " on top of upstream, 1 security patch kept, tree clean."} {
		if !strings.Contains(e.history(), want) {
			t.Errorf("history lacks %q:\n%s", want, e.history())
		}
	}
	if got, _ := e.agent.Summary(context.Background(), []string{itoa(cfg), itoa(core)}); got != "Backport for [[gerrit:"+itoa(cfg)+"|Use the new hook result (T1002)]], [[gerrit:"+itoa(core)+"|Hooks: return false when no handler ran (T1002)]]" {
		t.Errorf("summary = %q", got)
	}
}

// TestSecurityPatchLostInUpdate: the verify step finds staging without its
// security patch. The public sentence names no patch; the subjects go only
// to the security event.
func TestSecurityPatchLostInUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.stop()
	core := e.sb.CoreDir()
	e.gitAfter = func(args []string) error {
		if args[0] == "rebase" && args[1] != "--abort" {
			// Someone drops the security patch right after the rebase.
			if out, err := exec.Command("git", "-C", core, "reset", "-q", "--hard", "HEAD~1").CombinedOutput(); err != nil {
				return fmt.Errorf("git reset: %v: %s", err, out)
			}
		}
		return nil
	}
	e.start()
	n := e.sb.Changes["core"]
	e.deploy(alice, n)
	sec := e.waitFor("security")
	ev := e.waitFor("failed")
	if want := "Deploy 1: The checkout staging/php-1.46.0-wmf.3 should carry the security patches [\"SECURITY: reject oversized requests (T9001)\"] on top of upstream, but has []."; sec.Text.String() != want {
		t.Errorf("security event\n%s\nwant\n%s", sec.Text, want)
	}
	if want := "alice: deploy 1 stopped: The checkout staging/php-1.46.0-wmf.3 does not carry the local security patches it should on top of upstream after the update; details sent to the security contacts privately."; !strings.HasPrefix(ev.Text.String(), want) {
		t.Errorf("got\n%s\nwant it to start with\n%s", ev.Text, want)
	}
	if strings.Contains(ev.Text.String(), "oversized") {
		t.Errorf("the public sentence names the patch: %s", ev.Text)
	}
}

// TestUncommittedAfterUpdateStaysPrivate: a file appears in staging while
// the deploy waits for the gate (a security fix being prepared by hand).
// The update leaves it, and the failure counts it in public; its name
// goes only to the security destination.
func TestUncommittedAfterUpdateStaysPrivate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.sb.Changes["core"]
	core := e.sb.CoreDir()
	e.sb.OnReview(func(gerrittest.Review) {
		if err := os.WriteFile(filepath.Join(core, "includes", "OversizedFix.php"), []byte("<?php\n"), 0o644); err != nil {
			t.Error(err)
		}
	})
	e.deploy(alice, n)
	sec := e.waitFor("security")
	ev := e.waitFor("failed")
	if strings.Contains(ev.Text.String(), "OversizedFix") || !strings.Contains(ev.Text.String(), "not clean after the update (1 file); details sent to the security contacts privately.") {
		t.Errorf("public failure: %s", ev.Text)
	}
	if !strings.Contains(sec.Text.String(), "?? includes/OversizedFix.php") {
		t.Errorf("security event: %s", sec.Text)
	}
	rec, err := e.agent.Record("1")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range append(rec.History, deploy.Entry{Text: rec.Error}) {
		if strings.Contains(h.Text, "OversizedFix") {
			t.Errorf("the deploy's record names the uncommitted file: %s", h.Text)
		}
	}
}
