package judge

import (
	"fmt"
	"strings"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/record"
)

// ApprovalText is "approved by Rita (Friday) and Sam (Friday)", or ""
// without approvals.
func ApprovalText(as []record.Approval) string {
	if len(as) == 0 {
		return ""
	}
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = fmt.Sprintf("%s (%s)", a.By, a.Rule)
	}
	return "approved by " + bot.JoinNames(s)
}

// ApprovedText is what status says about d's approvals: who approved,
// for what, and the release bound to them once frozen.
func ApprovedText(d *record.Deploy) string {
	s := ApprovalText(d.Approvals)
	if s == "" || d.Approved == nil {
		return s
	}
	s += " for " + d.Approved.ChangesText()
	if d.Approved.Release != "" {
		s += ", frozen as release " + d.Approved.Release
	}
	return s
}

// ApprovedFor is what d's approvals are for, to record as d.Approved
// when the deploy starts: its changes at their patchsets. It is nil when
// d has no approvals, and for a revert (whose changes are made in
// staging, after the approvals).
func ApprovedFor(d *record.Deploy) *record.Approved {
	if len(d.Approvals) == 0 || d.Revert != nil {
		return nil
	}
	ap := &record.Approved{PatchSets: map[int]int{}}
	for _, c := range d.Changes {
		ap.PatchSets[c.Number] = c.PatchSet
	}
	return ap
}

// Unapproved says how d's changes differ from what its approvals were
// for ("" when they do not), before the freeze binds the release.
func Unapproved(d *record.Deploy) string {
	if d.Approved == nil {
		return ""
	}
	var out []string
	for _, c := range d.Changes {
		if ps, ok := d.Approved.PatchSets[c.Number]; !ok || ps != c.PatchSet {
			out = append(out, fmt.Sprintf("%d is at patchset %d", c.Number, c.PatchSet))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return fmt.Sprintf("Not frozen: %s, but the approvals were for %s; nothing was synced. Ask again to have what would ship approved.", strings.Join(out, "; "), d.Approved.ChangesText())
}
