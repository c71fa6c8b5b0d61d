package commands

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/policy"
	"github.com/jouncebot/jouncebot/store"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// policyEngine records the deploys and reverts the policy lets through.
type policyEngine struct {
	deploy.Service
	mu      sync.Mutex
	started []deploy.Request
	reverts []deploy.RevertRequest
}

func (e *policyEngine) Start(_ context.Context, r deploy.Request) (deploy.ID, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.started = append(e.started, r)
	return "7", nil
}

func (e *policyEngine) Revert(_ context.Context, r deploy.RevertRequest) (deploy.ID, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reverts = append(e.reverts, r)
	return "8", nil
}

func (e *policyEngine) Plan(context.Context, []string) (bot.Text, error) {
	return bot.T("Deploying 445113 would: +2 it in Gerrit, wait for the merge, …"), nil
}

func (e *policyEngine) Status(context.Context) (deploy.Status, error) { return deploy.Status{}, nil }

func (e *policyEngine) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.started) + len(e.reverts)
}

type fixedWindows struct{ cal *calendar.Calendar }

func (f fixedWindows) Calendar() *calendar.Calendar { return f.cal }
func (f fixedWindows) ActiveFreeze(time.Time) (calendar.Freeze, bool) {
	return calendar.Freeze{}, false
}

// policyConfig is the wiki page's policy: backports in backport windows,
// the train for its deployers, nothing in puppet windows, and RelEng and
// SRE approvals on Fridays and weekends (San Francisco time).
const policyConfig = `
bot: {nick: jouncebot}
networks: [{name: libera, type: irc, server: "127.0.0.1:6667", channels: [{name: "#ops"}]}]
people:
  - {name: Amir, irc_account: amir, roles: [deployer]}
  - {name: Jeena, irc_account: jeena, roles: [deployer]}
  - {name: Lucas, irc_account: lucas, roles: [deployer]}
  - {name: Urbanecm, irc_account: urbanecm, roles: [deployer]}
  - {name: Rita, irc_account: rita, roles: [releng]}
  - {name: Sam, irc_account: sam, roles: [sre]}
  - {name: Kosta, irc_account: kharlan, roles: [owner]}
  - {name: Tyler, irc_account: thcipriani, roles: [releng, sre]}
  - {name: Ada, irc_account: ada, roles: [admin]}
windows:
  - {name: UTC afternoon backport window, kind: backport, schedule: "0 14 * * *", duration: 1h, deployers: [Lucas, Urbanecm]}
  - {name: UTC late backport window, kind: backport, schedule: "0 21 * * *", duration: 1h, deployers: [Jeena, Urbanecm]}
  - {name: Puppet request window, kind: puppet, schedule: "0 16 * * *", duration: 1h, deployers: [Urbanecm]}
  - {name: MediaWiki train - UTC-0 version, kind: train, schedule: "0 18 * * *", duration: 2h, deployers: [Jeena]}
policy:
  windows:
    - {kind: backport, allow: [deploy, revert]}
    - {kind: train, allow: [deploy, revert], deployers_only: true}
    - {kind: puppet, allow: []}
    - {kind: other, allow: [deploy, revert]}
  claimed_windows: ask
  min_deploy_time: 10m
  approval_timeout: 30m
  roles: {releng: RelEng, sre: SRE}
  rules:
    - name: Fridays and weekends
      days: [friday, saturday, sunday]
      timezone: America/Los_Angeles
      holidays: ["2026-12-25"]
      approvals: [releng, sre]
      timeout: 1h
`

type policyEnv struct {
	t      *testing.T
	d      *Dispatcher
	eng    *policyEngine
	gate   *policy.Gate
	book   *calendar.Book
	now    time.Time
	lapses []string
	mu     sync.Mutex
}

func newPolicyEnv(t *testing.T, now time.Time) *policyEnv {
	t.Helper()
	return newPolicyEnvWith(t, now, policyConfig)
}

