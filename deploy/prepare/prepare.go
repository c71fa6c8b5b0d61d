// Package prepare is the first place of a deploy: it makes the staging
// checkouts hold exactly the approved changes. Its steps vote Code-Review
// +2 (Vote), wait for the gate to merge (Merge), fetch upstream (Fetch),
// check that upstream holds exactly the approved commits besides the
// local security patches (Check), move the checkouts onto it (Update)
// and verify the result (Verify). Each is a step.Step of the deploy's
// workflow. Before any of them, the Resolver finds out what the changes a
// request names are: each change in Gerrit, the checkout it lands in, its
// dependencies, and whether staging is ready for it.
package prepare

import "strconv"

// EffectVote is the kind of the Vote step's side effects, the +2 on one
// change, kept under VoteKey in the change's record (Change.Vote).
const EffectVote = "vote"

// VoteKey is the key of the +2 on change n.
func VoteKey(n int) string { return EffectVote + "/" + strconv.Itoa(n) }
