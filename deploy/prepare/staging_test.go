package prepare

import (
	"testing"
)

func TestDeployedIn(t *testing.T) {
	orig := StagedCommit{SHA: "aaa", ChangeIDs: []string{"Iorig"}, Subject: "Raise the limit"}
	revert := StagedCommit{SHA: "bbb", ChangeIDs: []string{"Irev"}, Subject: `Revert "Raise the limit"`, Body: "This reverts commit aaa.\n"}
	reapply := StagedCommit{SHA: "ccc", ChangeIDs: []string{"Ire2"}, Subject: `Revert "Revert "Raise the limit""`, Body: "This reverts commit bbb.\n"}
	other := StagedCommit{SHA: "ddd", ChangeIDs: []string{"Iother"}, Subject: "Other"}
	tests := []struct {
		name    string
		history []StagedCommit // newest first
		found   bool
		by      string
	}{
		{"absent", []StagedCommit{other}, false, ""},
		{"deployed", []StagedCommit{other, orig}, true, ""},
		{"reverted", []StagedCommit{other, revert, orig}, true, "bbb"},
		{"reverted and brought back", []StagedCommit{reapply, other, revert, orig}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, by, ok := DeployedIn(tt.history, "Iorig")
			if ok != tt.found || (ok && at.SHA != "aaa") {
				t.Fatalf("found %v at %q", ok, at.SHA)
			}
			got := ""
			if by != nil {
				got = by.SHA
			}
			if got != tt.by {
				t.Errorf("reverted by %q, want %q", got, tt.by)
			}
		})
	}
}
