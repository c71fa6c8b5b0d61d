package judge

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/record"
)

// Gate is the testing gate's rules: after a sync stage, the deployer and
// the owners of the changes are asked to test, and their "tested ok" or
// "tested fail" decides whether the deploy goes on.
type Gate struct {
	// Owner is the person to mention for a Gerrit user, when it knows
	// one; an owner it does not know cannot be asked in chat. Nil knows
	// nobody.
	Owner func(gerritUser string) (bot.Person, bool)
	// OneOwnerEnough makes one owner's "tested ok" enough.
	OneOwnerEnough bool
}

// Outcome is what a testing gate's answers decide.
type Outcome int

// The outcomes of a testing gate.
const (
	Waiting Outcome = iota // not decided yet
	Passed                 // the deploy goes on
	Failed                 // the deploy rolls back
)

// String names the outcome: "waiting", "passed" or "failed".
func (o Outcome) String() string {
	switch o {
	case Passed:
		return "passed"
	case Failed:
		return "failed"
	}
	return "waiting"
}

// owner is the person to mention for Gerrit user, when g knows one.
func (g Gate) owner(user string) (bot.Person, bool) {
	if g.Owner == nil || user == "" {
		return bot.Person{}, false
	}
	return g.Owner(user)
}

// Decide decides deploy d's gate r from its answers about the release d
// syncs (an answer about another tree says nothing about this one), in
// the order they were given: a "tested fail" fails it, and Decide returns
// who said so, and the deployer's "tested ok" passes it, whichever comes
// first; otherwise every owner who can be asked (or one,
// with OneOwnerEnough) must say ok; when no owner can be asked in chat,
// every owner of the changes (or one) must.
func (g Gate) Decide(d *record.Deploy, r *record.GateRecord) (Outcome, string) {
	okBy := map[string]bool{}
	for _, c := range r.Answers {
		if d.Sync == nil || c.Release != d.Sync.Release {
			continue
		}
		if !c.OK {
			return Failed, c.Who
		}
		if c.Deployer {
			return Passed, ""
		}
		okBy[c.Gerrit] = true
	}
	owners := g.AskableOwners(d)
	if len(owners) == 0 {
		for _, c := range d.Changes {
			if !slices.Contains(owners, c.Owner) {
				owners = append(owners, c.Owner)
			}
		}
	}
	n := 0
	for _, o := range owners {
		if okBy[o] {
			n++
		}
	}
	if n == len(owners) || (n > 0 && g.OneOwnerEnough) {
		return Passed, ""
	}
	return Waiting, ""
}

// AskableOwners are the Gerrit usernames of the owners of d's changes
// who have a chat identity, each once, in change order.
func (g Gate) AskableOwners(d *record.Deploy) []string {
	var out []string
	for _, c := range d.Changes {
		if _, ok := g.owner(c.Owner); ok && !slices.Contains(out, c.Owner) {
			out = append(out, c.Owner)
		}
	}
	return out
}

// OKNames are the names of those who said "tested ok" at gate r, each
// once, in the order they said it.
func OKNames(r *record.GateRecord) []string {
	var out []string
	for _, c := range r.Answers {
		if c.OK && !slices.Contains(out, c.Who) {
			out = append(out, c.Who)
		}
	}
	return out
}

// Ask is the gate's question after deploy d, described by summary (its
// SAL summary), was synced to stage: it mentions the deployer and the
// owners and says what to test and how, the changes and, when header is
// not "", the request header that reaches the stage's servers (a
// debug-routing header, see RoutingHeaders). prefix goes before the
// summary: "(asked again after a restart) ".
func (g Gate) Ask(d *record.Deploy, stage, header, summary, prefix string) bot.Text {
	t := bot.Join(g.Everyone(d), bot.T(fmt.Sprintf(": %s%s synced to the %s. Please test it there:", prefix, summary, stage)))
	for _, c := range d.Changes {
		t = t.Append(bot.T(fmt.Sprintf("\n- %d %q (patchset %d)", c.Number, c.Subject, c.PatchSet)))
		if p, ok := g.owner(c.Owner); ok {
			t = t.Append(bot.T(" owner "), bot.M(p))
		}
	}
	if header != "" {
		t = t.Append(bot.T("\nTo reach the "+stage+", send the header "), bot.C(header), bot.T(" (e.g. with the WikimediaDebug browser extension)."))
	}
	return t.Append(bot.T("\nReply \"tested ok\" when it works or \"tested fail\" to roll back."))
}

