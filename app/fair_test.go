package app_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lrstanley/girc"

	"github.com/jouncebot/jouncebot/bot/irc/irctest"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// Over IRC, two deployers and an unidentified user ask question after
// question in the channel, faster than the reply budget (40 lines, then one
// every 3 s) allows. The deployers get every answer, in the order they
// asked; the other gets the budget, one sentence saying to slow down, and
// then no more than the budget refills.
func TestDeployersAreAnsweredInTurnStrangerIsCutOffOnIRC(t *testing.T) {
	t.Parallel()
	ircd := irctest.Start(t)
	ircd.Register(t, "amir", "amirpassword1")
	ircd.Register(t, "jeena", "jeenapassword1")
	amir := ircd.Client(t, irctest.ClientConfig{Nick: "amir", Account: "amir", Password: "amirpassword1"})
	jeena := ircd.Client(t, irctest.ClientConfig{Nick: "jeena", Account: "jeena", Password: "jeenapassword1"})
	eve := ircd.Client(t, irctest.ClientConfig{Nick: "eve"})
	for _, c := range []*irctest.Client{amir, jeena, eve} {
		c.Join(t, "#ops")
	}
	// A pace the server allows, so the reply budget is what holds answers.
	startIRCApp(t, ircd.Addr, &config.Pace{Burst: 50, Rate: 50})
	amir.WaitEvent(t, func(e *girc.Event) bool {
		return e.Command == girc.JOIN && e.Source != nil && e.Source.Name == "jouncebot"
	})

	// Each asks about a command that does not exist: the answer names it.
	const deployerQuestions, strangerQuestions = 45, 60
	askers := []struct {
		c      *irctest.Client
		prefix string
		n      int
	}{{amir, "a", deployerQuestions}, {jeena, "j", deployerQuestions}, {eve, "e", strangerQuestions}}
	var wg sync.WaitGroup
	for _, p := range askers {
		wg.Go(func() {
			for i := range p.n {
				p.c.Say("#ops", fmt.Sprintf("jouncebot: %s%d", p.prefix, i))
			}
		})
	}
	wg.Wait()

	// 5 lines over the budget take the deployers 15 s more.
	last := map[string]bool{}
	if _, err := amir.ExpectWithin(irctest.Timeout+testenv.Scale(30*time.Second), func(m irctest.Msg) bool {
		if q, ok := askedAbout(m.Text); ok && m.Nick == "jouncebot" && (q == fmt.Sprint("a", deployerQuestions-1) || q == fmt.Sprint("j", deployerQuestions-1)) {
			last[q] = true
		}
		return len(last) == 2
	}); err != nil {
		t.Fatalf("the deployers' last answers (got %v): %v", last, err)
	}
	got := map[string][]string{}
	slowDowns := 0
	for _, m := range amir.Messages() {
		if !irctest.FromTo("jouncebot", "#ops")(m) {
			continue
		}
		if strings.HasPrefix(m.Text, "You are asking faster than I can answer; I will answer you again in about ") {
			slowDowns++
			continue
		}
		if q, ok := askedAbout(m.Text); ok {
			got[q[:1]] = append(got[q[:1]], q)
		}
	}
	for _, p := range []string{"a", "j"} {
		var want []string
		for i := range deployerQuestions {
			want = append(want, fmt.Sprintf("%s%d", p, i))
		}
		if strings.Join(got[p], " ") != strings.Join(want, " ") {
			t.Errorf("deployer %s was answered about %v, want every question in order", p, got[p])
		}
	}
	if n := len(got["e"]); slowDowns != 1 || n < 40 || n >= strangerQuestions {
		t.Errorf("the unidentified user got %d answers and %d slow-downs, want at least the budget's 40, not all %d, and one slow-down", n, slowDowns, strangerQuestions)
	}
}

// askedAbout returns the command an unknown-command answer names.
func askedAbout(text string) (string, bool) {
	rest, ok := strings.CutPrefix(text, `I don't know the command "`)
	if !ok {
		return "", false
	}
	q, _, ok := strings.Cut(rest, `"`)
	return q, ok
}
