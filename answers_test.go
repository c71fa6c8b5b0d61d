package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// "tested ok" addressed to a bot whose deploys are off (no Gerrit
// configured) is answered with a sentence saying why, not the engine's
// error text "no test pending".
func TestAddressedTestedOkWithDeploysOff(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "jouncebot.yaml")
	writeFile(t, cfg, "bot: {nick: jouncebot, data_dir: data, console_person: Amir}\npeople:\n  - {name: Amir, irc_account: amir, roles: [deployer]}\n")
	var out, errs bytes.Buffer
	in := strings.NewReader("jouncebot: tested ok\n")
	if code := run([]string{"--config", cfg, "--http", ""}, in, &out, &errs); code != exitOK {
		t.Fatalf("exit code %d; stderr:\n%s", code, errs.String())
	}
	if strings.Contains(out.String(), "no test pending") || !strings.Contains(out.String(), "Deploys are off") {
		t.Errorf("the answer to an addressed \"tested ok\" with deploys off is not the sentence saying they are off:\n%s", out.String())
	}
}

// "tested ok" addressed to a chat bot whose deploys run on a deploy agent,
// with no deploy waiting for a test, is answered with the agent's
// sentence, not "no test pending".
func TestAddressedTestedOkThroughAgent(t *testing.T) {
	s := newSplit(t)
	s.startAgent()
	bot := s.startBot()
	bot.say("jouncebot: status")
	bot.expect("No deploy in progress.")
	bot.say("jouncebot: tested ok")
	if l := expectAny(bot, "There is no deploy in progress.", "no test pending"); !strings.Contains(l, "There is no deploy in progress.") {
		t.Errorf("addressed \"tested ok\" through the agent answered %q, want the agent's sentence", l)
	}
}

// expectAny reads p's lines until one contains one of wants.
func expectAny(p *proc, wants ...string) string {
	p.t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("process ended waiting for %q", wants)
			}
			for _, w := range wants {
				if strings.Contains(l, w) {
					return l
				}
			}
		case <-deadline:
			p.t.Fatalf("no line with %q within two minutes", wants)
		}
	}
}

// A configured stage named like one of the deploy's own steps ("done",
// "vote", "verify", …) is refused by check-config: the deploy's record
// names its next step by name, so such a stage would make the deploy
// re-enter the wrong step (a stage named "vote" runs the steps from the
// vote again, for ever; one named "done" ends the deploy before it).
func TestStageNamedLikeADeployStepRefused(t *testing.T) {
	for _, name := range []string{"done", "vote", "verify", "finish-sync"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "pw"), "x")
			cfg := filepath.Join(dir, "c.yaml")
			writeFile(t, cfg, "bot: {data_dir: data}\ndeploy:\n  gerrit: {url: \"https://gerrit.example.org/r/\", username: bot, password: {file: pw}}\n  sync: {source: /srv/staging, releases_dir: /srv/releases}\n  stages:\n    - {name: testservers, hosts: [mwdebug1001], dest: \"/srv/a\"}\n    - {name: "+name+", hosts: [mw1001], dest: \"/srv/b\"}\n")
			var out, errs bytes.Buffer
			code := run([]string{"check-config", cfg}, nil, &out, &errs)
			if code == exitOK || !strings.Contains(out.String()+errs.String(), "deploy.stages[1].name") {
				t.Errorf("check-config of a stage named %q: exit %d\n%s%s", name, code, out.String(), errs.String())
			}
		})
	}
}
