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