// RoutingHeaders is "K: V, K2: V2": the request headers a stage's HTTP
// checks send (one map for each check), each once, sorted.
func RoutingHeaders(checks []map[string]string) string {
	var hs []string
	for _, h := range checks {
		for k, v := range h {
			if kv := k + ": " + v; !slices.Contains(hs, kv) {
				hs = append(hs, kv)
			}
		}
	}
	slices.Sort(hs)
	return strings.Join(hs, ", ")
}

// Everyone mentions those the gate asks: d's deployer, then each owner
// of its changes who can be asked.
func (g Gate) Everyone(d *record.Deploy) bot.Text {
	return g.mentions(d, nil)
}

// NotAnswered mentions those the gate reminds: d's deployer, then each
// owner of its changes who can be asked and has not answered at gate r.
func (g Gate) NotAnswered(d *record.Deploy, r *record.GateRecord) bot.Text {
	said := map[string]bool{}
	for _, c := range r.Answers {
		said[c.Gerrit] = true
	}
	return g.mentions(d, said)
}

// mentions mentions d's deployer, then each owner who can be asked and
// is not in skip.
func (g Gate) mentions(d *record.Deploy, skip map[string]bool) bot.Text {
	t := d.By.Mention()
	for _, o := range g.AskableOwners(d) {
		if skip[o] || o == d.By.Gerrit {
			continue
		}
		p, _ := g.owner(o)
		t = t.Append(bot.T(", "), bot.M(p))
	}
	return t
}

// PendingGate returns the stage whose testing gate is waiting in d, if
// any, and its gate.
func PendingGate(d *record.Deploy) (string, *record.GateRecord) {
	if d.Sync == nil {
		return "", nil
	}
	for name, r := range d.Sync.Stages {
		if r.Gate != nil && r.Gate.Passed.IsZero() {
			return name, r.Gate
		}
	}
	return "", nil
}

// PendingDecision returns the stage of d whose failed checks, or whose
// hosts that could not be checked after a restart, wait for the
// deployer, if any, and what waits.
func PendingDecision(d *record.Deploy) (string, *record.CheckRecord) {
	if d.Sync == nil {
		return "", nil
	}
	for name, r := range d.Sync.Stages {
		for _, c := range []*record.CheckRecord{r.Checks, r.Unreachable} {
			if c != nil && len(c.Failed) > 0 && c.Decision == "" {
				return name, c
			}
		}
	}
	return "", nil
}

// Confirm is who's answer (ok: "tested ok") to d's testing gate, given
// at now, with the patchsets it covers ("445113 patchset 1"): the
// deployer's covers all of d's changes, an owner's their own. Someone who
// is neither an owner of the changes nor the deployer is refused, with
// the sentence saying so; refused is "" otherwise.
func Confirm(d *record.Deploy, who record.Person, ok bool, now time.Time) (c record.Confirmation, which []string, refused string) {
	owner := who.Gerrit != "" && slices.ContainsFunc(d.Changes, func(c record.Change) bool { return c.Owner == who.Gerrit })
	deployer := who.Name != "" && who.Name == d.By.Name
	if !owner && !deployer {
		var owners []string
		for _, c := range d.Changes {
			if !slices.Contains(owners, c.OwnerName) {
				owners = append(owners, c.OwnerName)
			}
		}
		if who.Name == "" {
			return record.Confirmation{}, nil, fmt.Sprintf("Thanks, but only the owners of the changes in deploy %s (%s) or its deployer (%s) can confirm the test, and your account is not in my people list.",
				d.ID, bot.JoinNames(owners), d.By.Name)
		}
		return record.Confirmation{}, nil, fmt.Sprintf("Thanks, %s, but only the owners of the changes in deploy %s (%s) or its deployer (%s) can confirm the test, and I know you by your account as none of them.",
			who.Name, d.ID, bot.JoinNames(owners), d.By.Name)
	}
	release := ""
	if d.Sync != nil {
		release = d.Sync.Release
	}
	c = record.Confirmation{Who: who.Name, Gerrit: who.Gerrit, Deployer: deployer, OK: ok, Time: now, PatchSets: map[int]int{}, Release: release}
	for _, ch := range d.Changes {
		if deployer || ch.Owner == who.Gerrit {
			c.PatchSets[ch.Number] = ch.PatchSet
			which = append(which, fmt.Sprintf("%d patchset %d", ch.Number, ch.PatchSet))
		}
	}
	return c, which, ""
}
