package deploy

import (
	"context"
	"fmt"
	"strings"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/judge"
)

// The deploy policy's interface is package judge's; the engine's API
// names it as its own.
type (
	Judge    = judge.Judge
	Question = judge.Question
	Verdict  = judge.Verdict
)

// referee asks the deploy policy (Options.Judge) whether a deploy may
// start, be approved or begin a stage, and says whether a forced deploy
// waits for a second deployer (Options.RequireSecondApprover). It stops a
// deploy the policy refuses through the announcer.
type referee struct {
	o *Options // the engine's
	announcer
}

// SetJudge makes j the engine's judge. Call it before Run.
func (rf *referee) SetJudge(j Judge) { rf.o.Judge = j }

// needsApproval reports whether a forced deploy must wait for a second
// deployer.
func (rf *referee) needsApproval(r Request) bool {
	return rf.o.RequireSecondApprover && r.Force && (!r.InWindow || r.Frozen != "") && len(r.Approvals) == 0
}

// judgeStart asks the judge about a starting deploy or revert and replaces
// the request's facts with the judge's. It returns the refusal, if any.
func (rf *referee) judgeStart(ctx context.Context, action string, r *Request) error {
	if rf.o.Judge == nil || r.By.Name == "" || !r.By.Deployer || len(r.Changes) == 0 {
		return nil // check() says what is wrong with the request first
	}
	example := fmt.Sprintf("%s --force %s <reason>", action, strings.Join(r.Changes, " "))
	v, no := rf.o.Judge.Judge(ctx, Question{Action: action, By: r.By, Force: r.Force, Reason: r.Reason, Approvals: r.Approvals, ForcedAt: r.ForcedAt, Example: example})
	if no != "" {
		rf.log.Info("the deploy policy refused", "action", action, "by", r.By.Name, "why", no)
		return sentence(no)
	}
	r.InWindow, r.Window, r.Frozen, r.Approvals = v.InWindow, v.Window, v.Frozen, v.Approvals
	return nil
}

// judgeStage asks the judge whether deploy d may begin stage s, a stage
// that widens exposure. When it may not, the deploy is aborted on the
// policy's behalf (the next round rolls back what was synced) and judgeStage
// reports true.
func (rf *referee) judgeStage(ctx context.Context, d *Deploy, s Stage) (bool, error) {
	if rf.o.Judge == nil {
		return false, nil
	}
	if _, widens := s.(*SyncStage); !widens {
		return false, nil
	}
	action := "deploy"
	if d.Revert != nil {
		action = "revert"
	}
	_, no := rf.o.Judge.Judge(ctx, Question{Action: action, By: d.By, Force: d.Force, Reason: d.Reason, Approvals: d.Approvals, Stage: s.Name(), Started: d.Created, Frozen: d.Frozen})
	if no == "" {
		return false, nil
	}
	rf.log.Info("the deploy policy stopped the deploy", "id", d.ID, "stage", s.Name(), "why", no)
	err := rf.update(d.ID, func(d *Deploy) error {
		if d.AbortBy == "" {
			d.AbortBy = "the deploy policy"
		}
		return nil
	})
	if err != nil {
		return true, err
	}
	rf.say(ctx, d.ID, EventProgress, bot.T(no))
	return true, nil
}

// judgeApproval asks the judge whether forced deploy d, waiting for a
// second deployer, may start now that one approves: the approval may come
// long after the deploy was asked for, when the next window is too close.
// The deploy keeps waiting when the policy says no.
func (rf *referee) judgeApproval(ctx context.Context, d *Deploy) error {
	if rf.o.Judge == nil {
		return nil
	}
	var nums []string
	for _, c := range d.Changes {
		nums = append(nums, fmt.Sprint(c.Number))
	}
	action := "deploy"
	if d.Revert != nil {
		action = "revert"
	}
	example := fmt.Sprintf("%s --force %s <reason>", action, strings.Join(nums, " "))
	v, no := rf.o.Judge.Judge(ctx, Question{Action: action, By: d.By, Force: d.Force, Reason: d.Reason, Approvals: d.Approvals, Example: example})
	if no == "" && v.Frozen != "" && v.Frozen != d.Frozen {
		// --force overrides the freeze it was given in, not one
		// declared while the deploy waited.
		no = fmt.Sprintf("Deploys are frozen: %s, declared after deploy %s was forced (reason: %s); that reason is no override of this freeze.", v.Frozen, d.ID, d.Reason)
	}
	if no == "" {
		return nil
	}
	rf.log.Info("the deploy policy refused the approval", "id", d.ID, "why", no)
	return sentence(fmt.Sprintf("%s Deploy %s still waits for a second deployer; `abort %s` withdraws it.", no, d.ID, d.ID))
}

// PatchSets returns the current patchset of each of the changes nums in the
// engine's Gerrit, leaving out changes Gerrit does not know (the deploy
// says so when it starts). A request that waits for approvals is pinned
// to them, by the engine that will deploy it and check them again then.
func (a *changes) PatchSets(ctx context.Context, nums []int) (map[int]int, error) {
	out := make(map[int]int, len(nums))
	for _, n := range nums {
		ch, err := a.gerrit.Change(ctx, n)
		if gerrit.IsNotFound(err) {
			continue
		}
		if err != nil {
			a.log.Warn("read a change's patchset", "change", n, "err", err)
			return nil, fmt.Errorf("gerrit: change %d: %w", n, err)
		}
		out[n] = ch.PatchSet
	}
	return out, nil
}
