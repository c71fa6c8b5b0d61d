package hostsync

import (
	"context"
	"fmt"
	"strings"
)

// Verify is a Method that changes nothing: it fails for a host whose tree
// differs from the source by content, by a missing file or by an extra
// file (rsync --checksum --dry-run --itemize-changes --delete). Use it as
// the Method of a Stage after a rollback. With paths, only those paths
// are compared.
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
	args := []string{"--recursive", "--links", "--checksum", "--dry-run", "--itemize-changes", "--delete", "--exclude=**/.git"}
	out, err := v.Rsync.run(ctx, args, h, src, paths)
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
