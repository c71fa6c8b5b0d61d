package gerrittest

import (
	"path/filepath"
	"testing"
	"time"
)

// A sandbox opened again in the same directory meets the same Gerrit:
// changes, votes, merges and the reviews the bot posted, and a staging
// checkout that fetches from the new server; an approved change that had
// not merged when the sandbox stopped is merged by the gate afterwards.
func TestOpenSandboxPersists(t *testing.T) {
	requireGit(t)
	dir := filepath.Join(t.TempDir(), "sandbox")
	sb, err := OpenSandbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg, ext := sb.Changes["config"], sb.Changes["extension"]
	sb.SetGate(Gate{Never: true})
	if err := sb.Vote(cfg, BotUser, "Code-Review", 2); err != nil {
		t.Fatal(err)
	}
	sb.mu.Lock()
	sb.reviews = append(sb.reviews, Review{Change: cfg, PatchSet: 1, User: BotUser, Labels: map[string]int{"Code-Review": 2}})
	sb.save()
	sb.mu.Unlock()
	sb.Abandon(ext)
	url, staging := sb.URL, sb.Staging
	sb.Close()

	sb, err = OpenSandbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if sb.URL == url {
		t.Log("the new server has the old port")
	}
	if sb.Staging != staging || sb.Changes["config"] != cfg {
		t.Errorf("changes or staging moved: %v %s", sb.Changes, sb.Staging)
	}
	if got := sb.Status(ext); got != "ABANDONED" {
		t.Errorf("abandoned change is %s after reopening", got)
	}
	if got := len(sb.Reviews()); got != 1 {
		t.Errorf("%d reviews after reopening, want 1", got)
	}
	deadline := time.Now().Add(30 * time.Second)
	for sb.Status(cfg) != "MERGED" {
		if time.Now().After(deadline) {
			t.Fatal("the approved change was not merged after reopening")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := git(staging, nil, "", "fetch", "-q", "origin"); err != nil {
		t.Fatalf("staging cannot fetch from the reopened server: %v", err)
	}
	if tip, _ := git(staging, nil, "", "rev-parse", "origin/"+ConfigBranch); tip != sb.BranchTip(ConfigProject, ConfigBranch) {
		t.Errorf("staging fetched %s, the server's tip is %s", tip, sb.BranchTip(ConfigProject, ConfigBranch))
	}
	if err := sb.Err(); err != nil {
		t.Error(err)
	}
}