func newPolicyEnvWith(t *testing.T, now time.Time, yaml string) *policyEnv {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), "jouncebot.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "jouncebot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &policyEnv{t: t, eng: &policyEngine{}, book: calendar.NewBook(db), now: now}
	rules := policy.FromConfig(cfg)
	e.gate = policy.NewGate(db, policy.GateOptions{Start: StartApproved(e.eng), RoleNames: rules.RoleNames,
		Notify: func(_ context.Context, origin string, t bot.Text) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.lapses = append(e.lapses, origin+" "+t.String())
		}})
	cal := calendar.New(calendar.Expand(cfg.Windows, now.Add(-24*time.Hour), now.Add(48*time.Hour)))
	e.d = NewDispatcher(Options{Config: cfg, Log: slog.New(slog.DiscardHandler)})
	e.d.Register(DeployCommands(DeployOptions{Engine: e.eng, Calendar: fixedWindows{cal}, Now: func() time.Time { return e.now },
		Policy: &Policy{Rules: rules, Gate: e.gate,
			Claims: func() (map[string]string, error) {
				cs, err := e.book.Claims()
				out := map[string]string{}
				for id, c := range cs {
					out[id] = c.Person
				}
				return out, err
			},
			Person: func(name string) bot.Person { return calendar.PersonFor(cfg, name) },
		}})...)
	return e
}

func (e *policyEnv) say(account, text string) string {
	e.t.Helper()
	return strings.Join(ask(e.t, e.d, account, account, text), "\n")
}

// A window whose kind forbids the deploy refuses it, and --force does not
// override that (issue 24, item 3).
func TestPolicyBackportInPuppetWindowRefusedEvenForced(t *testing.T) {
	e := newPolicyEnv(t, time.Date(2026, 11, 25, 16, 20, 0, 0, time.UTC)) // Wednesday, in the puppet window
	want := "Not now, not even with --force: the Puppet request window allows no deploys. Wait until that window ends, or ask its deployers."
	if got := e.say("amir", "jouncebot: deploy 445113"); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := e.say("amir", "jouncebot: deploy --force 445113 fixes the outage"); got != want {
		t.Errorf("forced: got\n%s\nwant\n%s", got, want)
	}
	if e.eng.count() != 0 {
		t.Fatal("a backport started in the puppet window")
	}
}

func TestPolicyClaimedWindowAsksClaimer(t *testing.T) {
	now := time.Date(2026, 11, 25, 21, 10, 0, 0, time.UTC) // Wednesday, in the late backport window
	e := newPolicyEnv(t, now)
	if _, err := e.book.SetClaim(calendar.Claim{WindowID: "utc-late-backport-window@2026-11-25T21:00Z", Person: "Jeena", At: now}); err != nil {
		t.Fatal(err)
	}
	got := e.say("amir", "jouncebot: deploy 445113")
	want := "Deploy 445113 waits for approvals until 21:40 UTC (request r1): Deploying now: in the UTC late backport window, claimed by Jeena; needs Jeena's approval (or --force with a reason).\n" +
		"jeena: Amir asks to deploy 445113 in the UTC late backport window you claimed; say `approve r1` to let it go ahead (or Amir can add --force and a reason)."
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if e.eng.count() != 0 {
		t.Fatal("the deploy started before the claimer approved")
	}
	if got := e.say("lucas", "jouncebot: approve r1"); !strings.Contains(got, "waits for approval from Jeena, and you are not one of them") {
		t.Errorf("another deployer's approve: %q", got)
	}
	if got := e.say("amir", "jouncebot: approve"); !strings.Contains(got, "the approvals must come from someone else") {
		t.Errorf("self-approval: %q", got)
	}
	if got, want := e.say("jeena", "jouncebot: approve r1"), "Jeena approved request r1 (claimed window UTC late backport window). All approvals are in; deploy 7 started."; got != want {
		t.Errorf("claimer's approve: got %q, want %q", got, want)
	}
	if len(e.eng.started) != 1 {
		t.Fatalf("engine got %d deploys", len(e.eng.started))
	}
	r := e.eng.started[0]
	if !r.InWindow || r.Window != "UTC late backport window" || len(r.Approvals) != 1 || r.Approvals[0].By != "Jeena" || !r.Approvals[0].At.Equal(now) {
		t.Errorf("engine request %+v", r)
	}
	// The claimer deploys in their own window without asking anyone.
	if got := e.say("jeena", "jouncebot: deploy 445114"); got != "" {
		t.Errorf("claimer's own deploy: %q", got)
	}
}

