// Package sallines writes the Server Admin Log lines of a deploy in the
// format people already grep for (scap's):
//
//	Started sync: Backport for [[gerrit:1234|Fix the thing (T123)]]
//	Synchronized wmf-config/InitialiseSettings.php: Backport for [[gerrit:1234|Fix the thing (T123)]] (duration: 00m 58s)
//	Finished sync: Backport for [[gerrit:1234|Fix the thing (T123)]] (duration: 08m 47s)
//
// Every function is pure: it takes values and returns the message. An
// Entry adds the deployer, whose name leads the line in the log; a Writer
// (implemented by the SAL package) stores it.
//
//	sum := sallines.Backport(changes)
//	w.Log(ctx, sallines.Entry{Deployer: "alice", Message: sallines.StartedSync(sum)})
package sallines

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jouncebot/jouncebot/bot"
)

// Entry is one SAL line, logged in the deployer's name.
type Entry struct {
	Deployer string
	Message  string
}

// String is the line as it reads in the log: "alice: Started sync: …".
func (e Entry) String() string { return e.Deployer + ": " + e.Message }

// Writer stores SAL entries. The SAL package implements it.
type Writer interface {
	Log(ctx context.Context, e Entry) error
}

// Change is one Gerrit change of a deploy.
type Change struct {
	Number  int
	Subject string
	// Bugs are the Phabricator tasks of its Bug: footers, e.g. T123.
	Bugs []string
}

// Link is the change as a wiki link: [[gerrit:1234|Fix the thing (T123 T456)]].
func (c Change) Link() string {
	text := clean(c.Subject)
	if len(c.Bugs) > 0 {
		text += " (" + strings.Join(c.Bugs, " ") + ")"
	}
	return fmt.Sprintf("[[gerrit:%d|%s]]", c.Number, text)
}

// clean keeps a subject from breaking the line or the link.
func clean(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.NewReplacer("[[", "[", "]]", "]").Replace(s)
}

// Backport is the summary of a backport: "Backport for [[gerrit:1|…]], [[gerrit:2|…]]".
func Backport(changes []Change) string {
	links := make([]string, len(changes))
	for i, c := range changes {
		links[i] = c.Link()
	}
	return "Backport for " + strings.Join(links, ", ")
}

// StartedSync is logged when the first stage starts.
func StartedSync(summary string) string { return "Started sync: " + summary }

// Synchronized is logged when only some paths were synced (the sync-file
// case), naming them.
func Synchronized(paths []string, summary string, d time.Duration) string {
	return fmt.Sprintf("Synchronized %s: %s (duration: %s)", pathList(paths), summary, Duration(d))
}

func pathList(paths []string) string {
	switch n := len(paths); {
	case n == 0:
		return "nothing"
	case n <= 3:
		shown := make([]string, n)
		for i, p := range paths {
			shown[i] = showPath(p)
		}
		return strings.Join(shown, ", ")
	default:
		return fmt.Sprintf("%s, %s and %d more files", showPath(paths[0]), showPath(paths[1]), n-2)
	}
}

// showPath quotes a path holding a control character (a newline would
// split the SAL line); other paths, "café.css" included, show as they are.
func showPath(p string) string {
	if strings.ContainsFunc(p, unicode.IsControl) {
		return strconv.Quote(p)
	}
	return p
}

// FinishedSync is logged when the last stage is done.
func FinishedSync(summary string, d time.Duration) string {
	return fmt.Sprintf("Finished sync: %s (duration: %s)", summary, Duration(d))
}

// CanaryAnalysis is logged when a stage's canary analysis is judged:
// "Canary analysis of canaries for Backport for [[gerrit:N|…]]: pass,
// score 100 (https://…/deploys/7/canary)". score is "" when no metric
// had data; report is the report page's address, or "".
func CanaryAnalysis(stage, summary, verdict, score, report string) string {
	s := fmt.Sprintf("Canary analysis of %s for %s: %s", stage, summary, verdict)
	if score != "" {
		s += ", score " + score
	}
	if report != "" {
		s += " (" + report + ")"
	}
	return s
}

// StartedRollback is logged when hosts are being put back to the previous
// tree, with the reason.
func StartedRollback(summary string, hosts int, reason string) string {
	return fmt.Sprintf("Started rollback of %s: %s (%s)", bot.Count(hosts, "host"), summary, strings.TrimSuffix(clean(reason), "."))
}

// FinishedRollback is logged when every host is verified to hold the
// previous tree again. The change stays merged in Gerrit.
func FinishedRollback(summary string, hosts int, d time.Duration) string {
	return fmt.Sprintf("Finished rollback of %s, verified: %s (duration: %s); the change is still merged, revert it before the next deploy",
		bot.Count(hosts, "host"), summary, Duration(d))
}

// Reverted is logged when a change was reverted in staging and synced
// before the revert went to Gerrit (the emergency path); revert is the
// revert's own change, or zero if it is not pushed yet.
func Reverted(c Change, revert int, d time.Duration) string {
	s := fmt.Sprintf("Reverted %s locally and synced", c.Link())
	if revert > 0 {
		s += fmt.Sprintf("; revert is [[gerrit:%d]]", revert)
	}
	return fmt.Sprintf("%s (duration: %s)", s, Duration(d))
}

// Duration formats d as scap does: "08m 47s", or "1h 02m 03s".
func Duration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%dh %02dm %02ds", h, m, s)
	}
	return fmt.Sprintf("%02dm %02ds", m, s)
}
