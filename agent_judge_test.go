package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
