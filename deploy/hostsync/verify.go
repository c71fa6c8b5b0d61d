package hostsync

import (
	"context"
	"fmt"
	"strings"
)

// Verify is a Method that changes nothing: it fails for a host whose tree
// differs from the source by content, mode, a missing file or an extra
// file (rsync --checksum --dry-run --itemize-changes --delete). Use it as
// the Method of a Stage after a rollback. With paths, only those paths
// are compared. The paths Rsync.Protect names, and in a whole-tree
// comparison the host's release marker, count as extra only when the
// source has them too.
type Verify struct {
	Rsync Rsync
}

// DiffError lists the paths where a host differs from the source.
type DiffError struct {
	Paths []string // itemized by rsync, e.g. ">fc.T...... index.php"
}

func (e *DiffError) Error() string {
	shown := e.Paths
	more := ""
	if len(shown) > 5 {
		more = fmt.Sprintf(" and %d more", len(shown)-5)
		shown = shown[:5]
	}
	return fmt.Sprintf("differs from the release in %d places: %s%s", len(e.Paths), strings.Join(shown, "; "), more)
}

// Sync compares h with src.
func (v *Verify) Sync(ctx context.Context, h Host, src string, paths []string) error {
	args := []string{"--recursive", "--links", "--perms", "--checksum", "--dry-run", "--itemize-changes", "--delete", "--exclude=**/.git"}
	var filters []string
	if paths == nil {
		// A host's marker is not part of the tree it holds.
		filters = []string{"P /" + MarkerName, "P /" + ClaimDir + "/***"}
	}
	out, err := v.Rsync.runFiltered(ctx, args, filters, false, h, src, paths)
	if err != nil {
		return err
	}
	var diffs []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			diffs = append(diffs, l)
		}
	}
	if len(diffs) > 0 {
		return &DiffError{Paths: diffs}
	}
	return nil
}
