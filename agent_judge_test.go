package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lrstanley/girc"

	"github.com/jouncebot/jouncebot/bot/irc/irctest"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
)

// The deploy agent judges the policy on its own calendar: a freeze known
// only to the agent refuses a deploy the chat bot calls in-window (issue
// 24, item 5's policy part).
func TestAgentFreezeRefusesInWindowStart(t *testing.T) {
	s := newSplit(t)
	now := time.Now().UTC()
	// The same all-day window on both sides; the freeze only on the agent.
	window := "windows:\n  - {name: All-day backport window, kind: backport, schedule: \"0 0 * * *\", duration: 24h, deployers: [Amir]}\n"
	freeze := fmt.Sprintf("freezes:\n  - {from: %s, to: %s, reason: agent-side incident}\n",
		now.Add(-time.Hour).Format(time.RFC3339), now.Add(2*time.Hour).Format(time.RFC3339))
	appendFile(t, filepath.Join(s.dir, "agent.yaml"), window+freeze)
	appendFile(t, filepath.Join(s.dir, "bot.yaml"), window)
	s.startAgent()
	bot := s.startBot()
	bot.say("jouncebot: policy")
	bot.expect("Deploying now: in the All-day backport window; allowed.")
	bot.say("jouncebot: deploy 445113")
	bot.expect("Deploys are frozen: agent-side incident until " + now.Add(2*time.Hour).Format("2006-01-02 15:04 UTC") + ".")
	bot.say("jouncebot: status")
	if l := bot.expect("No deploy in progress"); !strings.HasPrefix(strings.TrimSpace(l), "No deploy in progress") {
		t.Errorf("status: %q", l)
	}
}