func TestPolicyForcedDeployBeforeNextWindowRefused(t *testing.T) {
	e := newPolicyEnv(t, time.Date(2026, 11, 25, 13, 55, 0, 0, time.UTC)) // 5 minutes before the afternoon window
	got := e.say("amir", "jouncebot: deploy --force 445113 urgent fix")
	want := "Not now: the next window, UTC afternoon backport window (Lucas and Urbanecm), starts in 5 minutes at 14:00 UTC, and a deploy takes about 10 minutes (the configured minimum); deploy in a window, or after 15:00 UTC."
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if e.eng.count() != 0 {
		t.Fatal("the forced deploy started")
	}
	// Half an hour earlier it fits, and policy says how much time there is.
	e.now = time.Date(2026, 11, 25, 13, 25, 0, 0, time.UTC)
	got = e.say("amir", "jouncebot: policy")
	if !strings.Contains(got, "The next window, UTC afternoon backport window (Lucas and Urbanecm), starts in 35 minutes at 14:00 UTC; a deploy takes about 10 minutes (the configured minimum), so one started now can finish before it.") {
		t.Errorf("policy:\n%s", got)
	}
}

func TestPolicyFridayNeedsRelEngAndSRE(t *testing.T) {
	friday := time.Date(2026, 11, 27, 14, 10, 0, 0, time.UTC) // Friday 06:10 in San Francisco, in the afternoon window
	e := newPolicyEnv(t, friday)
	got := e.say("lucas", "jouncebot: deploy 445113")
	want := "Deploy 445113 waits for approvals until 15:10 UTC (request r1): Deploying now: in the UTC afternoon backport window; Friday; needs approvals from one RelEng and one SRE person.\n" +
		"Fridays and weekends: one RelEng person must say `approve r1`.\n" +
		"Fridays and weekends: one SRE person must say `approve r1`."
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// A deployer's approve is not enough.
	if got := e.say("jeena", "jouncebot: approve r1"); got != "Thanks, Jeena, but request r1 waits for approval from one RelEng person and one SRE person, and you are not one of them." {
		t.Errorf("deployer's approve: %q", got)
	}
	e.now = friday.Add(5 * time.Minute)
	if got := e.say("rita", "jouncebot: approve"); got != "Rita approved request r1 (Fridays and weekends). Still waiting for one SRE person." {
		t.Errorf("RelEng approve: %q", got)
	}
	if got := e.say("rita", "jouncebot: approve r1"); !strings.Contains(got, "You already approved request r1") {
		t.Errorf("second approve by the same person: %q", got)
	}
	if got := e.say("kharlan", "jouncebot: status"); got != "No deploy in progress.\nRequest r1 by Lucas to deploy 445113 waits for one SRE person until 15:10 UTC; approved by Rita (Fridays and weekends) at 14:15 UTC." {
		t.Errorf("status: %q", got)
	}
	if e.eng.count() != 0 {
		t.Fatal("started with one of two approvals")
	}
	if got := e.say("sam", "jouncebot: approve r1"); got != "Sam approved request r1 (Fridays and weekends). All approvals are in; deploy 7 started." {
		t.Errorf("SRE approve: %q", got)
	}
	want2 := []deploy.Approval{{By: "Rita", At: friday.Add(5 * time.Minute), Rule: "Fridays and weekends"}, {By: "Sam", At: friday.Add(5 * time.Minute), Rule: "Fridays and weekends"}}
	if diff := cmp.Diff(want2, e.eng.started[0].Approvals); diff != "" {
		t.Errorf("approvals (-want +got):\n%s", diff)
	}
}

