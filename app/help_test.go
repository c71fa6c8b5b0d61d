package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lrstanley/girc"

	"github.com/jouncebot/jouncebot/bot/irc/irctest"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// Over IRC, with the whole command table: help in the channel is at most
// two lines (the command names and where to read more); help in private
// lists every one of those commands on lines of its own, with nothing cut.
func TestHelpShortInChannelCompleteInPrivate(t *testing.T) {
	t.Parallel()
	ircd := irctest.Start(t)
	ircd.Register(t, "amir", "amirpassword1")
	amir := ircd.Client(t, irctest.ClientConfig{Nick: "amir", Account: "amir", Password: "amirpassword1"})
	amir.Join(t, "#ops")
	startIRCApp(t, ircd.FastAddr, &config.Pace{Burst: 10, Rate: 3})
	amir.WaitEvent(t, func(e *girc.Event) bool {
		return e.Command == girc.JOIN && e.Source != nil && e.Source.Name == "jouncebot"
	})

	amir.Say("#ops", "jouncebot: help")
	// The two lines of the reply arrive in this order. A window notice,
	// which goes ahead of replies, may come between them (see the order
	// promised in bot/irc's package comment).
	first := amir.Expect(t, func(m irctest.Msg) bool {
		return irctest.FromTo("jouncebot", "#ops")(m) && strings.HasPrefix(m.Text, "Commands: ")
	})
	amir.Expect(t, func(m irctest.Msg) bool {
		return irctest.FromTo("jouncebot", "#ops")(m) && strings.HasPrefix(m.Text, `Say "jouncebot: help <command>"`)
	})
	names := strings.Split(strings.TrimSuffix(strings.TrimPrefix(first.Text, "Commands: "), "."), ", ")
	if len(names) < 20 {
		t.Errorf("channel help names %d commands: %q", len(names), first.Text)
	}

	amir.Say("jouncebot", "help")
	amir.Expect(t, func(m irctest.Msg) bool {
		return irctest.FromTo("jouncebot", "amir")(m) && strings.HasPrefix(m.Text, "Address me as")
	})
	var lines []string
	for len(lines) < len(names) {
		m, err := amir.ExpectWithin(testenv.Scale(time.Minute), irctest.FromTo("jouncebot", "amir"))
		if err != nil {
			t.Fatalf("private help after %d lines: %v", len(lines), err)
		}
		lines = append(lines, strings.ReplaceAll(m.Text, "\x02", "")) // bold usage
	}
	for i, name := range names {
		if !strings.HasPrefix(lines[i], name) || !strings.Contains(lines[i], " — ") || !strings.HasSuffix(lines[i], ".") {
			t.Errorf("private help line %d = %q, want the entry of %s", i+1, lines[i], name)
		}
	}
	for _, m := range amir.Messages() {
		if m.Nick == "jouncebot" && strings.Contains(m.Text, "too long") {
			t.Errorf("help was cut: %q", m.Text)
		}
	}

	// status ends with how the chat networks are doing.
	amir.Say("jouncebot", "status")
	amir.Expect(t, func(m irctest.Msg) bool {
		return irctest.FromTo("jouncebot", "amir")(m) && strings.HasPrefix(m.Text, "Networks: libera: connected to "+ircd.FastAddr+" as jouncebot")
	})
}
