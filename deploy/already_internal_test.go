package deploy

import "testing"

func TestDeployedIn(t *testing.T) {
	orig := stagedCommit{SHA: "aaa", ChangeIDs: []string{"Iorig"}, Subject: "Raise the limit"}
	revert := stagedCommit{SHA: "bbb", ChangeIDs: []string{"Irev"}, Subject: `Revert "Raise the limit"`, Body: "This reverts commit aaa.\n"}
	reapply := stagedCommit{SHA: "ccc", ChangeIDs: []string{"Ire2"}, Subject: `Revert "Revert "Raise the limit""`, Body: "This reverts commit bbb.\n"}
	other := stagedCommit{SHA: "ddd", ChangeIDs: []string{"Iother"}, Subject: "Other"}
	tests := []struct {
		name    string
		history []stagedCommit // newest first
		found   bool
		by      string
	}{
		{"absent", []stagedCommit{other}, false, ""},
		{"deployed", []stagedCommit{other, orig}, true, ""},
		{"reverted", []stagedCommit{other, revert, orig}, true, "bbb"},
		{"reverted and brought back", []stagedCommit{reapply, other, revert, orig}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, by, ok := deployedIn(tt.history, "Iorig")
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