func appendFile(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

// approvalSplit is a chat bot on IRC in #ops and a deploy agent whose
// policy wants a RelEng and an SRE approval for every deploy: Lucas
// deploys, Rita and Sam approve.
type approvalSplit struct {
	*split
	clients     map[string]*irctest.Client
	acert, akey string
}

// approvalPeople is the configuration both sides share.
const approvalPeople = `people:
  - {name: Lucas, irc_account: lucas, roles: [deployer]}
  - {name: Rita, irc_account: rita, roles: [releng]}
  - {name: Sam, irc_account: sam, roles: [sre]}
  - {name: Alice, irc_account: alice, gerrit: alice}
windows:
  - {name: All-day backport window, kind: backport, schedule: "0 0 * * *", duration: 24h, deployers: [Lucas]}
policy:
  roles: {releng: RelEng, sre: SRE}
  rules:
    - {name: Every day, approvals: [releng, sre], timeout: 1h}
`

// startApprovalSplit starts the IRC server with Lucas, Rita and Sam in
// #ops, then the agent (its configuration ending with agentExtra) and the
// chat bot, and waits for the bot to join. It returns the agent's process
// too.
func startApprovalSplit(t *testing.T, agentExtra string) (*approvalSplit, *proc) {
	t.Helper()
	ircd := irctest.Start(t)
	clients := map[string]*irctest.Client{}
	for _, p := range []string{"lucas", "rita", "sam"} {
		ircd.Register(t, p, p+"-password1")
		c := ircd.Client(t, irctest.ClientConfig{Nick: p, Account: p, Password: p + "-password1"})
		c.Join(t, "#ops")
		clients[p] = c
	}
	dir := t.TempDir()
	ca := newPKI(t, dir, "test")
	now := time.Now().UTC()
	acert, akey := ca.issue(t, "agent", true, now.Add(-time.Hour), now.Add(24*time.Hour))
	bcert, bkey := ca.issue(t, "chatbot", false, now.Add(-time.Hour), now.Add(24*time.Hour))
	s := &approvalSplit{split: &split{t: t, dir: dir, ca: ca, caFile: ca.CA, agentAddr: freePort(t), botCert: bcert, botKey: bkey},
		clients: clients, acert: acert, akey: akey}
	s.writeAgentConfig(agentExtra)
	writeFile(t, filepath.Join(dir, "bot.yaml"), fmt.Sprintf(`bot: {nick: jouncebot, data_dir: bot-data}
networks: [{name: libera, type: irc, server: "%s", channels: [{name: "#ops"}]}]
agents: [{name: test, address: %s, ca: %s, cert: %s, key: %s, server_name: agent}]
%s`, ircd.Addr, s.agentAddr, ca.CA, bcert, bkey, approvalPeople))
	agent := s.startAgent()
	s.startBot()
	clients["lucas"].WaitEvent(t, func(ev *girc.Event) bool {
		return ev.Command == girc.JOIN && ev.Source != nil && ev.Source.Name == "jouncebot"
	})
	return s, agent
}

// writeAgentConfig writes the agent's configuration, ending with extra.
func (s *approvalSplit) writeAgentConfig(extra string) {
	writeFile(s.t, filepath.Join(s.dir, "agent.yaml"), fmt.Sprintf(`bot: {nick: jouncebot, data_dir: agent-data}
agent: {listen: %s, ca: %s, cert: %s, key: %s, client_name: chatbot, networks: [{name: libera, type: irc}]}
deploy: {sandbox: true}
%s%s`, s.agentAddr, s.caFile, s.acert, s.akey, approvalPeople, extra))
}

// say has who say text to the bot in #ops and waits for the bot's line
// there that starts with want.
func (s *approvalSplit) say(who, text, want string) {
	s.t.Helper()
	s.clients[who].Say("#ops", "jouncebot: "+text)
	s.clients["lucas"].Expect(s.t, func(m irctest.Msg) bool {
		return m.Command == girc.PRIVMSG && m.Nick == "jouncebot" && m.Target == "#ops" && strings.HasPrefix(m.Text, want)
	})
}

// A request that waited for approvals starts on the deploy agent as its
// asker (not as the last approver), and the agent judges it on its own
// calendar: with a freeze only the agent knows, all approvals in do not
// start it; without one, they do (issue 24, items 1 and 5).
func TestAgentApprovedRequestStartsAsTheAsker(t *testing.T) {
	now := time.Now().UTC()
	freeze := fmt.Sprintf("freezes:\n  - {from: %s, to: %s, reason: agent-side incident}\n",
		now.Add(-time.Hour).Format(time.RFC3339), now.Add(2*time.Hour).Format(time.RFC3339))
	s, agent := startApprovalSplit(t, freeze)
	say := s.say
	say("lucas", "deploy 445113", "Deploy 445113 waits for approvals until")
	say("rita", "approve r1", "Rita approved request r1 (Every day). Still waiting for one SRE person.")
	say("sam", "approve r1", "Sam approved request r1 (Every day). All approvals are in, but the deploy could not start: Deploys are frozen: agent-side incident until")

	// Without the agent's freeze the same approvals start the deploy,
	// as Lucas.
	agent.kill()
	s.writeAgentConfig("")
	s.startAgent()
	say("lucas", "deploy 445113", "Deploy 445113 waits for approvals until")
	say("rita", "approve r2", "Rita approved request r2 (Every day). Still waiting for one SRE person.")
	say("sam", "approve r2", "Sam approved request r2 (Every day). All approvals are in; deploy 1 started.")
	say("lucas", "status", "Deploy 1 by Lucas since")
}

// The deploy agent takes a request's approvals only as names, each person
// once and never the asker: a request through the agent's API that names
// the same SRE twice, or its asker, does not fill `approvals: [sre, sre]`;
// two SRE people do (issue 24, items 4 and 5).
func TestAgentCountsEachApproverOnce(t *testing.T) {
	s := newSplit(t)
	appendFile(t, filepath.Join(s.dir, "agent.yaml"), `  - {name: Sam, irc_account: sam, roles: [sre]}
  - {name: Sasha, irc_account: sasha, roles: [sre]}
  - {name: Sue, irc_account: sue, roles: [deployer, sre]}
windows:
  - {name: All-day backport window, kind: backport, schedule: "0 0 * * *", duration: 24h, deployers: [Amir, Sue]}
policy:
  roles: {sre: SRE}
  rules:
    - {name: Every day, approvals: [sre, sre], timeout: 1h}
`)
	s.startAgent()
	hc := s.client(s.botCert, s.botKey)
	const start = `{"caller":{"kind":"irc","network":"libera","account":%q},"request":{"Changes":["445113"],"By":{"Name":%q,"Deployer":true},"Approvals":%s}}`
	for _, tc := range []struct{ name, by, approvals string }{
		{"the same SRE twice", "Amir", `[{"By":"Sam","Rule":"Every day"},{"By":"Sam","Rule":"Every day"}]`},
		{"the same SRE twice, spelt differently", "Amir", `[{"By":"Sam","Rule":"Every day"},{"By":"SAM","Rule":"Every day"}]`},
		{"the asker", "Sue", `[{"By":"Sue","Rule":"Every day"},{"By":"Sam","Rule":"Every day"}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.post(hc, "start", fmt.Sprintf(start, strings.ToLower(tc.by), tc.by, tc.approvals))
			if err != nil {
				t.Fatal(err)
			}
			if e, _ := out["error"].(string); !strings.HasPrefix(e, "Not started: ") || !strings.Contains(e, "missing: one SRE person") {
				t.Fatalf("got %v, want a refusal missing one SRE person", out)
			}
		})
	}
	out, err := s.post(hc, "start", fmt.Sprintf(start, "amir", "Amir", `[{"By":"Sam","Rule":"Every day"},{"By":"Sasha","Rule":"Every day"}],"PatchSets":{"445113":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if out["error"] != nil || out["id"] == nil {
		t.Fatalf("two SRE people: %v", out)
	}
}

// pushNewPatchSet uploads a new patchset of the deploy agent's sandbox
// change n (in operations/mediawiki-config), as its owner would: fetch
// the current patchset, amend it keeping its Change-Id, push it for
// review.
func (s *split) pushNewPatchSet(n, ps int) {
	t := s.t
	t.Helper()
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=Alice", "-c", "user.email=alice@example.org", "-c", "protocol.version=2"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	url := git(filepath.Join(s.dir, "agent-data", "sandbox", "staging"), "remote", "get-url", "origin")
	work := t.TempDir()
	git(work, "init", "-q")
	git(work, "fetch", "-q", url, fmt.Sprintf("refs/changes/%02d/%d/%d", n%100, n, ps))
	git(work, "checkout", "-q", "FETCH_HEAD")
	writeFile(t, filepath.Join(work, "wmf-config", "InitialiseSettings.php"), "<?php\n$wgExampleLimit = 2000;\n$wgExampleDebug = false;\n")
	git(work, "commit", "-q", "-a", "--amend", "--no-edit")
	git(work, "push", "-q", url, "HEAD:refs/for/"+gerrittest.ConfigBranch)
}

// With a separate deploy agent and no Gerrit on the chat side, a request
// waiting for approvals is pinned to the patchsets the agent reads from
// its own Gerrit, and a new patchset uploaded while it waits voids it; the
// agent itself refuses approvals that name no patchset, so a new patchset
// is never the one that ships (issue 24, remainder 1).
func TestAgentPinsApprovalsToPatchSets(t *testing.T) {
	s, _ := startApprovalSplit(t, "")
	say := s.say
	say("lucas", "deploy 445113", "Deploy 445113 waits for approvals until")
	say("rita", "approve r1", "Rita approved request r1 (Every day). Still waiting for one SRE person.")
	say("lucas", "status", "Request r1 by Lucas to deploy 445113 at patchset 1 waits for one SRE person")
	s.pushNewPatchSet(445113, 1)
	say("sam", "approve r1", "Request r1 is void: change 445113 is at patchset 2 now, but the request was for patchset 1; its approvals do not carry over. Lucas must ask again.")

	// The agent's own API: approvals that name no patchset, or another
	// one, start nothing.
	hc := s.client(s.botCert, s.botKey)
	for _, tc := range []struct{ name, pins, want string }{
		{"no patchset", ``, "Not started: the approvals do not say which patchset of change 445113 they are for"},
		{"an older patchset", `,"PatchSets":{"445113":1}`, "Not started: change 445113 is at patchset 2, but the approvals were for patchset 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.post(hc, "start", `{"caller":{"kind":"irc","network":"libera","account":"lucas"},"request":{"Changes":["445113"],"By":{"Name":"Lucas","Deployer":true},"Approvals":[{"By":"Rita","Rule":"Every day"},{"By":"Sam","Rule":"Every day"}]`+tc.pins+`}}`)
			if err != nil {
				t.Fatal(err)
			}
			if e, _ := out["error"].(string); !strings.HasPrefix(e, tc.want) {
				t.Fatalf("got %v, want an error starting %q", out, tc.want)
			}
		})
	}
	say("lucas", "status", "No deploy in progress.")
}
