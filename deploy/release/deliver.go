package release

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/step"
)

// Marked is a hostsync.Method that delivers a release to a host so that
// the host's marker names the release only once the host holds all of it
// (see hostsync.MarkerName). It decides from the host's truth, not from
// the paths of the job: the host gets the difference between the release
// its marker names and this one, or, when the release it holds is not
// known, the whole release (the paths rsync must never delete are
// Rsync.Protect's). The marker travels in the same transfer, so each host
// costs one connection.
//
// What a host holds is known from the marker the last transfer to it
// wrote, kept in the Store; the transfer itself checks it: a host whose
// marker named another release keeps a second claim that makes its marker
// name nothing, and gets the whole release at once. A host the Store
// knows nothing of (a new host, one changed behind the bot's back, a
// transfer cut short) gets the whole release.
type Marked struct {
	// Method syncs; when it is a hostsync.Deliverer (Rsync is) the
	// release and its marker go in one transfer, else the tree and then
	// the marker (two).
	Method  hostsync.Method
	Release *Release
	// Store remembers what each host holds; nil means every host gets
	// the whole release.
	Store *Store
	// FileLimit is the largest number of differing paths sent one by one;
	// beyond it the whole release is synced. 0 means no limit.
	FileLimit int

	mu    sync.Mutex
	diffs map[string][]string // paths to send, by the release held
}

// Sync implements hostsync.Method. src and paths are ignored: the host
// gets the release, what it needs of it.
func (m *Marked) Sync(ctx context.Context, h hostsync.Host, _ string, _ []string) error {
	tree := m.Release.Tree()
	d, ok := m.Method.(hostsync.Deliverer)
	if !ok {
		if err := m.Method.Sync(ctx, h, tree, nil); err != nil {
			return err
		}
		return m.Method.Sync(ctx, h, tree, markerPaths)
	}
	held := ""
	if m.Store != nil {
		held = m.Store.Held(h.Dest)
		// Forgotten before the host changes: a transfer cut short leaves
		// it unknown.
		if err := m.Store.forget(h.Dest); err != nil {
			return err
		}
	}
	if t, ok := m.diff(held); ok {
		out, err := d.Deliver(ctx, h, tree, t)
		if err != nil {
			return m.unclaim(ctx, d, h, err)
		}
		if heldBefore(out, held, m.Release.ID) {
			return m.remember(h)
		}
		// The host did not hold the release the store said: its marker
		// now names nothing, and it gets the whole release.
	}
	if _, err := d.Deliver(ctx, h, tree, hostsync.Transfer{}); err != nil {
		return m.unclaim(ctx, d, h, err)
	}
	return m.remember(h)
}

// unclaim removes the release's claim from a host whose transfer failed
// (err), and returns err. rsync lands its delayed updates, the claim
// among them, even when some file could not be replaced (exit 23): the
// marker would name a release the host does not hold. The claim is
// deleted by a transfer from the release's directory, which has no
// ClaimDir; the link may still name the release, the marker then names
// nothing. A transfer cut short (ctx ended) never got to the claim,
// which lands last, nor did one that never reached the host (no second
// connection to a host that is down).
func (m *Marked) unclaim(ctx context.Context, d hostsync.Deliverer, h hostsync.Host, err error) error {
	var re *hostsync.RsyncError
	if ctx.Err() != nil || errors.As(err, &re) && re.Connecting() {
		return err
	}
	claim := hostsync.ClaimDir + "/" + m.Release.ID
	if _, uerr := d.Deliver(ctx, h, m.Release.Dir, hostsync.Transfer{Paths: []string{claim}}); uerr != nil {
		return fmt.Errorf("%w; its marker may name release %s: removing the claim failed too: %v", err, m.Release.ID, uerr)
	}
	return err
}

// diff is the transfer that turns a host holding the release held into
// one holding m's, and whether there is one (held is known, kept, and
// differs in at most FileLimit paths).
func (m *Marked) diff(held string) (hostsync.Transfer, bool) {
	if held == "" || m.Store == nil {
		return hostsync.Transfer{}, false
	}
	files, err := m.diffFrom(held)
	if err != nil || m.FileLimit > 0 && len(files) > m.FileLimit {
		return hostsync.Transfer{}, false
	}
	claims := "/" + hostsync.ClaimDir + "/"
	return hostsync.Transfer{
		Paths: append(slices.Clip(files), markerPaths...),
		// Only the two claims are looked at: another claim the host
		// has stays, and makes the marker name nothing.
		Filters: []string{"+ " + claims + m.Release.ID, "+ " + claims + held, "- " + claims + "*"},
		// No --checksum: release files' times come from their content
		// (setMtime), so the quick check tells versions apart.
	}, true
}

// diffFrom is the paths that differ between the release held and m's,
// computed once for all the hosts holding it.
func (m *Marked) diffFrom(held string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if files, ok := m.diffs[held]; ok {
		return files, nil
	}
	base, err := m.Store.Open(held)
	if err != nil {
		return nil, err
	}
	if m.diffs == nil {
		m.diffs = map[string][]string{}
	}
	files := Diff(base.Manifest, m.Release.Manifest)
	m.diffs[held] = files
	return files, nil
}