func TestPolicyRequestWithdrawn(t *testing.T) {
	e := newPolicyEnv(t, time.Date(2026, 11, 27, 14, 10, 0, 0, time.UTC))
	e.say("lucas", "jouncebot: deploy 445113")
	if got := e.say("amir", "jouncebot: abort r1"); got != "Only Lucas, who asked for request r1, can withdraw it." {
		t.Errorf("someone else's abort: %q", got)
	}
	if got := e.say("lucas", "jouncebot: abort r1"); got != "Request r1 withdrawn; nothing was done." {
		t.Errorf("abort: %q", got)
	}
	if got := e.say("rita", "jouncebot: approve r1"); got != "Request r1 no longer waits for approvals (aborted)." {
		t.Errorf("approve after the abort: %q", got)
	}
	if got := e.say("kharlan", "jouncebot: status"); got != "No deploy in progress." {
		t.Errorf("status: %q", got)
	}
}

func TestPolicyFridayRequestLapses(t *testing.T) {
	friday := time.Date(2026, 11, 27, 14, 10, 0, 0, time.UTC)
	e := newPolicyEnv(t, friday)
	e.say("lucas", "jouncebot: deploy 445113")
	e.say("rita", "jouncebot: approve r1")
	// A minute before the deadline nothing lapses; at it, the request does.
	if err := e.gate.Lapse(context.Background(), friday.Add(59*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if len(e.lapses) != 0 {
		t.Fatalf("lapsed early: %q", e.lapses)
	}
	if err := e.gate.Lapse(context.Background(), friday.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	want := []string{"libera\t#ops Request r1 by Lucas to deploy 445113 lapsed at 15:10 UTC without approval from one SRE person; nothing was done. Ask again when they are around."}
	if diff := cmp.Diff(want, e.lapses); diff != "" {
		t.Errorf("lapse notice (-want +got):\n%s", diff)
	}
	e.now = friday.Add(61 * time.Minute)
	if got := e.say("sam", "jouncebot: approve r1"); got != "Request r1 lapsed at 15:10 UTC; Lucas must ask again." {
		t.Errorf("approve after the lapse: %q", got)
	}
	if e.eng.count() != 0 {
		t.Fatal("a lapsed request started")
	}
}

// The texts of policy and plan, at a few moments of a week, compared
// with testdata/policy.golden (go test -update rewrites it).
func TestPolicyAndPlanTexts(t *testing.T) {
	moments := []struct {
		name, account, text string
		at                  time.Time
	}{
		{"Wednesday in the afternoon window", "amir", "jouncebot: policy", time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC)},
		{"Wednesday in the puppet window", "amir", "jouncebot: plan 445113", time.Date(2026, 11, 25, 16, 20, 0, 0, time.UTC)},
		{"train window, not its deployer", "amir", "jouncebot: policy", time.Date(2026, 11, 25, 18, 30, 0, 0, time.UTC)},
		{"train window, its deployer", "jeena", "jouncebot: policy", time.Date(2026, 11, 25, 18, 30, 0, 0, time.UTC)},
		{"Friday outside any window", "amir", "jouncebot: policy", time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)},
		{"Friday outside, plan", "amir", "jouncebot: plan 445113", time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)},
		{"Christmas, a Friday", "amir", "jouncebot: policy revert", time.Date(2026, 12, 25, 22, 0, 0, 0, time.UTC)},
		{"Thursday evening, Friday in San Francisco not yet", "amir", "jouncebot: policy", time.Date(2026, 11, 27, 7, 30, 0, 0, time.UTC)},
	}
	var b strings.Builder
	for _, m := range moments {
		e := newPolicyEnv(t, m.at)
		b.WriteString("## " + m.name + " (" + m.at.Format(time.RFC3339) + "), " + m.account + ": " + m.text + "\n")
		b.WriteString(e.say(m.account, m.text) + "\n\n")
	}
	golden := filepath.Join("testdata", "policy.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("texts differ from %s (-want +got); run go test -update to accept:\n%s", golden, diff)
	}
}

