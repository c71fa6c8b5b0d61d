package app_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Hostile requests in the built-in default: a plan of a thousand changes
// and a deploy of two hundred are refused with the limit, an unknown flag
// is refused by name (not "suggested" back), and the bot goes on answering.
func TestConsoleRefusesOversizedRequests(t *testing.T) {
	t.Parallel()
	s := startConsole(t, time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC))
	s.expect("Try `jouncebot: plan")
	many := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, " %d", 445113+i)
		}
		return b.String()
	}
	s.say("jouncebot: plan" + many(1000))
	s.expect("plan takes at most 20 changes at a time; split the list and ask again. Nothing was done.")
	s.say("jouncebot: summary" + many(21))
	s.expect("summary takes at most 20 changes at a time")
	s.say("jouncebot: deploy" + many(200))
	s.expect("deploy takes at most 20 changes at a time")
	s.say("jouncebot: deploy --bogus 445113")
	s.expect(`deploy does not know the flag "--bogus"; its flags are --force, -f, --prepare-only, and --stop-before-sync. Nothing was done.`)
	s.say("jouncebot: status")
	s.expect("No deploy in progress.")
	s.say("jouncebot: summary 445113")
	s.expect("Backport for [[gerrit:445113|")
}
