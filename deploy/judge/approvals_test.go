package judge_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/jouncebot/jouncebot/deploy/judge"
	"github.com/jouncebot/jouncebot/deploy/record"
)

var (
	rita = record.Approval{By: "Rita", Rule: "Friday"}
	sam  = record.Approval{By: "Sam", Rule: "Friday"}
)

func TestApprovalText(t *testing.T) {
	for _, tt := range []struct {
		name string
		as   []record.Approval
		want string
	}{
		{name: "none", want: ""},
		{name: "one", as: []record.Approval{rita}, want: "approved by Rita (Friday)"},
		{name: "two", as: []record.Approval{rita, sam}, want: "approved by Rita (Friday) and Sam (Friday)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := judge.ApprovalText(tt.as); got != tt.want {
				t.Errorf("ApprovalText = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestApprovedText(t *testing.T) {
	approved := &record.Approved{PatchSets: map[int]int{103: 4, 101: 2}}
	frozen := &record.Approved{PatchSets: map[int]int{101: 2}, Release: "20261207-140500"}
	for _, tt := range []struct {
		name      string
		approvals []record.Approval
		approved  *record.Approved
		want      string
	}{
		{name: "no approvals", want: ""},
		{name: "not yet bound to the changes", approvals: []record.Approval{rita}, want: "approved by Rita (Friday)"},
		{name: "for the changes", approvals: []record.Approval{rita, sam}, approved: approved, want: "approved by Rita (Friday) and Sam (Friday) for 101 at patchset 2 and 103 at patchset 4"},
		{name: "frozen", approvals: []record.Approval{rita}, approved: frozen, want: "approved by Rita (Friday) for 101 at patchset 2, frozen as release 20261207-140500"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := deploy()
			d.Approvals, d.Approved = tt.approvals, tt.approved
			if got := judge.ApprovedText(d); got != tt.want {
				t.Errorf("ApprovedText = %q\nwant           %q", got, tt.want)
			}
		})
	}
}

func TestApprovedFor(t *testing.T) {
	for _, tt := range []struct {
		name      string
		approvals []record.Approval
		revert    bool
		want      *record.Approved
	}{
		{name: "no approvals"},
		{name: "the changes at their patchsets", approvals: []record.Approval{rita}, want: &record.Approved{PatchSets: map[int]int{101: 2, 102: 1, 103: 4}}},
		{name: "a revert", approvals: []record.Approval{rita}, revert: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := deploy()
			d.Approvals = tt.approvals
			if tt.revert {
				d.Revert = &record.RevertRecord{}
			}
			if diff := cmp.Diff(tt.want, judge.ApprovedFor(d)); diff != "" {
				t.Errorf("ApprovedFor (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnapproved(t *testing.T) {
	for _, tt := range []struct {
		name     string
		approved *record.Approved
		want     string
	}{
		{name: "no approvals", want: ""},
		{name: "what was approved", approved: &record.Approved{PatchSets: map[int]int{101: 2, 102: 1, 103: 4}}, want: ""},
		{
			name:     "a new patchset and a change nobody approved",
			approved: &record.Approved{PatchSets: map[int]int{101: 1, 103: 4}},
			want:     "Not frozen: 101 is at patchset 2; 102 is at patchset 1, but the approvals were for 101 at patchset 1 and 103 at patchset 4; nothing was synced. Ask again to have what would ship approved.",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := deploy()
			d.Approvals, d.Approved = []record.Approval{rita}, tt.approved
			if got := judge.Unapproved(d); got != tt.want {
				t.Errorf("Unapproved = %q\nwant         %q", got, tt.want)
			}
		})
	}
}