// revert goes through the same policy: refused in the puppet window
// without --force, and on a Friday started only with its approvals.
func TestPolicyRevert(t *testing.T) {
	e := newPolicyEnv(t, time.Date(2026, 11, 25, 16, 20, 0, 0, time.UTC))
	if got := e.say("amir", "jouncebot: revert --force 445113 broke it"); !strings.HasPrefix(got, "Not now, not even with --force: the Puppet request window allows no reverts.") {
		t.Errorf("revert in the puppet window: %q", got)
	}
	friday := time.Date(2026, 11, 27, 14, 10, 0, 0, time.UTC)
	e.now = friday
	if got := e.say("lucas", "jouncebot: revert 445113 broke the login"); !strings.HasPrefix(got, "Revert 445113 waits for approvals until 15:10 UTC (request r1): Reverting now: in the UTC afternoon backport window; Friday;") {
		t.Errorf("Friday revert: %q", got)
	}
	e.say("rita", "jouncebot: approve r1")
	if got := e.say("sam", "jouncebot: approve r1"); got != "Sam approved request r1 (Fridays and weekends). All approvals are in; revert 8 started." {
		t.Errorf("last approve: %q", got)
	}
	if len(e.eng.reverts) != 1 || e.eng.reverts[0].Reason != "broke the login" || len(e.eng.reverts[0].Approvals) != 2 || !e.eng.reverts[0].InWindow {
		t.Errorf("engine got %+v", e.eng.reverts)
	}
}

// Without a policy section every window kind allows every deploy, a
// claimed window still asks its claimer, and a forced deploy must fit
// before the next window.
func TestPolicyDefaults(t *testing.T) {
	bare := policyConfig[:strings.Index(policyConfig, "policy:")]
	bare = strings.ReplaceAll(bare, "roles: [releng]", "roles: [deployer]")
	bare = strings.ReplaceAll(bare, "roles: [sre]", "roles: [deployer]")
	bare = strings.ReplaceAll(bare, "roles: [releng, sre]", "roles: [deployer]")
	e := newPolicyEnvWith(t, time.Date(2026, 11, 27, 16, 20, 0, 0, time.UTC), bare) // a Friday, in the puppet window
	if got := e.say("amir", "jouncebot: deploy 445113"); got != "" || len(e.eng.started) != 1 {
		t.Errorf("deploy in the puppet window without a policy: %q, %d started", got, len(e.eng.started))
	}
	now := time.Date(2026, 11, 25, 21, 10, 0, 0, time.UTC)
	e = newPolicyEnvWith(t, now, bare)
	e.book.SetClaim(calendar.Claim{WindowID: "utc-late-backport-window@2026-11-25T21:00Z", Person: "Jeena", At: now})
	if got := e.say("amir", "jouncebot: deploy 445113"); !strings.Contains(got, "jeena: Amir asks to deploy 445113 in the UTC late backport window you claimed") {
		t.Errorf("claimed window without a policy: %q", got)
	}
	e = newPolicyEnvWith(t, time.Date(2026, 11, 25, 13, 55, 0, 0, time.UTC), bare)
	if got := e.say("amir", "jouncebot: deploy --force 445113 urgent"); !strings.HasPrefix(got, "Not now: the next window, UTC afternoon backport window") {
		t.Errorf("5 minutes before a window without a policy: %q", got)
	}
}

// Approver slots are filled by matching, not first come first served: the
// person with both roles who approves first does not take the slot only
// the RelEng person can fill, and an admin is not every role unless the
// policy says so (issue 24, item 4).
func TestPolicyApproversMatched(t *testing.T) {
	e := newPolicyEnv(t, time.Date(2026, 11, 27, 14, 10, 0, 0, time.UTC))
	e.say("lucas", "jouncebot: deploy 445113")
	if got := e.say("ada", "jouncebot: approve r1"); got != "Thanks, Ada, but request r1 waits for approval from one RelEng person and one SRE person, and you are not one of them." {
		t.Errorf("admin's approve: %q", got)
	}
	if got := e.say("thcipriani", "jouncebot: approve r1"); got != "Tyler approved request r1 (Fridays and weekends). Still waiting for one SRE person." {
		t.Errorf("approve by both roles: %q", got)
	}
	if got := e.say("rita", "jouncebot: approve r1"); got != "Rita approved request r1 (Fridays and weekends). All approvals are in; deploy 7 started." {
		t.Errorf("the only RelEng person's approve: %q", got)
	}
}
