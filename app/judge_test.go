package app_test

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lrstanley/girc"

	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/bot/irc/irctest"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// judgeConfig is the wiki page's policy with the deploy sandbox: backports
// in backport windows, nothing in puppet windows, RelEng and SRE approvals
// on Fridays and weekends (San Francisco time).
const judgeConfig = `
bot: {nick: jouncebot, data_dir: data}
networks: [{name: libera, type: irc, server: "IRCD", channels: [{name: "#ops"}]}]
people:
  - {name: Lucas, irc_account: lucas, roles: [deployer]}
  - {name: Urbanecm, irc_account: urbanecm, roles: [deployer]}
  - {name: Rita, irc_account: rita, roles: [releng]}
  - {name: Sam, irc_account: sam, roles: [sre]}
  - {name: Alice, irc_account: alice, gerrit: alice, roles: [owner]}
windows:
  - {name: UTC afternoon backport window, kind: backport, schedule: "0 14 * * *", duration: 1h, deployers: [Lucas, Urbanecm]}
  - {name: Puppet request window, kind: puppet, schedule: "0 16 * * *", duration: 1h, deployers: [Urbanecm]}
policy:
  windows:
    - {kind: backport, allow: [deploy, revert]}
    - {kind: puppet, allow: []}
  min_deploy_time: 10m
  roles: {releng: RelEng, sre: SRE}
  rules:
    - name: Fridays and weekends
      days: [friday, saturday, sunday]
      timezone: America/Los_Angeles
      approvals: [releng, sre]
      timeout: 1h
deploy: {sandbox: true}
`

// clock is the time the app reads, moved by the test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

type judgeEnv struct {
	t      *testing.T
	app    *app.App
	clock  *clock
	people map[string]*irctest.Client
	seen   *irctest.Client // reads everything said in #ops
	ircd   *irctest.Server
	dir    string
	stop   func()
	joins  map[*girc.Event]bool // the bot's JOINs seen by start
}

func startJudgeEnv(t *testing.T, at time.Time) *judgeEnv {
	t.Helper()
	ircd := irctest.Start(t)
	e := &judgeEnv{t: t, clock: &clock{now: at}, people: map[string]*irctest.Client{}, ircd: ircd, dir: t.TempDir(), joins: map[*girc.Event]bool{}}
	for _, p := range []string{"lucas", "urbanecm", "rita", "sam"} {
		ircd.Register(t, p, p+"-password1")
		c := ircd.Client(t, irctest.ClientConfig{Nick: p, Account: p, Password: p + "-password1"})
		c.Join(t, "#ops")
		e.people[p] = c
	}
	e.seen = e.people["lucas"]
	e.start(judgeConfig)
	return e
}

