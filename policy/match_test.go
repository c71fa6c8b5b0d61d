package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Approver slots are filled by matching: each approver fills one slot,
// the slots are chosen so that as many as possible are filled, and an
// admin fills a role's slot only when the policy says admins have every
// role (issue 24, item 4).
func TestMatchApprovers(t *testing.T) {
	releng := Need{Rule: "Friday", Role: "releng"}
	sre := Need{Rule: "Friday", Role: "sre"}
	claimer := Need{Rule: "claimed window", Person: "Jeena"}
	both := Approver{Name: "Tyler", Roles: []string{"releng", "sre"}}
	rita := Approver{Name: "Rita", Roles: []string{"releng"}}
	sam := Approver{Name: "Sam", Roles: []string{"sre"}}
	sam2 := Approver{Name: "Sasha", Roles: []string{"sre"}}
	admin := Approver{Name: "Ada", Roles: []string{"admin"}, Admin: true}
	admin2 := Approver{Name: "Adele", Roles: []string{"admin"}, Admin: true}
	tests := []struct {
		name      string
		adminAll  bool
		needs     []Need
		approvers []Approver
		unmet     []Need
	}{
		{"both roles first, then the only RelEng person", false, []Need{releng, sre}, []Approver{both, rita}, nil},
		{"both roles alone fills one slot", false, []Need{releng, sre}, []Approver{both}, []Need{sre}},
		{"two admins are no RelEng or SRE person", false, []Need{releng, sre}, []Approver{admin, admin2}, []Need{releng, sre}},
		{"two admins when admins have every role", true, []Need{releng, sre}, []Approver{admin, admin2}, nil},
		{"one SRE for two SRE slots", false, []Need{sre, sre}, []Approver{sam}, []Need{sre}},
		{"two distinct SREs", false, []Need{sre, sre}, []Approver{sam, sam2}, nil},
		{"the claimer by name", false, []Need{claimer, sre}, []Approver{sam, {Name: "jeena"}}, nil},
		{"a role does not stand for the claimer", false, []Need{claimer}, []Approver{both}, []Need{claimer}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Rules{AdminHasEveryRole: tt.adminAll}
			if diff := cmp.Diff(tt.unmet, r.Unmet(tt.needs, tt.approvers)); diff != "" {
				t.Errorf("unmet (-want +got):\n%s", diff)
			}
		})
	}
}

// Whether one more approver helps is decided by the matching too: after
// the person with both roles, the only RelEng person still helps (the
// greedy fill told them "you are not one of them"); a second approval by
// role of the same kind does not.
func TestHelps(t *testing.T) {
	needs := []Need{{Rule: "Friday", Role: "releng"}, {Rule: "Friday", Role: "sre"}}
	both := Approver{Name: "Tyler", Roles: []string{"releng", "sre"}}
	if n, ok := (Rules{}).Helps(needs, []Approver{both}, Approver{Name: "Rita", Roles: []string{"releng"}}); !ok || n.Role != "releng" {
		t.Errorf("Rita after Tyler: %v %v", n, ok)
	}
	if _, ok := (Rules{}).Helps(needs, []Approver{{Name: "Sam", Roles: []string{"sre"}}}, Approver{Name: "Sasha", Roles: []string{"sre"}}); ok {
		t.Error("a second SRE helps a rule that needs one")
	}
}
