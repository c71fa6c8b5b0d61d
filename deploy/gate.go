package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/check"
	"github.com/jouncebot/jouncebot/deploy/judge"
	"github.com/jouncebot/jouncebot/deploy/step"
)

// gate asks the deployer and the patch owners to test, and waits for
// their answers, with a reminder and a timeout that hands the decision to
// the deployer.
//
// The gate's own messages (the question asked again, the reminder, the
// timeout) are recorded and said only while the answers leave the gate
// undecided, checked in the transaction that records them and under
// gateMu, which the answers also take: an answer is never followed by a
// message saying that nobody answered.
func (s stageGate) gate(ctx context.Context, j *Job) error {
	e := j.e
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	g := d.Sync.Stage(s.StageName).Gate
	if g != nil && !g.Passed.IsZero() {
		return nil
	}
	if g == nil {
		now := time.Now().UTC()
		if err := j.Save(func(d *Deploy) { d.Sync.Stage(s.StageName).Gate = &GateRecord{Asked: now} }); err != nil {
			return err
		}
		j.Say(ctx, EventNeeds, e.gatekeeper.gateQuestion(d, s.SyncStage, ""))
	} else if err := s.askAgain(ctx, j); err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		d, err := j.Deploy()
		if err != nil {
			return err
		}
		if d.AbortBy != "" {
			return ErrAborted
		}
		g := d.Sync.Stage(s.StageName).Gate
		verdict, failBy := e.gatekeeper.gateRules().Decide(d, g)
		switch verdict {
		case judge.Passed:
			if err := j.Save(func(d *Deploy) { d.Sync.Stage(s.StageName).Gate.Passed = time.Now().UTC() }); err != nil {
				return err
			}
			j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("Tested on %s by %s; going on.", s.StageName, bot.JoinNames(judge.OKNames(g)))))
			return nil
		case judge.Failed:
			return rollback(ctx, j, fmt.Sprintf("%s said the changes do not work on %s (tested fail)", failBy, s.StageName))
		}
		now := time.Now()
		remind, timeout := g.Asked.Add(e.o.Gate.Reminder), g.Asked.Add(e.o.Gate.Timeout)
		switch {
		case g.Reminded.IsZero() && !now.Before(remind):
			if err := s.note(ctx, j, func(d *Deploy, g *GateRecord) Event {
				g.Reminded = now.UTC()
				return Event{Kind: EventNeeds, Text: bot.Join(e.gatekeeper.gateRules().NotAnswered(d, g), bot.T(fmt.Sprintf(
					": reminder, %s is waiting for your test on %s: reply \"tested ok\" or \"tested fail\".", step.ChangeList(d.Changes), s.StageName)))}
			}); err != nil {
				return err
			}
			continue
		case g.TimedOut.IsZero() && !now.Before(timeout):
			if err := s.timeOut(ctx, j, now, false); err != nil {
				return err
			}
			continue
		}
		next := timeout
		if g.Reminded.IsZero() {
			next = remind
		}
		if !g.TimedOut.IsZero() {
			next = now.Add(24 * time.Hour)
		}
		if _, err := wait(ctx, j, next, func(x *Deploy) bool {
			return len(x.Sync.Stage(s.StageName).Gate.Answers) != len(g.Answers)
		}); err != nil {
			return err
		}
	}
}

// askAgain asks the gate's question again after a restart, unless the
// answers recorded meanwhile decide it. When the timeout passed while
// jouncebot was down, it says that instead, once, as the timeout says it;
// when only the reminder's time passed, the question asked again is the
// reminder.
func (s stageGate) askAgain(ctx context.Context, j *Job) error {
	e := j.e
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	g := d.Sync.Stage(s.StageName).Gate
	now := time.Now()
	if g.TimedOut.IsZero() && !now.Before(g.Asked.Add(e.o.Gate.Timeout)) {
		return s.timeOut(ctx, j, now, true)
	}
	return s.note(ctx, j, func(d *Deploy, g *GateRecord) Event {
		if g.Reminded.IsZero() && !now.Before(g.Asked.Add(e.o.Gate.Reminder)) {
			g.Reminded = now.UTC()
		}
		return Event{Kind: EventNeeds, Text: e.gatekeeper.gateQuestion(d, s.SyncStage, "(asked again after a restart) "), Again: true}
	})
}

