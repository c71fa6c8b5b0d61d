package commands

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/jouncebot/jouncebot/bot"
)

// TestRefusalsGolden says every state-changing phrase and command, as
// someone who may not use it, one after another to the same dispatcher:
// each gets one short explanation naming the right person, and a phrase
// said again within a few minutes gets none. The texts are in
// testdata/refusals.golden (go test -run Refusals -update rewrites it).
func TestRefusalsGolden(t *testing.T) {
	d := NewDispatcher(Options{Config: testConfig(), Log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	d.cfg.People[1].Gerrit = "kharlan"
	d.Register(DeployCommands(DeployOptions{Engine: &fakeEngine{waiting: true}, Calendar: noWindows{}})...)
	stub := func(ctx context.Context, c *Call) (bot.Text, error) { return bot.T("done"), nil }
	d.Register(
		Command{Name: "claim", Usage: "claim [window]", Help: "Claims.", Perm: Deployer, MaxArgs: -1, Run: stub},
		Command{Name: "release", Usage: "release", Help: "Releases.", Perm: Deployer, MaxArgs: -1, Run: stub},
	)
	for _, tr := range append(DeployTriggers, ClaimTriggers...) {
		d.AddTrigger(tr)
	}
	cases := []struct{ nick, account, text string }{
		{"mallory", "", "tested ok"},
		{"mallory", "", "tested ok"}, // said again: no second explanation
		{"mallory", "", "tested fail"},
		{"mallory", "", "I can deploy today"},
		{"mallory", "", "jouncebot: claim"},
		{"mallory", "", "jouncebot: claim"}, // a command named is always answered
		{"mallory", "", "jouncebot: tested ok"},
		{"mallory", "", "!log deploys done"},
		{"stranger", "stranger", "tested ok"},
		{"stranger", "stranger", "I can deploy today"},
		{"stranger", "stranger", "jouncebot: deploy 445113"},
		{"kosta", "kharlan", "I can deploy today"},
		{"kosta", "kharlan", "I can deploy today"},
		{"kosta", "kharlan", "jouncebot: abort"},
	}
	var out strings.Builder
	for _, c := range cases {
		rec := &recorder{}
		r := bot.NewRequest(bot.Message{Network: "libera", Room: "#ops", Nick: c.nick, Account: c.account, Text: c.text}, rec)
		if strings.HasPrefix(c.text, "!log") {
			d.HandleTriggers(context.Background(), r)
		} else {
			d.Handle(context.Background(), r)
		}
		who := c.nick
		if c.account == "" {
			who += " (not logged in)"
		} else {
			who += " (account " + c.account + ")"
		}
		fmt.Fprintf(&out, "%s: %s\n", who, c.text)
		for _, s := range rec.replies() {
			fmt.Fprintf(&out, "  → %s\n", s)
		}
		if len(rec.replies()) == 0 {
			fmt.Fprintf(&out, "  (no answer)\n")
		}
	}
	golden := filepath.Join("testdata", "refusals.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), out.String()); diff != "" {
		t.Errorf("refusals (-want +got):\n%s", diff)
	}
}
