package hostsync

import (
	"context"
	"strings"
)

// A host's release marker is two entries at the top of its tree, both
// written by the same transfer that brings the release:
//
//   - MarkerName, a symbolic link whose target is the id of the release
//     the host is being given. rsync makes links as it walks the tree,
//     before any file of the transfer lands (updates land together at
//     the end, --delay-updates), so it changes first.
//   - ClaimDir, a directory holding one empty file named by that id.
//     ClaimDir sorts after every other top-level name, so its new file
//     is the last update to land, and the claim of the release held
//     before is the last file deleted (--delete-delay).
//
// A host holds a release exactly when the link names it and ClaimDir
// holds its claim and nothing else: a transfer cut short at any point
// leaves the two disagreeing, or two claims.
const (
	MarkerName = ".jouncebot-release"
	ClaimDir   = "~jouncebot"
)

// Transfer is one delivery to one host.
type Transfer struct {
	// Paths are the paths of the tree to sync; nil syncs the whole tree.
	// A path may be a directory of the source: it is synced with all it
	// holds, and what the source lacks there is deleted.
	Paths []string
	// Filters are rsync filter rules placed before every other rule.
	Filters []string
	// Checksum compares files by content, not by size and time (for a
	// few named files: an edit of the same size within a second fools
	// the quick check).
	Checksum bool
}

// A Deliverer makes one transfer to a host and returns rsync's itemized
// changes ("*deleting   ~jouncebot/…", ">f.st...... index.php"). Rsync is
// one; a Method that wraps another should pass it on.
type Deliverer interface {
	Deliver(ctx context.Context, h Host, src string, t Transfer) ([]string, error)
}

// Deliver implements Deliverer with scap's options, one rsync (one
// connection) per call.
func (r *Rsync) Deliver(ctx context.Context, h Host, src string, t Transfer) ([]string, error) {
	args := append([]string{}, scapArgs...)
	args = append(args, "--itemize-changes")
	if r.Compress {
		args = append(args, "--compress")
	}
	if t.Checksum {
		args = append(args, "--checksum")
	}
	out, err := r.runFiltered(ctx, args, t.Filters, true, h, src, t.Paths)
	if err != nil {
		return nil, err
	}
	return lines(out), nil
}

func lines(out []byte) []string {
	var ls []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimRight(l, "\r"); strings.TrimSpace(l) != "" {
			ls = append(ls, l)
		}
	}
	return ls
}