// start starts the bot from conf on the environment's data directory and
// waits for it to join.
func (e *judgeEnv) start(conf string) {
	t := e.t
	t.Helper()
	cfg, err := config.Parse([]byte(strings.Replace(conf, "IRCD", e.ircd.Addr, 1)), "jouncebot.yaml", e.dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Options{Config: cfg, Log: slog.New(slog.DiscardHandler), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.app = a
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	var once sync.Once
	e.stop = func() { once.Do(func() { cancel(); <-done; a.Close() }) }
	t.Cleanup(e.stop)
	ev := e.seen.WaitEvent(t, func(ev *girc.Event) bool {
		return ev.Command == girc.JOIN && ev.Source != nil && ev.Source.Name == "jouncebot" && !e.joins[ev]
	})
	e.joins[ev] = true
}

// restart stops the bot and starts it again from conf.
func (e *judgeEnv) restart(conf string) {
	e.t.Helper()
	e.stop()
	e.start(conf)
}

// say has who say text in #ops and waits for the bot's line there that
// starts with want (other lines, like the window announcements, pass).
func (e *judgeEnv) say(who, text, want string) {
	e.t.Helper()
	e.people[who].Say("#ops", "jouncebot: "+text)
	e.seen.Expect(e.t, func(m irctest.Msg) bool {
		return m.Command == girc.PRIVMSG && m.Nick == "jouncebot" && m.Target == "#ops" && strings.HasPrefix(m.Text, want)
	})
}

// expectAll waits until the bot said, in #ops, a line matching each of
// match, in any order (a deploy's events and the answer that started it
// race to the channel).
func (e *judgeEnv) expectAll(match ...func(text string) bool) {
	e.t.Helper()
	found := make([]bool, len(match))
	e.seen.Expect(e.t, func(m irctest.Msg) bool {
		if m.Command != girc.PRIVMSG || m.Nick != "jouncebot" || m.Target != "#ops" {
			return false
		}
		all := true
		for i, f := range match {
			found[i] = found[i] || f(m.Text)
			all = all && found[i]
		}
		return all
	})
}

// Approvals are not a verdict: the deploy engine asks the policy again
// when the last approval arrives, so a Friday deploy asked in a window
// but approved when the next window is 7 minutes away does not start, nor
// one approved after a freeze began or after the window was claimed by
// another deployer (issue 24, item 1).
func TestApprovalsDoNotStartWhatThePolicyNowRefuses(t *testing.T) {
	t.Parallel()
	friday := time.Date(2026, 11, 27, 14, 58, 0, 0, time.UTC) // 06:58 in San Francisco, in the afternoon window
	e := startJudgeEnv(t, friday)
	change := strconv.Itoa(e.app.Sandbox().Changes["config"])

	e.say("lucas", "deploy "+change, "Deploy "+change+" waits for approvals until 15:58 UTC (request r1): Deploying now: in the UTC afternoon backport window; Friday;")
	e.clock.Set(friday.Add(55 * time.Minute)) // 15:53
	e.say("rita", "approve r1", "Rita approved request r1 (Fridays and weekends). Still waiting for one SRE person.")
	e.say("sam", "approve r1", "Sam approved request r1 (Fridays and weekends). All approvals are in, but the deploy could not start: Not now: the next window, Puppet request window (Urbanecm), starts in 7 minutes at 16:00 UTC")
	e.say("lucas", "status", "No deploy in progress.")

	// A freeze that begins while the request waits.
	saturday := time.Date(2026, 11, 28, 14, 10, 0, 0, time.UTC)
	e.clock.Set(saturday)
	e.say("lucas", "deploy "+change, "Deploy "+change+" waits for approvals until 15:10 UTC (request r2)")
	e.say("urbanecm", "freeze 2026-11-28 2026-11-29 incident follow-up", "Freeze 1 recorded")
	e.say("rita", "approve r2", "Rita approved request r2")
	e.say("sam", "approve r2", "Sam approved request r2 (Fridays and weekends). All approvals are in, but the deploy could not start: Deploys are frozen: incident follow-up until 2026-11-29 00:00 UTC.")
	e.say("lucas", "status", "No deploy in progress.")

	// A claim by another deployer made while the request waits.
	sunday := time.Date(2026, 11, 29, 14, 10, 0, 0, time.UTC)
	e.clock.Set(sunday)
	e.say("lucas", "deploy "+change, "Deploy "+change+" waits for approvals until 15:10 UTC (request r3)")
	e.say("urbanecm", "claim", "Noted: Urbanecm is deploying")
	e.say("rita", "approve r3", "Rita approved request r3")
	e.say("sam", "approve r3", "Sam approved request r3 (Fridays and weekends). All approvals are in, but the deploy could not start: Not started: Deploying now: in the UTC afternoon backport window, claimed by Urbanecm; Sunday; needs Urbanecm's approval (or --force with a reason) and approvals from one RelEng and one SRE person; missing: Urbanecm (the approvals from Rita and Sam do not cover it now).")
	e.say("lucas", "status", "No deploy in progress.")
}

// An approval is of the patchsets asked for: a new patchset uploaded
// while approvals are pending voids the request and its approvals (issue
// 24, item 2).
func TestNewPatchSetVoidsApprovals(t *testing.T) {
	t.Parallel()
	saturday := time.Date(2026, 11, 28, 14, 10, 0, 0, time.UTC)
	e := startJudgeEnv(t, saturday)
	sb := e.app.Sandbox()
	n := sb.Changes["config"]
	change := strconv.Itoa(n)

	e.say("lucas", "deploy "+change, "Deploy "+change+" waits for approvals until 15:10 UTC (request r1)")
	e.say("rita", "approve r1", "Rita approved request r1 (Fridays and weekends). Still waiting for one SRE person.")
	e.say("lucas", "status", "Request r1 by Lucas to deploy "+change+" at patchset 1 waits for one SRE person until 15:10 UTC; approved by Rita (Fridays and weekends) at 14:10 UTC.")
	e.people["lucas"].Say("#ops", "jouncebot: plan "+change)
	e.seen.Expect(t, func(m irctest.Msg) bool {
		return m.Nick == "jouncebot" && strings.HasPrefix(m.Text, "Request r1 by Lucas to deploy "+change+" at patchset 1 waits for one SRE person")
	})
	if err := sb.NewPatchSet(n, "alice", []gerrittest.File{{Path: "wmf-config/InitialiseSettings.php", Content: "<?php\n$wgExampleLimit = 2000;\n$wgExampleDebug = false;\n"}}); err != nil {
		t.Fatal(err)
	}
	e.say("sam", "approve r1", "Request r1 is void: change "+change+" is at patchset 2 now, but the request was for patchset 1; its approvals do not carry over. Lucas must ask again.")
	e.say("lucas", "status", "No deploy in progress.")
}

// The policy is judged again before each stage that widens exposure: a
// freeze that begins while the deploy waits at the testservers stops it
// before the canaries, and what was synced is rolled back.
func TestFreezeStopsDeployBeforeTheNextStage(t *testing.T) {
	t.Parallel()
	s := startConsole(t, time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC)) // in the afternoon window
	freezeAtTheTestservers(s, "deploy 445113")
	s.expect("Deploy 1 was aborted by the deploy policy. Rolled back because the deploy policy aborted the deploy")
}

// freezeAtTheTestservers says command (a deploy of 445113) in the welcomed
// console, declares a freeze while the deploy waits at the testservers,
// says "tested ok" and waits until the policy stopped the deploy before
// the canaries and the testservers were rolled back.
func freezeAtTheTestservers(s *consoleSession, command string) {
	s.t.Helper()
	s.expect("Try `jouncebot: plan")
	s.say("jouncebot: " + command)
	s.expect("Deploy 1 started by amir")
	s.expect("amir, alice: Backport for [[gerrit:445113|Raise $wgExampleLimit to 20 (T1001)]] synced to the testservers.")
	s.say("jouncebot: freeze 2026-11-25 2026-11-26 incident follow-up")
	s.expect("Freeze 1 recorded")
	s.say("tested ok")
	s.expect("The deploy policy stopped the deploy before canaries: deploys are frozen (incident follow-up until 2026-11-26 00:00 UTC).")
	s.expect("testservers: 1/1 hosts rolled back and verified.")
}

// A calendar whose wiki page was never read does not say there is no next
// window: the deploy needs --force and a reason, and the refusal says why
// (issue 24, item 7).
func TestUnreadWikiCalendarNeedsForce(t *testing.T) {
	t.Parallel()
	s := runConsole(t, time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC), "", func(c *config.Config) {
		c.Calendar.Wiki = &config.WikiSource{API: "http://127.0.0.1:1/w/api.php", Page: "Deployments"} // nothing listens there
	}, app.Options{})
	s.expect("Try `jouncebot: plan")
	s.say("jouncebot: deploy 445113")
	s.expect("Deploying now: in the UTC afternoon backport window; the next window cannot be checked (the wiki's Deployments page has not been read yet); needs --force with a reason. If this cannot wait, add --force and a reason: `deploy --force 445113 <reason>`.")
	s.say("jouncebot: deploy --force 445113 the calendar is down and this cannot wait")
	s.expect("Deploy 1 started by amir")
}

