package commands

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
)

// recorder is a transport that records what is sent.
type recorder struct {
	mu   sync.Mutex
	sent []string
}

func (r *recorder) Network() string                              { return "libera" }
func (r *recorder) Rooms() []string                              { return []string{"#ops"} }
func (r *recorder) Run(ctx context.Context, h bot.Handler) error { <-ctx.Done(); return nil }
func (r *recorder) Send(ctx context.Context, to bot.Target, t bot.Text) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, t.String())
	return nil
}

func (r *recorder) replies() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sent...)
}

func testConfig() *config.Config {
	return &config.Config{
		Bot:      config.Bot{Nick: "jouncebot"},
		Networks: []config.Network{{Name: "libera", Type: "irc"}},
		People: []config.Person{
			{Name: "Amir", IRCAccount: "amir", Roles: []string{"deployer"}},
			{Name: "Kosta", IRCAccount: "kharlan", Roles: []string{"owner"}},
		},
	}
}

// ask sends one line to d as the given account from nick and returns the replies.
func ask(t *testing.T, d *Dispatcher, nick, account, text string) []string {
	t.Helper()
	rec := &recorder{}
	d.Handle(context.Background(), bot.NewRequest(bot.Message{Network: "libera", Room: "#ops", Nick: nick, Account: account, Text: text}, rec))
	return rec.replies()
}

func newDispatcher(t *testing.T, logs *bytes.Buffer) *Dispatcher {
	t.Helper()
	d := NewDispatcher(Options{Config: testConfig(), Log: slog.New(slog.NewTextHandler(logs, nil))})
	d.Register(HelpCommands(d)...)
	d.Register(
		Command{Name: "boom", Usage: "boom", Help: "Panics.", Run: func(ctx context.Context, c *Call) (bot.Text, error) {
			panic("boom: the handler hit a bug")
		}},
		Command{Name: "claim", Usage: "claim", Help: "Claims.", Perm: Deployer, Run: func(ctx context.Context, c *Call) (bot.Text, error) {
			return bot.T("claimed by " + c.Person.Name), nil
		}},
		Command{Name: "add", Usage: "add <change>", Help: "Adds.", Perm: Owner, MinArgs: 1, MaxArgs: 1, Run: func(ctx context.Context, c *Call) (bot.Text, error) {
			return bot.T("added " + c.Args[0]), nil
		}},
		Command{Name: "fail", Usage: "fail", Help: "Fails.", Run: func(ctx context.Context, c *Call) (bot.Text, error) {
			return nil, Errorf("That change does not exist.")
		}},
	)
	return d
}

