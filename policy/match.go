package policy

import (
	"slices"
	"strings"
)

// Approver is what the matching knows of someone who approved: their
// name, their roles, and whether they are an admin.
type Approver struct {
	Name  string
	Roles []string
	Admin bool
}

// fills reports whether approver a may fill need n: the named person for
// a claimer's approval, anyone with the role for a role's (an admin only
// when the rules make admins every role).
func (r Rules) fills(a Approver, n Need) bool {
	if n.Person != "" {
		return strings.EqualFold(a.Name, n.Person)
	}
	return slices.Contains(a.Roles, n.Role) || (r.AdminHasEveryRole && a.Admin)
}

// Match fills the needs with distinct approvers so that as many needs as
// possible are met (a maximum bipartite matching, not first come first
// served: a person with two roles who approves first does not take the
// slot only someone else could fill). It returns, for each need, the
// index of the approver filling it, or -1.
func (r Rules) Match(needs []Need, approvers []Approver) []int {
	byNeed := make([]int, len(needs))
	for i := range byNeed {
		byNeed[i] = -1
	}
	byApprover := make([]int, len(approvers))
	for i := range byApprover {
		byApprover[i] = -1
	}
	// Kuhn's augmenting paths: a handful of needs and approvers.
	var try func(a int, seen []bool) bool
	try = func(a int, seen []bool) bool {
		for n := range needs {
			if seen[n] || !r.fills(approvers[a], needs[n]) {
				continue
			}
			seen[n] = true
			if byNeed[n] < 0 || try(byNeed[n], seen) {
				byNeed[n], byApprover[a] = a, n
				return true
			}
		}
		return false
	}
	for a := range approvers {
		try(a, make([]bool, len(needs)))
	}
	return byNeed
}

// Unmet lists the needs a maximum matching of approvers leaves open.
func (r Rules) Unmet(needs []Need, approvers []Approver) []Need {
	var out []Need
	for i, a := range r.Match(needs, approvers) {
		if a < 0 {
			out = append(out, needs[i])
		}
	}
	return out
}

// Helps reports whether adding who to approvers meets one more need, and
// which need they take in that matching.
func (r Rules) Helps(needs []Need, approvers []Approver, who Approver) (Need, bool) {
	before := len(needs) - len(r.Unmet(needs, approvers))
	with := append(slices.Clip(approvers), who)
	m := r.Match(needs, with)
	after := 0
	var took Need
	for i, a := range m {
		if a >= 0 {
			after++
		}
		if a == len(with)-1 {
			took = needs[i]
		}
	}
	return took, after > before
}
