package deploy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jouncebot/jouncebot/deploy"
)

// TestDeployAlreadyInStaging: deploying a change that staging already
// holds says so and does nothing; after it was reverted, it says by
// which change, even with --force. Neither writes a SAL line or claims a
// success.
func TestDeployAlreadyInStaging(t *testing.T) {
	t.Parallel()
	e, w := newSyncEnv(t, nil)
	n := e.sb.Changes["config"]
	deployAll(t, e, n)
	sha := e.gitOut(e.sb.Staging, "log", "-n", "1", "--format=%H", "--grep=^Change-Id: "+e.sb.ChangeID(n)+"$", "HEAD")[:10]
	sal := len(w.sal.all())
	reviews := len(e.reviews(n))

	_, err := e.agent.Start(context.Background(), e.request(alice, n))
	want := "Change " + itoa(n) + " is already in staging (commit " + sha + "); there is nothing to deploy."
	if err == nil || err.Error() != want {
		t.Errorf("deploy again:\n got %v\nwant %s", err, want)
	}

	id, err := e.agent.Revert(context.Background(), deploy.RevertRequest{Changes: []string{itoa(n)}, By: alice, InWindow: true})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventDone)
	rec, _ := e.agent.Record(id)
	rn := rec.Revert.New[0]
	sal = len(w.sal.all())

	forced := deploy.Request{Changes: []string{itoa(n)}, By: alice, Force: true, Reason: "bring it back"}
	_, err = e.agent.Start(context.Background(), forced)
	want = "Change " + itoa(n) + " was deployed (commit " + sha + ") and then reverted by " + itoa(rn) +
		` ("Revert \"Raise $wgExampleLimit to 20\""), which staging holds; deploying it again would change nothing. To bring it back, revert the revert in Gerrit and deploy that.`
	if err == nil || err.Error() != want {
		t.Errorf("deploy --force after the revert:\n got %v\nwant %s", err, want)
	}
	if got := w.sal.all(); len(got) != sal {
		t.Errorf("SAL lines written for nothing:\n%s", strings.Join(got[sal:], "\n"))
	}
	if got := len(e.reviews(n)); got != reviews+1 { // the revert's comment
		t.Errorf("%d reviews on %d, want %d", got, n, reviews+1)
	}
	if st, _ := e.agent.Status(context.Background()); st.Lock != nil {
		t.Errorf("the lock is held: %+v", st.Lock)
	}
}
