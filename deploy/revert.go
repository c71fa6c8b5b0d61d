package deploy

import "context"

// RevertRequest asks to revert a deployed change.
type RevertRequest struct {
	// Change is the change to revert, as typed.
	Change string
	By     Person
	// ViaGerrit pushes the revert and deploys it through the normal flow
	// instead of reverting in staging and syncing first.
	ViaGerrit bool
	InWindow  bool
	Window    string
	Force     bool
	Reason    string
	Origin    string
}

// Revert implements Engine.
func (a *Agent) Revert(ctx context.Context, r RevertRequest) (ID, error) {
	return "", sentence("Revert is not available yet.")
}
