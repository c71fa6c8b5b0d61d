package app_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/jouncebot/jouncebot/app"
)

// A host whose claim directory holds a claim besides its own (a tree
// copied by hand from another host, a claim left by a tool) names no
// release. A transfer of differences keeps such a claim (the host may
// not hold what jouncebot last gave it), so the marker goes on naming
// nothing; once a check finds that out (here the verify after a
// rollback), the host's next sync is the whole release, and its marker
// names what it holds again.
func TestStrayClaimIsCleared(t *testing.T) {
	t.Parallel()
	truthNeedRsync(t)
	s := runConsole(t, truthNow, "", nil, app.Options{}) // transfers of differences
	s.expect("Try `jouncebot: plan")
	sb := s.app.Sandbox()
	dir := sb.Servers
	s.say("jouncebot: deploy " + strconv.Itoa(sb.Changes["config"]))
	s.expect("amir, ")
	s.say("tested ok")
	s.expect("amir: deploy 1 is done")
	host := filepath.Join(dir, "mwdebug1001")
	truthWrite(t, filepath.Join(host, "~jouncebot", "0123456789abcdef0123"), "")
	s.say("jouncebot: deploy " + strconv.Itoa(sb.Changes["core"]))
	s.expect("amir, ")
	s.say("tested fail")
	s.expect("amir: deploy 2 stopped: ")
	s.say("jouncebot: deploy " + strconv.Itoa(sb.Changes["extension"]))
	s.expect("amir, ")
	s.say("tested ok")
	s.expect("amir: deploy 3 is done")
	claims, _ := os.ReadDir(filepath.Join(host, "~jouncebot"))
	if len(claims) != 1 {
		var names []string
		for _, c := range claims {
			names = append(names, c.Name())
		}
		t.Errorf("mwdebug1001's claims after three deploys: %q, want one", names)
	}
}
