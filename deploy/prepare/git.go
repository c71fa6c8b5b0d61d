package prepare

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/jouncebot/jouncebot/deploy/git"
	"github.com/jouncebot/jouncebot/deploy/step"
)

// commit is a commit as the checks read it: its id, subject, author and
// Change-Ids.
type commit struct {
	SHA, Subject, Author string
	ChangeIDs            []string
}

// String names the commit for people: its id, subject, author and Change-Id.
func (c commit) String() string {
	id := "no Change-Id"
	if len(c.ChangeIDs) > 0 {
		id = "Change-Id " + c.ChangeIDs[0]
	}
	return fmt.Sprintf("%s %q by %s (%s)", step.Short(c.SHA), c.Subject, c.Author, id)
}

// logCommits lists the commits of the range rng in the checkout dir,
// newest first.
func logCommits(ctx context.Context, g step.Git, dir, rng string) ([]commit, error) {
	out, err := g.Run(ctx, dir, "log", "--format=%H%x1f%s%x1f%an%x1f%(trailers:key=Change-Id,valueonly,separator=%x2C)%x1e", rng)
	if err != nil {
		return nil, err
	}
	var cs []commit
	for _, rec := range strings.Split(out, "\x1e") {
		f := strings.Split(strings.TrimSpace(rec), "\x1f")
		if len(f) < 4 {
			continue
		}
		cs = append(cs, commit{SHA: f[0], Subject: f[1], Author: f[2], ChangeIDs: changeIDs(f[3])})
	}
	return cs, nil
}

// changeIDs are the Change-Ids of a commit's trailers as git log writes
// them with separator=%x2C.
func changeIDs(trailers string) []string {
	var ids []string
	for _, id := range strings.Split(trailers, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// changedSubmodules lists the gitlinks a range of commits changes.
func changedSubmodules(ctx context.Context, g step.Git, dir, rng string) ([]string, error) {
	// -z: ":meta\x00path\x00" per file, the path unquoted.
	out, err := g.Run(ctx, dir, "diff", "--raw", "-z", "--no-abbrev", "--no-renames", rng, "--")
	if err != nil {
		return nil, err
	}
	var subs []string
	fields := strings.Split(out, "\x00")
	for i := 0; i+1 < len(fields); i += 2 {
		meta, path := fields[i], fields[i+1]
		if strings.HasPrefix(meta, ":160000") || strings.Contains(meta, " 160000 ") {
			subs = append(subs, path)
		}
	}
	return subs, nil
}

// gitWords is the first line git wrote to stderr for a failed command
// (the error's own text when it wrote nothing).
func gitWords(err error) string {
	var gerr *git.Error
	if errors.As(err, &gerr) && strings.TrimSpace(gerr.Stderr) != "" {
		return step.FirstLine(strings.TrimSpace(gerr.Stderr))
	}
	return step.FirstLine(err.Error())
}

// statusSummary is `git status --porcelain`'s output as one line: its
// first three files and how many more.
func statusSummary(st string) string {
	lines := strings.Split(st, "\n")
	if len(lines) > 3 {
		return strings.Join(lines[:3], ", ") + fmt.Sprintf(" and %d more", len(lines)-3)
	}
	return strings.Join(lines, ", ")
}

// isDir reports whether path is a directory.
func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