// --force overrides the freeze a deploy was forced through, not one
// declared while it runs: a deploy forced outside a window is stopped
// before the canaries by a freeze that began at the testservers, and what
// was synced is rolled back.
func TestFreezeStopsForcedDeployBeforeTheNextStage(t *testing.T) {
	t.Parallel()
	s := startConsole(t, time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)) // outside any window
	freezeAtTheTestservers(s, "deploy --force 445113 the fix cannot wait for the window")
	s.expect("Deploy 1 was aborted by the deploy policy.")
}

// --force given while a request waits for approvals overrides only the
// freezes in force (and shown) when it was given: a freeze declared while
// the request waited stops it when the last approval arrives, with a
// sentence naming the freeze; a freeze that was in force when the force
// was given does not (issue 24, remainder 3).
func TestForcedRequestStopsAtAFreezeDeclaredWhileItWaited(t *testing.T) {
	t.Parallel()
	saturday := time.Date(2026, 11, 28, 12, 10, 0, 0, time.UTC) // outside any window
	e := startJudgeEnv(t, saturday)
	change := strconv.Itoa(e.app.Sandbox().Changes["config"])

	e.say("lucas", "deploy --force "+change+" the fix cannot wait", "Deploy "+change+" waits for approvals until 13:10 UTC (request r1)")
	e.clock.Set(saturday.Add(10 * time.Minute)) // 12:20
	e.say("urbanecm", "freeze 2026-11-28 2026-11-29 incident follow-up", "Freeze 1 recorded")
	e.say("rita", "approve r1", "Rita approved request r1 (Fridays and weekends). Still waiting for one SRE person.")
	e.say("sam", "approve r1", "Sam approved request r1 (Fridays and weekends). All approvals are in, but the deploy could not start: Deploys are frozen: incident follow-up until 2026-11-29 00:00 UTC, declared at 12:20 UTC, after --force was given at 12:10 UTC; --force overrides only a freeze in force when it was given. If this still cannot wait, ask again: `deploy --force "+change+" <reason>`.")
	e.say("lucas", "status", "No deploy in progress.")

	// Forced through that freeze, then another one is declared that ends
	// sooner: the older freeze, ending last, covers nothing the force
	// did not see, the newer one stops the request.
	e.clock.Set(saturday.Add(15 * time.Minute)) // 12:25
	e.say("lucas", "deploy --force "+change+" the fix cannot wait, freeze or not", "Deploy "+change+" waits for approvals until 13:25 UTC (request r2)")
	e.clock.Set(saturday.Add(17 * time.Minute)) // 12:27
	e.say("urbanecm", "freeze 2026-11-28 2026-11-28T23:00Z second incident", "Freeze 2 recorded")
	e.say("rita", "approve r2", "Rita approved request r2 (Fridays and weekends). Still waiting for one SRE person.")
	e.say("sam", "approve r2", "Sam approved request r2 (Fridays and weekends). All approvals are in, but the deploy could not start: Deploys are frozen: second incident until 2026-11-28 23:00 UTC, declared at 12:27 UTC, after --force was given at 12:25 UTC;")

	// Forced through the freezes in force when asked: approvals start it.
	e.clock.Set(saturday.Add(20 * time.Minute)) // 12:30
	e.say("lucas", "deploy --force "+change+" the fix still cannot wait", "Deploy "+change+" waits for approvals until 13:30 UTC (request r3)")
	e.say("rita", "approve r3", "Rita approved request r3 (Fridays and weekends). Still waiting for one SRE person.")
	e.say("sam", "approve r3", "Sam approved request r3 (Fridays and weekends). All approvals are in; deploy 1 started.")
}

