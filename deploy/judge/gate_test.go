package judge_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/judge"
	"github.com/jouncebot/jouncebot/deploy/record"
)

// people are those the chat side knows, by Gerrit username: carol has
// no chat identity, so she cannot be asked.
var people = map[string]bot.Person{
	"alice": {Name: "Alice", IRCNick: "alice_"},
	"bob":   {Name: "Bob", IRCNick: "bob"},
	"dave":  {Name: "Dave", MatrixID: "@dave:example.org"},
}

func owner(user string) (bot.Person, bool) {
	p, ok := people[user]
	return p, ok
}

var alice = record.Person{Name: "Alice", IRCNick: "alice_", Gerrit: "alice", Deployer: true}

// deploy is deploy 7 by Alice of bob's 101, carol's 102 and dave's 103,
// synced as release r2.
func deploy() *record.Deploy {
	return &record.Deploy{
		ID: "7",
		By: alice,
		Changes: []record.Change{
			{Number: 101, Subject: "Fix the thing", Owner: "bob", OwnerName: "Bob", PatchSet: 2},
			{Number: 102, Subject: "Tune the cache", Owner: "carol", OwnerName: "Carol", PatchSet: 1},
			{Number: 103, Subject: "Log less", Owner: "dave", OwnerName: "Dave", PatchSet: 4},
		},
		Sync: &record.SyncRecord{Release: "r2"},
	}
}

func answer(who, gerrit string, ok bool) record.Confirmation {
	return record.Confirmation{Who: who, Gerrit: gerrit, OK: ok, Release: "r2"}
}

func TestGateDecide(t *testing.T) {
	deployerOK := answer("Alice", "alice", true)
	deployerOK.Deployer = true
	old := answer("Bob", "bob", false)
	old.Release = "r1"
	for _, tt := range []struct {
		name    string
		gate    judge.Gate
		answers []record.Confirmation
		want    judge.Outcome
		by      string
	}{
		{name: "no answers", gate: judge.Gate{Owner: owner}, want: judge.Waiting},
		{name: "one owner of two askable", gate: judge.Gate{Owner: owner}, answers: []record.Confirmation{answer("Bob", "bob", true)}, want: judge.Waiting},
		{name: "every askable owner", gate: judge.Gate{Owner: owner}, answers: []record.Confirmation{answer("Bob", "bob", true), answer("Dave", "dave", true)}, want: judge.Passed},
		{name: "an owner who cannot be asked is not waited for", gate: judge.Gate{Owner: owner}, answers: []record.Confirmation{answer("Dave", "dave", true), answer("Bob", "bob", true)}, want: judge.Passed},
		{name: "one owner is enough", gate: judge.Gate{Owner: owner, OneOwnerEnough: true}, answers: []record.Confirmation{answer("Dave", "dave", true)}, want: judge.Passed},
		{name: "an owner's ok twice counts once", gate: judge.Gate{Owner: owner}, answers: []record.Confirmation{answer("Bob", "bob", true), answer("Bob", "bob", true)}, want: judge.Waiting},
		{name: "the deployer's ok", gate: judge.Gate{Owner: owner}, answers: []record.Confirmation{deployerOK}, want: judge.Passed},
		{name: "a fail", gate: judge.Gate{Owner: owner}, answers: []record.Confirmation{answer("Bob", "bob", true), answer("Dave", "dave", false)}, want: judge.Failed, by: "Dave"},
		{name: "a fail before the deployer's ok", gate: judge.Gate{Owner: owner}, answers: []record.Confirmation{answer("Carol", "carol", false), deployerOK}, want: judge.Failed, by: "Carol"},
		{name: "the deployer's ok before a fail", gate: judge.Gate{Owner: owner}, answers: []record.Confirmation{deployerOK, answer("Bob", "bob", false)}, want: judge.Passed},
		{name: "a fail about another release", gate: judge.Gate{Owner: owner}, answers: []record.Confirmation{old}, want: judge.Waiting},
		{name: "nobody askable: every owner must", answers: []record.Confirmation{answer("Bob", "bob", true), answer("Dave", "dave", true)}, want: judge.Waiting},
		{name: "nobody askable: every owner did", answers: []record.Confirmation{answer("Bob", "bob", true), answer("Carol", "carol", true), answer("Dave", "dave", true)}, want: judge.Passed},
		{name: "nobody askable, one owner is enough", gate: judge.Gate{OneOwnerEnough: true}, answers: []record.Confirmation{answer("Carol", "carol", true)}, want: judge.Passed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, by := tt.gate.Decide(deploy(), &record.GateRecord{Answers: tt.answers})
			if got != tt.want || by != tt.by {
				t.Errorf("Decide = %v, %q; want %v, %q", got, by, tt.want, tt.by)
			}
		})
	}
}

