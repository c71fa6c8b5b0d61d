package deploy

import (
	"context"
	"strings"

	"github.com/jouncebot/jouncebot/deploy/judge"
	"github.com/jouncebot/jouncebot/deploy/sallines"
	"github.com/jouncebot/jouncebot/deploy/step"
)

// salLog writes msg to the Server Admin Log in the deployer's name. A
// line not written is logged, not returned: the deploy goes on.
func (a *releaser) salLog(ctx context.Context, d *Deploy, msg string) {
	if a.o.SAL == nil {
		return
	}
	if err := a.o.SAL.Log(context.WithoutCancel(ctx), d.By, msg); err != nil {
		a.log.Warn("SAL line not written", "deploy", d.ID, "err", err)
	}
}

// salSummary is the deploy's SAL summary: "Backport for [[gerrit:N|…]]",
// or "Revert of [[gerrit:N|…]]" for a revert.
func salSummary(d *Deploy) string {
	s := salChanges(d.Changes)
	if d.Revert != nil {
		s = "Revert of " + strings.TrimPrefix(s, "Backport for ")
	}
	if ap := judge.ApprovalText(d.Approvals); ap != "" {
		s += " (" + ap + ")"
	}
	return s
}

// syncWhat names what a deploy syncs: "445113" or "the revert of 445113".
func syncWhat(d *Deploy) string {
	if d.Revert != nil {
		return "the revert of " + step.ChangeList(d.Changes)
	}
	return step.ChangeList(d.Changes)
}

func salChanges(cs []Change) string {
	out := make([]sallines.Change, len(cs))
	for i, c := range cs {
		out[i] = sallines.Change{Number: c.Number, Subject: c.Subject, Bugs: c.Bugs}
	}
	return sallines.Backport(out)
}