// startApprovedByRita starts the environment on a Saturday in the
// afternoon window (14:10 UTC), where deploys need a RelEng and an SRE
// approval, has Lucas ask to deploy the sandbox's config change n
// (request r1) and Rita approve it: Sam's approval is the last.
func startApprovedByRita(t *testing.T) (e *judgeEnv, sb *deploy.Sandbox, n int) {
	t.Helper()
	e = startJudgeEnv(t, time.Date(2026, 11, 28, 14, 10, 0, 0, time.UTC))
	sb = e.app.Sandbox()
	n = sb.Changes["config"]
	change := strconv.Itoa(n)
	e.say("lucas", "deploy "+change, "Deploy "+change+" waits for approvals until 15:10 UTC (request r1)")
	e.say("rita", "approve r1", "Rita approved request r1")
	return e, sb, n
}

// deployStarted matches the answer to Sam's approval of r1 that starts
// deploy 1.
func deployStarted(text string) bool {
	return text == "Sam approved request r1 (Fridays and weekends). All approvals are in; deploy 1 started."
}

// rework is a new patchset of the sandbox's config change that nobody
// approved.
var rework = []gerrittest.File{{Path: "wmf-config/InitialiseSettings.php", Content: "<?php\n$wgExampleLimit = 1;\n$wgExampleDebug = true;\n"}}