func TestAskableOwners(t *testing.T) {
	twice := deploy()
	twice.Changes = append(twice.Changes, record.Change{Number: 104, Owner: "bob"}, record.Change{Number: 105})
	for _, tt := range []struct {
		name string
		gate judge.Gate
		d    *record.Deploy
		want []string
	}{
		{name: "those with a chat identity, in change order", gate: judge.Gate{Owner: owner}, d: deploy(), want: []string{"bob", "dave"}},
		{name: "each once, none without a Gerrit username", gate: judge.Gate{Owner: owner}, d: twice, want: []string{"bob", "dave"}},
		{name: "nobody known", d: deploy(), want: nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.gate.AskableOwners(tt.d)); diff != "" {
				t.Errorf("AskableOwners (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOKNames(t *testing.T) {
	for _, tt := range []struct {
		name    string
		answers []record.Confirmation
		want    []string
	}{
		{name: "none"},
		{name: "in order, each once, no fails", answers: []record.Confirmation{answer("Dave", "dave", true), answer("Bob", "bob", false), answer("Alice", "alice", true), answer("Dave", "dave", true)}, want: []string{"Dave", "Alice"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, judge.OKNames(&record.GateRecord{Answers: tt.answers})); diff != "" {
				t.Errorf("OKNames (-want +got):\n%s", diff)
			}
		})
	}
}

// mentioned are the people t mentions, in order.
func mentioned(t bot.Text) []bot.Person {
	var out []bot.Person
	for _, s := range t {
		if s.Kind == bot.Mention {
			out = append(out, s.Person)
		}
	}
	return out
}

func TestAsk(t *testing.T) {
	const summary = "Backport for [[gerrit:101|Fix the thing]]"
	for _, tt := range []struct {
		name           string
		gate           judge.Gate
		d              *record.Deploy
		header, prefix string
		want           string
		mentions       []bot.Person
	}{
		{
			name: "the deployer and the owners who can be asked",
			gate: judge.Gate{Owner: owner},
			d:    deploy(),
			want: "alice_, bob, Dave: Backport for [[gerrit:101|Fix the thing]] synced to the testservers. Please test it there:\n" +
				"- 101 \"Fix the thing\" (patchset 2) owner bob\n" +
				"- 102 \"Tune the cache\" (patchset 1)\n" +
				"- 103 \"Log less\" (patchset 4) owner Dave\n" +
				"Reply \"tested ok\" when it works or \"tested fail\" to roll back.",
			mentions: []bot.Person{people["alice"], people["bob"], people["dave"], people["bob"], people["dave"]},
		},
		{
			name:   "asked again, with the routing header",
			gate:   judge.Gate{Owner: owner},
			d:      deploy(),
			header: "X-Wikimedia-Debug: backend=mwdebug1001",
			prefix: "(asked again after a restart) ",
			want: "alice_, bob, Dave: (asked again after a restart) Backport for [[gerrit:101|Fix the thing]] synced to the testservers. Please test it there:\n" +
				"- 101 \"Fix the thing\" (patchset 2) owner bob\n" +
				"- 102 \"Tune the cache\" (patchset 1)\n" +
				"- 103 \"Log less\" (patchset 4) owner Dave\n" +
				"To reach the testservers, send the header X-Wikimedia-Debug: backend=mwdebug1001 (e.g. with the WikimediaDebug browser extension).\n" +
				"Reply \"tested ok\" when it works or \"tested fail\" to roll back.",
			mentions: []bot.Person{people["alice"], people["bob"], people["dave"], people["bob"], people["dave"]},
		},
		{
			name: "nobody known: only the deployer",
			d:    &record.Deploy{By: alice, Changes: deploy().Changes[:1]},
			want: "alice_: Backport for [[gerrit:101|Fix the thing]] synced to the testservers. Please test it there:\n" +
				"- 101 \"Fix the thing\" (patchset 2)\n" +
				"Reply \"tested ok\" when it works or \"tested fail\" to roll back.",
			mentions: []bot.Person{people["alice"]},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.gate.Ask(tt.d, "testservers", tt.header, summary, tt.prefix)
			if diff := cmp.Diff(tt.want, got.String()); diff != "" {
				t.Errorf("Ask (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.mentions, mentioned(got)); diff != "" {
				t.Errorf("Ask's mentions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRoutingHeaders(t *testing.T) {
	for _, tt := range []struct {
		name   string
		checks []map[string]string
		want   string
	}{
		{name: "no checks", want: ""},
		{name: "checks without headers", checks: []map[string]string{nil, {}}, want: ""},
		{name: "each once, sorted", checks: []map[string]string{
			{"X-Wikimedia-Debug": "backend=mwdebug1001", "Accept": "text/html"},
			{"X-Wikimedia-Debug": "backend=mwdebug1001"},
			{"X-Wikimedia-Debug": "backend=mwdebug1002"},
		}, want: "Accept: text/html, X-Wikimedia-Debug: backend=mwdebug1001, X-Wikimedia-Debug: backend=mwdebug1002"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := judge.RoutingHeaders(tt.checks); got != tt.want {
				t.Errorf("RoutingHeaders = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMentions(t *testing.T) {
	ownChange := deploy()
	ownChange.Changes[0].Owner = "alice" // the deployer is mentioned once
	g := judge.Gate{Owner: owner}
	for _, tt := range []struct {
		name    string
		d       *record.Deploy
		answers []record.Confirmation
		asked   []bot.Person // Everyone
		left    []bot.Person // NotAnswered
	}{
		{name: "nobody answered", d: deploy(), asked: []bot.Person{people["alice"], people["bob"], people["dave"]}, left: []bot.Person{people["alice"], people["bob"], people["dave"]}},
		{name: "an owner answered; the deployer is reminded still", d: deploy(), answers: []record.Confirmation{answer("Bob", "bob", true)},
			asked: []bot.Person{people["alice"], people["bob"], people["dave"]}, left: []bot.Person{people["alice"], people["dave"]}},
		{name: "the deployer owns a change", d: ownChange, asked: []bot.Person{people["alice"], people["dave"]}, left: []bot.Person{people["alice"], people["dave"]}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.asked, mentioned(g.Everyone(tt.d))); diff != "" {
				t.Errorf("Everyone (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.left, mentioned(g.NotAnswered(tt.d, &record.GateRecord{Answers: tt.answers}))); diff != "" {
				t.Errorf("NotAnswered (-want +got):\n%s", diff)
			}
		})
	}
	if got, want := g.NotAnswered(deploy(), &record.GateRecord{Answers: []record.Confirmation{answer("Bob", "bob", true)}}).String(), "alice_, Dave"; got != want {
		t.Errorf("NotAnswered = %q, want %q", got, want)
	}
}

func TestPending(t *testing.T) {
	waiting := &record.GateRecord{Asked: time.Unix(1, 0)}
	passed := &record.GateRecord{Asked: time.Unix(1, 0), Passed: time.Unix(2, 0)}
	failed := &record.CheckRecord{Failed: []string{"mw1001"}}
	decided := &record.CheckRecord{Failed: []string{"mw1001"}, Decision: "continue"}
	unreachable := &record.CheckRecord{Failed: []string{"mw1002"}}
	for _, tt := range []struct {
		name         string
		stages       map[string]*record.StageRecord
		gateStage    string
		gate         *record.GateRecord
		checksStage  string
		checks       *record.CheckRecord
		noSyncRecord bool
	}{
		{name: "before the sync stages", noSyncRecord: true},
		{name: "nothing waits", stages: map[string]*record.StageRecord{"testservers": {Gate: passed, Checks: decided}, "production": {Checks: &record.CheckRecord{}}}},
		{name: "a test", stages: map[string]*record.StageRecord{"testservers": {Gate: passed}, "canaries": {Gate: waiting}}, gateStage: "canaries", gate: waiting},
		{name: "failed checks", stages: map[string]*record.StageRecord{"testservers": {Checks: failed}}, checksStage: "testservers", checks: failed},
		{name: "hosts not checked after a restart", stages: map[string]*record.StageRecord{"canaries": {Checks: decided, Unreachable: unreachable}}, checksStage: "canaries", checks: unreachable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := deploy()
			d.Sync.Stages = tt.stages
			if tt.noSyncRecord {
				d.Sync = nil
			}
			if name, g := judge.PendingGate(d); name != tt.gateStage || g != tt.gate {
				t.Errorf("PendingGate = %q, %v; want %q, %v", name, g, tt.gateStage, tt.gate)
			}
			if name, c := judge.PendingDecision(d); name != tt.checksStage || c != tt.checks {
				t.Errorf("PendingDecision = %q, %v; want %q, %v", name, c, tt.checksStage, tt.checks)
			}
		})
	}
}

func TestConfirm(t *testing.T) {
	now := time.Date(2026, 12, 7, 14, 5, 0, 0, time.UTC)
	for _, tt := range []struct {
		name    string
		who     record.Person
		ok      bool
		want    record.Confirmation
		which   []string
		refused string
	}{
		{
			name:  "the deployer covers every change",
			who:   alice,
			ok:    true,
			want:  record.Confirmation{Who: "Alice", Gerrit: "alice", Deployer: true, OK: true, Time: now, PatchSets: map[int]int{101: 2, 102: 1, 103: 4}, Release: "r2"},
			which: []string{"101 patchset 2", "102 patchset 1", "103 patchset 4"},
		},
		{
			name:  "an owner covers their own",
			who:   record.Person{Name: "Dave", Gerrit: "dave"},
			want:  record.Confirmation{Who: "Dave", Gerrit: "dave", Time: now, PatchSets: map[int]int{103: 4}, Release: "r2"},
			which: []string{"103 patchset 4"},
		},
		{
			name:  "an owner unknown to chat",
			who:   record.Person{Name: "Carol", Gerrit: "carol"},
			ok:    true,
			want:  record.Confirmation{Who: "Carol", Gerrit: "carol", OK: true, Time: now, PatchSets: map[int]int{102: 1}, Release: "r2"},
			which: []string{"102 patchset 1"},
		},
		{
			name:    "someone else",
			who:     record.Person{Name: "Eve", Gerrit: "eve"},
			ok:      true,
			refused: "Thanks, Eve, but only the owners of the changes in deploy 7 (Bob, Carol, and Dave) or its deployer (Alice) can confirm the test, and I know you by your account as none of them.",
		},
		{
			name:    "someone not in the people list",
			who:     record.Person{IRCNick: "bob"},
			ok:      true,
			refused: "Thanks, but only the owners of the changes in deploy 7 (Bob, Carol, and Dave) or its deployer (Alice) can confirm the test, and your account is not in my people list.",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, which, refused := judge.Confirm(deploy(), tt.who, tt.ok, now)
			if refused != tt.refused {
				t.Errorf("refused = %q\nwant      %q", refused, tt.refused)
			}
			if diff := cmp.Diff(tt.want, c); diff != "" {
				t.Errorf("confirmation (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.which, which); diff != "" {
				t.Errorf("which (-want +got):\n%s", diff)
			}
		})
	}
}
