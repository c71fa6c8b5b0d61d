package deploy_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jouncebot/jouncebot/deploy"
)

// fakeJudge is a deploy policy whose answer the test sets.
type fakeJudge struct {
	mu     sync.Mutex
	no     string
	frozen string
	asked  []deploy.Question
}

func (f *fakeJudge) Judge(_ context.Context, q deploy.Question) (deploy.Verdict, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, q)
	return deploy.Verdict{Frozen: f.frozen}, f.no
}

func (f *fakeJudge) refuse(no string) { f.mu.Lock(); defer f.mu.Unlock(); f.no = no }

func (f *fakeJudge) freeze(what string) { f.mu.Lock(); defer f.mu.Unlock(); f.frozen = what }

// A forced deploy that waits for a second deployer has not started: the
// second deployer's approve asks the policy again, as the last approval of
// a waiting request does, so an approve given when the next window is
// too close does not start it (issue 24, item 1).
func TestSecondApprovalAsksTheJudge(t *testing.T) {
	t.Parallel()
	j := &fakeJudge{}
	e := newEnv(t, func(o *deploy.Options) { o.RequireSecondApprover = true; o.Judge = j })
	n := e.sb.Changes["config"]
	id, err := e.agent.Start(context.Background(), deploy.Request{Changes: []string{itoa(n)}, By: alice, Force: true, Reason: "site is down"})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("needs")
	const no = "Not now: the next window, UTC late backport window (Lucas), starts in 5 minutes at 14:00 UTC, and a deploy takes about 10 minutes (the configured minimum); deploy in a window, or after 15:00 UTC."
	j.refuse(no)
	err = e.agent.Approve(context.Background(), id, bob)
	if err == nil || !strings.HasPrefix(err.Error(), no) {
		t.Fatalf("approve when the policy refuses: %v", err)
	}
	if len(e.sb.Reviews()) != 0 {
		t.Error("voted although the policy refused")
	}
	if err := e.agent.Approve(context.Background(), id, alice); err == nil || strings.HasPrefix(err.Error(), no) {
		t.Errorf("the deployer's own approve: %v (the policy is asked only for an approve that would count)", err)
	}
	j.refuse("")
	// A freeze declared while the deploy waits: the reason given with
	// --force was not an override of it.
	j.freeze("incident until 2026-11-26 00:00 UTC")
	want := "Deploys are frozen: incident until 2026-11-26 00:00 UTC, declared after deploy 1 was forced (reason: site is down); that reason is no override of this freeze. Deploy 1 still waits for a second deployer; `abort 1` withdraws it."
	if err := e.agent.Approve(context.Background(), id, bob); err == nil || err.Error() != want {
		t.Fatalf("approve in a new freeze: %v\nwant %q", err, want)
	}
	j.freeze("")
	if err := e.agent.Approve(context.Background(), id, bob); err != nil {
		t.Fatal(err)
	}
	e.waitFor("prepared")
}

// A second deployer's approve of a forced deploy is an approval of the
// patchsets it started with, like the policy's approvals: when a new
// patchset arrives during the merge wait, `continue` does not carry it
// over to the patchset nobody approved (issue 24, item 2).
func TestSecondApprovalDoesNotCarryOverToANewPatchSet(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *deploy.Options) { o.RequireSecondApprover = true })
	n := e.sb.Changes["config"]
	newPatchSetMidWait(e, n)
	id, err := e.agent.Start(context.Background(), deploy.Request{Changes: []string{itoa(n)}, By: alice, Force: true, Reason: "site is down"})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("needs")
	if err := e.agent.Approve(context.Background(), id, bob); err != nil {
		t.Fatal(err)
	}
	ev := e.waitFor("needs") // patchset 2 arrived during the merge wait
	if want := "alice: Bob uploaded patchset 2 of " + itoa(n) + " while we waited for the merge; it was not approved. The deploy's approvals were for the patchset it started with: say `abort` and ask again."; ev.Text.String() != want {
		t.Errorf("got %q, want %q", ev.Text, want)
	}
	want := "Bob's approval of deploy 1 was for the patchsets it started with, not patchset 2 of " + itoa(n) + ": it does not carry over. Say `abort 1` and ask again."
	if err := e.agent.Continue(context.Background(), id, alice); err == nil || err.Error() != want {
		t.Fatalf("continue: %v\nwant %q", err, want)
	}
	if r := e.reviews(n); len(r) != 1 || r[0].PatchSet != 1 {
		t.Errorf("reviews = %+v, want only the +2 on patchset 1", r)
	}
}