// A deploy started by approvals records what they were for (the changes
// at their patchsets) and, once frozen, the release that holds exactly
// that; status shows both. Upstream holding something else by then stops
// it before the freeze, saying what the approvals were for (issue 24,
// remainder 2).
func TestApprovedDeployRecordsWhatWasApprovedAndItsRelease(t *testing.T) {
	t.Parallel()
	e, _, n := startApprovedByRita(t)
	change := strconv.Itoa(n)
	var release string
	e.people["sam"].Say("#ops", "jouncebot: approve r1")
	e.expectAll(deployStarted, func(text string) bool {
		if !strings.HasPrefix(text, "Froze release ") {
			return false
		}
		release, _, _ = strings.Cut(strings.TrimPrefix(text, "Froze release "), " ")
		return true
	})
	e.people["lucas"].Say("#ops", "jouncebot: status")
	want := "Policy: approved by Rita (Fridays and weekends) and Sam (Fridays and weekends) for " + change + " at patchset 1, frozen as release " + release + "."
	e.seen.Expect(t, func(m irctest.Msg) bool {
		return m.Nick == "jouncebot" && strings.HasPrefix(m.Text, "Deploy 1 by Lucas since") && strings.Contains(m.Text, want)
	})
}

// Another commit landing upstream between the approvals and the freeze
// stops the approved deploy before anything is frozen, saying what the
// approvals were for (issue 24, remainder 2).
func TestApprovedDeployStopsWhenUpstreamHoldsMore(t *testing.T) {
	t.Parallel()
	e, sb, n := startApprovedByRita(t)
	change := strconv.Itoa(n)
	sb.OnReview(func(gerrittest.Review) {
		sb.PushDirect(gerrittest.ConfigProject, gerrittest.ConfigBranch, "Sneaky change", []gerrittest.File{{Path: "sneaky.php", Content: "<?php\n"}})
	})
	e.people["sam"].Say("#ops", "jouncebot: approve r1")
	e.expectAll(deployStarted, func(text string) bool {
		return strings.Contains(text, "deploy 1 stopped: Upstream of ") && strings.Contains(text, `"Sneaky change"`) &&
			strings.Contains(text, "The approvals were for "+change+" at patchset 1 only: ask again once they are deployed deliberately or reverted.")
	})
}

// A rework hidden behind a trivial rebase is not the approved code: when
// a new patchset (a rework) and a rebase of it both arrive between two
// looks of the engine, the current patchset's kind says TRIVIAL_REBASE,
// but it is trivial only against the unapproved rework. The deploy pauses
// instead of carrying the approvals over to it (issue 24, remainder 2).
func TestReworkBehindATrivialRebaseIsNotApproved(t *testing.T) {
	t.Parallel()
	e, sb, n := startApprovedByRita(t)
	change := strconv.Itoa(n)
	var once sync.Once
	sb.OnReview(func(rv gerrittest.Review) {
		if rv.Change != n || rv.Labels["Code-Review"] != 2 {
			return
		}
		once.Do(func() {
			if err := sb.NewPatchSet(n, "alice", rework); err != nil {
				t.Error(err)
			}
			if _, err := sb.PushDirect(gerrittest.ConfigProject, gerrittest.ConfigBranch, "Unrelated", []gerrittest.File{{Path: "unrelated.php", Content: "<?php\n"}}); err != nil {
				t.Error(err)
			}
			if err := sb.Rebase(n, "alice"); err != nil {
				t.Error(err)
			}
		})
	})
	e.people["sam"].Say("#ops", "jouncebot: approve r1")
	e.seen.Expect(t, func(m irctest.Msg) bool {
		if m.Nick != "jouncebot" {
			return false
		}
		if strings.Contains(m.Text, change+" was rebased by") {
			t.Errorf("the approvals for patchset 1 were carried over a rework: %q", m.Text)
			return true
		}
		return strings.Contains(m.Text, "uploaded patchset 3 of "+change+" while we waited for the merge; it was not approved")
	})
}