// timeOut acts on the gate's timeout, unless an answer decided the gate
// meanwhile: it hands the decision to the deployer. restarted says the
// timeout passed while jouncebot was down.
func (s stageGate) timeOut(ctx context.Context, j *Job, now time.Time, restarted bool) error {
	e := j.e
	if testPoint != nil {
		testPoint("gate timeout", j.id)
	}
	return s.note(ctx, j, func(d *Deploy, g *GateRecord) Event {
		g.TimedOut = now.UTC()
		if g.Reminded.IsZero() {
			g.Reminded = g.TimedOut // the timeout says more than the reminder would
		}
		who := "nobody confirmed"
		if ok := judge.OKNames(g); len(ok) > 0 {
			who = "only " + bot.JoinNames(ok) + " confirmed"
		}
		when := ""
		if restarted {
			when = "; jouncebot was restarted meanwhile"
		}
		return Event{Kind: EventNeeds, Text: bot.Join(d.By.Mention(), bot.T(fmt.Sprintf(
			": %s the test on %s within %s%s. Decide: `tested ok` to go on, or `tested fail` to roll back.", who, s.StageName, step.Dur(e.o.Gate.Timeout), when)))}
	})
}

// errDecided stops a gate's message: the answers decided the gate.
var errDecided = errors.New("the answers decided the gate")

// note records and says one of the gate's own messages: set changes the
// gate's record and returns the message. When the answers decided the gate
// meanwhile, nothing is recorded or said and the gate's loop sees the
// verdict; when the deploy was aborted meanwhile, note returns ErrAborted.
func (s stageGate) note(ctx context.Context, j *Job, set func(d *Deploy, g *GateRecord) Event) error {
	e := j.e
	e.gateMu.Lock()
	defer e.gateMu.Unlock()
	var ev Event
	err := e.records.update(j.id, func(d *Deploy) error {
		if d.AbortBy != "" {
			return ErrAborted
		}
		g := d.Sync.Stage(s.StageName).Gate
		if v, _ := e.gatekeeper.gateRules().Decide(d, g); v != judge.Waiting {
			return errDecided
		}
		ev = set(d, g)
		return nil
	})
	if errors.Is(err, errDecided) {
		return nil
	}
	if err != nil {
		return err
	}
	e.announcer.sayEvent(ctx, j.id, ev)
	return nil
}

// gatekeeper asks the testing gate's question and finds the question the
// current deploy waits on (pending.go); what the gate asks and what its
// answers decide are package judge's rules (gateRules), with the owners of
// the changes who can be asked in chat (Options.Owner) and Options.Gate.
type gatekeeper struct {
	records
	o *Options // the engine's
}

// gateRules are the testing gate's rules with the engine's options as
// they are now.
func (k gatekeeper) gateRules() judge.Gate {
	return judge.Gate{Owner: k.o.Owner, OneOwnerEnough: k.o.Gate.OneOwnerEnough}
}

// gateQuestion is the testing gate's question after d was synced to s.
func (k gatekeeper) gateQuestion(d *Deploy, s *SyncStage, prefix string) bot.Text {
	return k.gateRules().Ask(d, s.StageName, routingHeaders(s), salSummary(d), prefix)
}

// routingHeaders are the request headers the stage's HTTP checks send.
func routingHeaders(s *SyncStage) string {
	var hs []map[string]string
	for _, c := range s.Checks {
		if h, ok := c.(*check.HTTP); ok {
			hs = append(hs, h.Headers)
		}
	}
	return judge.RoutingHeaders(hs)
}

// ErrNoDecision is returned by Decide when the deploy is not waiting for
// the deployer's decision on failed checks or a test.
var ErrNoDecision = errors.New("no decision pending")

// ErrNoTest is matched (errors.Is) by Tested's error when nothing waits
// for a test; its text is a sentence for users.
var ErrNoTest = errors.New("no test pending")

type noTest string

// NoTest is an error matching ErrNoTest whose text is the sentence s (a
// deploy agent's answer, read back by its client).
func NoTest(s string) error {
	if s == "" {
		return ErrNoTest
	}
	return noTest(s)
}

