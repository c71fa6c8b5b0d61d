package release

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/jouncebot/jouncebot/deploy/hostsync"
)

// Marked is a hostsync.Method that syncs a release so that a host's
// marker names the release only once the host holds all of it: it syncs
// (src should be the release's Tree), then writes the marker naming the
// release. A marker naming the release a host held before says nothing
// about a host whose sync of another release was cut short or failed:
// only a marker naming the release being synced is proof.
type Marked struct {
	Method  hostsync.Method
	Release *Release
}

// Sync implements hostsync.Method.
func (m *Marked) Sync(ctx context.Context, h hostsync.Host, src string, paths []string) error {
	if err := m.Method.Sync(ctx, h, src, paths); err != nil {
		return err
	}
	return m.Method.Sync(ctx, h, m.Release.markerDir(), []string{MarkerName})
}

// Holds checks, with verify (a hostsync.Verify), that host h's marker
// names release r: one small file compared, not the tree.
func Holds(ctx context.Context, verify hostsync.Method, h hostsync.Host, r *Release) error {
	return verify.Sync(ctx, h, r.markerDir(), []string{MarkerName})
}

// HoldsMethod is a hostsync.Method that checks each host's marker against
// r, for a Stage that verifies many hosts at once.
type HoldsMethod struct {
	Verify  hostsync.Method
	Release *Release
}

// Sync implements hostsync.Method; it changes nothing.
func (m *HoldsMethod) Sync(ctx context.Context, h hostsync.Host, _ string, _ []string) error {
	return Holds(ctx, m.Verify, h, m.Release)
}

// Changes says how staging differs from the commits m was frozen from:
// one line per checkout whose HEAD moved or whose files changed, e.g.
// "staging/php-1.46.0-wmf.3: includes/Hooks.php". None means staging
// still holds exactly the release.
func Changes(ctx context.Context, staging string, m *Manifest) ([]string, error) {
	var out []string
	for repo, commit := range m.Commits {
		if strings.Contains(repo, "/") {
			continue // a submodule: its checkout shows in its parent's status
		}
		dir := filepath.Join(staging, repo)
		head, err := gitOut(ctx, dir, "rev-parse", "HEAD")
		if err != nil {
			return nil, err
		}
		var what []string
		if head = strings.TrimSpace(head); head != commit {
			what = append(what, fmt.Sprintf("HEAD moved from %s to %s", short(commit), short(head)))
		}
		st, err := gitOut(ctx, dir, "status", "--porcelain", "-z", "--untracked-files=no")
		if err != nil {
			return nil, err
		}
		for _, rec := range strings.Split(st, "\x00") {
			if len(rec) > 3 {
				what = append(what, rec[3:])
			}
		}
		if len(what) > 0 {
			out = append(out, repoName(repo)+": "+strings.Join(what, ", "))
		}
	}
	slices.Sort(out)
	return out, nil
}

func short(sha string) string {
	if len(sha) > 10 {
		return sha[:10]
	}
	return sha
}