// A change the gate merges at a patchset nobody approved (a rework
// another Gerrit user gave +2 between two looks of the engine) stops the
// deploy before anything is fetched or frozen (issue 24, remainder 2).
func TestMergedAtAnUnapprovedPatchSetStops(t *testing.T) {
	t.Parallel()
	e, sb, n := startApprovedByRita(t)
	change := strconv.Itoa(n)
	var once sync.Once
	sb.OnReview(func(rv gerrittest.Review) {
		if rv.Change != n || rv.Labels["Code-Review"] != 2 {
			return
		}
		once.Do(func() {
			// The engine cannot look until the rework has merged.
			sb.SetFault(gerrittest.Fault{Status: http.StatusInternalServerError, Method: http.MethodGet})
			if err := sb.NewPatchSet(n, "alice", rework); err != nil {
				t.Error(err)
			}
			if err := sb.Vote(n, "alice", "Code-Review", 2); err != nil {
				t.Error(err)
			}
		})
	})
	e.people["sam"].Say("#ops", "jouncebot: approve r1")
	e.seen.Expect(t, func(m irctest.Msg) bool {
		return m.Nick == "jouncebot" && strings.Contains(m.Text, "Still waiting for the merge.")
	})
	for deadline := time.Now().Add(testenv.Scale(time.Minute)); sb.Status(n) != "MERGED"; time.Sleep(10 * time.Millisecond) { // polls the fake Gerrit; the gate looks once, after its delay
		if time.Now().After(deadline) {
			t.Fatalf("the gate did not merge the rework; status %s", sb.Status(n))
		}
	}
	sb.SetFault(gerrittest.Fault{})
	e.seen.Expect(t, func(m irctest.Msg) bool {
		if m.Nick != "jouncebot" {
			return false
		}
		if strings.HasPrefix(m.Text, "Froze release ") || strings.Contains(m.Text, change+" merged.") {
			t.Errorf("a patchset nobody approved was taken as the approved one: %q", m.Text)
			return true
		}
		return strings.Contains(m.Text, "deploy 1 stopped: "+change+" merged at patchset 2")
	})
}

// A configured freeze taken out of the configuration and put back while a
// forced request waited was not in force when --force was given: the
// request stops at it, though the freeze was first seen long before
// (issue 24, remainder 3).
func TestForcedRequestStopsAtAConfiguredFreezePutBack(t *testing.T) {
	t.Parallel()
	saturday := time.Date(2026, 11, 28, 12, 10, 0, 0, time.UTC) // outside any window
	e := startJudgeEnv(t, saturday)
	frozen := judgeConfig + "freezes: [{from: 2026-11-27T00:00:00Z, to: 2026-11-30T00:00:00Z, reason: incident follow-up}]\n"
	e.restart(frozen) // seen at 12:10
	e.clock.Set(saturday.Add(10 * time.Minute))
	e.restart(judgeConfig) // lifted at 12:20
	change := strconv.Itoa(e.app.Sandbox().Changes["config"])
	e.clock.Set(saturday.Add(15 * time.Minute))
	e.say("lucas", "deploy --force "+change+" the fix cannot wait", "Deploy "+change+" waits for approvals until 13:25 UTC (request r1)")
	e.clock.Set(saturday.Add(20 * time.Minute))
	e.restart(frozen) // back at 12:30
	e.say("rita", "approve r1", "Rita approved request r1 (Fridays and weekends). Still waiting for one SRE person.")
	e.say("sam", "approve r1", "Sam approved request r1 (Fridays and weekends). All approvals are in, but the deploy could not start: Deploys are frozen: incident follow-up until 2026-11-30 00:00 UTC, declared at 12:30 UTC, after --force was given at 12:25 UTC;")
}

// A revert through Gerrit that needed approvals deploys the reverts it
// pushed: the approvals were for reverting the change, and the reverts
// the engine made itself have no patchset anyone could have pinned.
func TestApprovedRevertViaGerritStarts(t *testing.T) {
	t.Parallel()
	e, _, n := startApprovedByRita(t)
	change := strconv.Itoa(n)
	e.people["sam"].Say("#ops", "jouncebot: approve r1")
	e.expectAll(deployStarted, func(text string) bool { return strings.HasPrefix(text, "Reply \"tested ok\"") })
	e.people["lucas"].Say("#ops", "tested ok")
	e.seen.Expect(t, func(m irctest.Msg) bool { return strings.Contains(m.Text, "deploy 1 is done") })
	e.say("lucas", "revert --via-gerrit "+change+" the limit breaks uploads", "Revert "+change+" waits for approvals until 15:10 UTC (request r2)")
	e.say("rita", "approve r2", "Rita approved request r2")
	e.say("sam", "approve r2", "Sam approved request r2 (Fridays and weekends). All approvals are in; revert 2 started.")
}