// heldBefore reads rsync's itemized changes of a transfer to id that
// assumed the host held held: true when the host's link was there and
// its claim of held too (and is gone now); when held is id, when neither
// link nor claim changed.
func heldBefore(itemized []string, held, id string) bool {
	claim := hostsync.ClaimDir + "/"
	deleted, created, link, linkMade := false, false, false, false
	for _, l := range itemized {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		if f[1] == hostsync.MarkerName {
			link, linkMade = true, link || strings.Contains(f[0], "+")
			continue
		}
		if !strings.HasPrefix(f[1], claim) {
			continue
		}
		switch name := strings.TrimPrefix(f[1], claim); {
		case f[0] == "*deleting" && name == held:
			deleted = true
		case name == id && strings.Contains(f[0], "+"):
			created = true
		}
	}
	if held == id {
		return !created && !link
	}
	return deleted && !linkMade
}

func (m *Marked) remember(h hostsync.Host) error {
	if m.Store == nil {
		return nil
	}
	return m.Store.setHeld(h.Dest, m.Release.ID)
}

// Holds checks, with verify (a hostsync.Verify), that host h's marker
// names release r: the link and the claims compared, not the tree.
func Holds(ctx context.Context, verify hostsync.Method, h hostsync.Host, r *Release) error {
	return verify.Sync(ctx, h, r.Tree(), markerPaths)
}

// HoldsMethod is a hostsync.Method that checks each host's marker against
// r, for a Stage that verifies many hosts at once.
type HoldsMethod struct {
	Verify  hostsync.Method
	Release *Release
	// Store, when set, forgets what a host that does not hold Release
	// holds (see Store.Distrust).
	Store *Store
}

// Sync implements hostsync.Method; it changes nothing on the host.
func (m *HoldsMethod) Sync(ctx context.Context, h hostsync.Host, _ string, _ []string) error {
	err := Holds(ctx, m.Verify, h, m.Release)
	if m.Store != nil {
		m.Store.Distrust(h.Dest, m.Release.ID, err)
	}
	return err
}

// Distrust forgets that the host at dest holds release id when err, from
// Holds or a hostsync.Verify of that release, says it does not: its next
// transfer is the whole release. A marker naming no release (a second
// claim, which a transfer of differences keeps) is then cleared, where
// otherwise every transfer would keep it.
func (s *Store) Distrust(dest, id string, err error) {
	var diff *hostsync.DiffError
	if s == nil || !errors.As(err, &diff) || s.Held(dest) != id {
		return
	}
	_ = s.forget(dest)
}

// Changes says how staging differs from the commits m was frozen from:
// one line per checkout whose HEAD moved or whose files changed, e.g.
// "staging/php-1.46.0-wmf.3: includes/Hooks.php". None means staging
// still holds exactly the release.
func Changes(ctx context.Context, staging string, m *Manifest) ([]string, error) {
	ds, err := Drifts(ctx, staging, m)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out, nil
}

// Drift is how one checkout differs from the commits a release was
// frozen from.
type Drift struct {
	Repo  string   // "staging/php-1.46.0-wmf.3"
	Moved string   // "HEAD moved from … to …", or ""
	Files []string // the files changed and not committed
}

// String names every file: "staging/php-1.46.0-wmf.3: includes/Hooks.php".
func (d Drift) String() string {
	what := d.Files
	if d.Moved != "" {
		what = append([]string{d.Moved}, what...)
	}
	return d.Repo + ": " + strings.Join(what, ", ")
}

// Counted names no file, since an uncommitted change may be a security
// fix: "staging/php-1.46.0-wmf.3: 1 changed file".
func (d Drift) Counted() string {
	var what []string
	if d.Moved != "" {
		what = append(what, d.Moved)
	}
	if n := len(d.Files); n == 1 {
		what = append(what, "1 changed file")
	} else if n > 1 {
		what = append(what, fmt.Sprintf("%d changed files", n))
	}
	return d.Repo + ": " + strings.Join(what, ", ")
}

// Drifts is Changes, one Drift per checkout that differs, sorted.
func Drifts(ctx context.Context, staging string, m *Manifest) ([]Drift, error) {
	var out []Drift
	for repo, commit := range m.Commits {
		if strings.Contains(repo, "/") {
			continue // a submodule: its checkout shows in its parent's status
		}
		dir := filepath.Join(staging, repo)
		head, err := gitOut(ctx, dir, "rev-parse", "HEAD")
		if err != nil {
			return nil, err
		}
		d := Drift{Repo: step.RepoName(repo)}
		if head = strings.TrimSpace(head); head != commit {
			d.Moved = fmt.Sprintf("HEAD moved from %s to %s", step.Short(commit), step.Short(head))
		}
		st, err := gitOut(ctx, dir, "status", "--porcelain", "-z", "--untracked-files=no")
		if err != nil {
			return nil, err
		}
		for _, rec := range strings.Split(st, "\x00") {
			if len(rec) > 3 {
				d.Files = append(d.Files, rec[3:])
			}
		}
		if d.Moved != "" || len(d.Files) > 0 {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b Drift) int { return strings.Compare(a.Repo, b.Repo) })
	return out, nil
}