func (e noTest) Error() string        { return string(e) }
func (e noTest) Is(target error) bool { return target == ErrNoTest }

// Tested records a "tested ok" (ok) or "tested fail" from who for the
// deploy's pending testing gate. Only the owners of its changes and its
// deployer, identified by account, may answer. The gate is checked and the
// answer recorded in one transaction, so an answer never lands on a gate
// that passed, or a deploy aborted, meanwhile.
func (e *Engine) Tested(ctx context.Context, id ID, who Person, ok bool) error {
	d, err := e.answers.target(id)
	if err != nil {
		if id == "" {
			return noTest(err.Error())
		}
		return err
	}
	if err := e.answer(ctx, d.ID, who, ok); err != nil {
		return err
	}
	e.nudge(ctx, d.ID)
	return nil
}

// answer records who's answer to deploy id's pending testing gate and
// says it, under gateMu: a gate's own message (a reminder, a timeout) is
// said before the answer, or not at all.
func (e *Engine) answer(ctx context.Context, id ID, who Person, ok bool) error {
	e.gateMu.Lock()
	defer e.gateMu.Unlock()
	var stage string
	var which []string
	err := e.records.update(id, func(d *Deploy) error {
		var g *GateRecord
		stage, g = judge.PendingGate(d)
		if g == nil || d.State != stateRunning || d.AbortBy != "" {
			return noTest(fmt.Sprintf("Deploy %s is not waiting for a test.", d.ID))
		}
		c, w, no := judge.Confirm(d, who, ok, time.Now().UTC())
		if no != "" {
			return sentence(no)
		}
		which = w
		g.Answers = append(g.Answers, c)
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNoTest) {
			return err
		}
		return e.answers.refusedOr("recording the test", err)
	}
	verdict := "works"
	switch {
	case !ok && len(which) > 1:
		verdict = "do not work"
	case !ok:
		verdict = "does not work"
	case len(which) > 1:
		verdict = "work"
	}
	e.announcer.say(ctx, id, EventProgress, bot.T(fmt.Sprintf("%s says %s %s on %s.", who.Name, bot.JoinNames(which), verdict, stage)))
	return nil
}

// Decide records the deployer's answer to failed checks: "retry",
// "rollback" or "continue" (with a reason). "rollback" also ends a
// pending testing gate. It returns ErrNoDecision when nothing waits for
// one. What waits is checked and the answer recorded in one transaction.
func (e *Engine) Decide(ctx context.Context, id ID, who Person, action, reason string) error {
	d, err := e.answers.target(id)
	if err != nil {
		return err
	}
	err = e.records.update(d.ID, func(d *Deploy) error {
		if d.State != stateRunning || d.AbortBy != "" {
			return ErrNoDecision
		}
		stage, cr := judge.PendingDecision(d)
		_, g := judge.PendingGate(d)
		switch {
		case cr == nil && (g == nil || action != "rollback"):
			return ErrNoDecision
		case action == "rollback" && d.Revert != nil:
			return sentence("A revert is not rolled back: that would bring the reverted change back on every host that got it. Say `retry` or `continue <reason>`.")
		case action == "continue" && strings.TrimSpace(reason) == "" && cr == d.Sync.Stage(stage).Unreachable:
			return sentence("Say why it is fine to go on without checking those hosts, e.g. `continue they are out of rotation for maintenance`.")
		case action == "continue" && strings.TrimSpace(reason) == "":
			return sentence("Say why it is fine to go on despite the failed checks, e.g. `continue the errors are from a bot, not from this change`.")
		}
		if err := mayControl(d, who); err != nil {
			return err
		}
		if cr == nil {
			g.Answers = append(g.Answers, Confirmation{Who: who.Name, Gerrit: who.Gerrit, Deployer: true, Time: time.Now().UTC(), Release: d.Sync.Release})
			return nil
		}
		cr.Decision, cr.By, cr.Reason = action, who.Name, strings.TrimSpace(reason)
		return nil
	})
	if errors.Is(err, ErrNoDecision) {
		return err
	}
	if err != nil {
		return e.answers.refusedOr("recording the decision", err)
	}
	e.nudge(ctx, d.ID)
	return nil
}