func TestDispatch(t *testing.T) {
	tests := []struct {
		name, nick, account, text string
		want                      string
	}{
		{"unknown command gets a hint", "amir", "amir", "jouncebot: dploy 1", `I don't know the command "dploy". Say "jouncebot: help" to see what I can do.`},
		{"deployer by account", "amir", "amir", "jouncebot: claim", "claimed by Amir"},
		{"spoofed nick without account", "amir", "", "jouncebot: claim", "claim needs you to be identified, and you are not logged in to an account; log in (NickServ/SASL on IRC) and ask again."},
		{"account not in people list", "amir", "mallory", "jouncebot: claim", `Only deployers may use claim, and your account "mallory" is not in my people list.`},
		{"owner is not a deployer", "kosta", "kharlan", "jouncebot: claim", "Only deployers may use claim; Kosta is not one."},
		{"owner may add", "kosta", "kharlan", "jouncebot: add 445113", "added 445113"},
		{"too few arguments", "kosta", "kharlan", "jouncebot: add", "Usage: jouncebot: add <change>"},
		{"too many arguments", "kosta", "kharlan", "jouncebot: add 1 2", "Usage: jouncebot: add <change>"},
		{"user error shown as is", "x", "", "jouncebot: fail", "That change does not exist."},
		{"help for one command", "x", "", "jouncebot: help claim", "jouncebot: claim — Claims. (for deployers)"},
		{"help for unknown command", "x", "", "jouncebot: help nope", `There is no command "nope". Say "jouncebot: help" for the list.`},
		{"control bytes never echoed", "x", "", "jouncebot: \x01\x1b[2Jdo\rit", `I don't know the command "[2jdoit". Say "jouncebot: help" to see what I can do.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ask(t, newDispatcher(t, &bytes.Buffer{}), tt.nick, tt.account, tt.text)
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("replies = %q\nwant [%q]", got, tt.want)
			}
		})
	}
}

func TestChatterGetsNoReply(t *testing.T) {
	d := newDispatcher(t, &bytes.Buffer{})
	for _, text := range []string{"", "hello all", "jouncebot is great", strings.Repeat("\x00", 100), strings.Repeat("x ", 5000)} {
		if got := ask(t, d, "x", "", text); len(got) != 0 {
			t.Errorf("%q got replies %q; want none", text, got)
		}
	}
}

func TestPanickingHandlerIsContained(t *testing.T) {
	var logs bytes.Buffer
	d := newDispatcher(t, &logs)
	got := ask(t, d, "amir", "amir", "jouncebot: boom")
	want := "Sorry, boom failed because of a bug in me; it has been logged. Nothing else was affected."
	if len(got) != 1 || got[0] != want {
		t.Fatalf("replies = %q, want [%q]", got, want)
	}
	if !strings.Contains(logs.String(), "command panicked") || !strings.Contains(logs.String(), "boom: the handler hit a bug") {
		t.Errorf("panic not logged with its cause; log:\n%s", logs.String())
	}
	// The dispatcher keeps working.
	if got := ask(t, d, "amir", "amir", "jouncebot: claim"); len(got) != 1 || got[0] != "claimed by Amir" {
		t.Errorf("after the panic, claim answered %q", got)
	}
}

// In a channel, help is two lines: every command's name, and where to
// read more.
func TestChannelHelpIsShort(t *testing.T) {
	d := newDispatcher(t, &bytes.Buffer{})
	got := ask(t, d, "x", "", "jouncebot: help")
	if len(got) != 1 {
		t.Fatalf("got %d replies", len(got))
	}
	lines := strings.Split(got[0], "\n")
	if len(lines) > 2 {
		t.Errorf("channel help has %d lines, want at most 2:\n%s", len(lines), got[0])
	}
	for _, c := range d.Commands() {
		if !strings.Contains(lines[0], c.Name) {
			t.Errorf("channel help does not name %q:\n%s", c.Name, got[0])
		}
	}
	if !strings.Contains(got[0], `"jouncebot: help <command>"`) || !strings.Contains(got[0], "privately") {
		t.Errorf("channel help does not say where to read more:\n%s", got[0])
	}
}

// In private, help lists every visible command with its usage, one a line.
func TestPrivateHelpListsEveryVisibleCommand(t *testing.T) {
	d := newDispatcher(t, &bytes.Buffer{})
	rec := &recorder{}
	d.Handle(context.Background(), bot.NewRequest(bot.Message{Network: "libera", Room: "x", Private: true, Nick: "x", Text: "help"}, rec))
	got := rec.replies()
	if len(got) != 1 {
		t.Fatalf("got %d replies", len(got))
	}
	lines := strings.Split(got[0], "\n")
	for _, c := range d.Commands() {
		if !slices.Contains(lines, c.Usage+" — "+c.Help) {
			t.Errorf("private help has no line for %q:\n%s", c.Name, got[0])
		}
	}
}

// nicked is a transport whose bot had to take another nick.
type nicked struct{ recorder }

func (n *nicked) Nick() string { return "jouncebot_" }

// While the bot goes by another nick, people addressing that nick are heard.
func TestAddressedByCurrentNick(t *testing.T) {
	d := newDispatcher(t, &bytes.Buffer{})
	tr := &nicked{}
	d.Handle(context.Background(), bot.NewRequest(bot.Message{Network: "libera", Room: "#ops", Nick: "amir", Account: "amir", Text: "jouncebot_: claim"}, tr))
	if got := tr.replies(); len(got) != 1 || got[0] != "claimed by Amir" {
		t.Errorf("replies = %q", got)
	}
}

// A command that takes a list refuses more than its limit and any flag it
// does not know, naming both, before its handler does any work.
func TestListLimitsAndFlags(t *testing.T) {
	d := NewDispatcher(Options{Config: testConfig(), Log: slog.New(slog.DiscardHandler)})
	ran := 0
	run := func(ctx context.Context, c *Call) (bot.Text, error) { ran++; return bot.T("ran"), nil }
	d.Register(
		Command{Name: "plan", Usage: "plan <change>…", Help: "Plans.", MinArgs: 1, MaxArgs: -1, List: &List{Max: MaxChanges}, Run: run},
		Command{Name: "deploy", Usage: "deploy [--force] <change>… [reason]", Help: "Deploys.", Perm: Deployer, MinArgs: 1, MaxArgs: -1,
			List: &List{Max: MaxChanges, Flags: deployFlags, Item: isChange}, Run: run},
	)
	many := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, " %d", 1000+i)
		}
		return b.String()
	}
	tests := []struct{ name, text, want string }{
		{"a thousand changes", "jouncebot: plan" + many(1000), "plan takes at most 20 changes at a time; split the list and ask again. Nothing was done."},
		{"twenty-one changes", "jouncebot: plan" + many(21), "plan takes at most 20 changes at a time; split the list and ask again. Nothing was done."},
		{"twenty changes", "jouncebot: plan" + many(20), "ran"},
		{"a reason is not counted", "jouncebot: deploy --force" + many(20) + " because 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21", "ran"},
		{"deploy counts changes", "jouncebot: deploy --force" + many(200) + " reason", "deploy takes at most 20 changes at a time; split the list and ask again. Nothing was done."},
		{"unknown flag", "jouncebot: deploy --bogus 445113", `deploy does not know the flag "--bogus"; its flags are --force, -f, --prepare-only, and --stop-before-sync. Nothing was done.`},
		{"unknown flag after the changes", "jouncebot: deploy --force 445113 --bogus why", `deploy does not know the flag "--bogus"; its flags are --force, -f, --prepare-only, and --stop-before-sync. Nothing was done.`},
		{"a dash in the reason is text", "jouncebot: deploy --force 445113 fixing -Wall", "ran"},
		{"plan takes no flags", "jouncebot: plan --force 445113", `plan does not know the flag "--force"; it takes no flags. Nothing was done.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ran
			got := ask(t, d, "amir", "amir", tt.text)
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("replies = %q\nwant [%q]", got, tt.want)
			}
			if tt.want != "ran" && ran != before {
				t.Errorf("the handler ran for a refused request")
			}
		})
	}
}
