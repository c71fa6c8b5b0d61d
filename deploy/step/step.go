// Package step is the contract between the deploy engine (package deploy)
// and its places (prepare, release, deliver, judge): what a step of a
// deploy's workflow is given (a Job), what it may return (a Failure,
// ErrAborted, ErrPaused), the kinds of line it says, and how its
// sentences write the things they name.
package step

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/git"
	"github.com/jouncebot/jouncebot/deploy/record"
	"github.com/jouncebot/jouncebot/deploy/workflow"
)

// Step is one named step of a deploy's workflow. Exec runs it from
// wherever the deploy's record says it got to, writes its intent with
// Job.Checkpoint before every side effect and its outcome with Job.Save
// after (or makes the effect through Job.Do), and returns nil when the
// step is complete, a *Failure (see Failf) to stop the deploy, or ctx's
// error when interrupted (the deploy resumes at this step on restart).
type Step interface {
	Name() string
	Exec(ctx context.Context, j Job) error
}

// Effector is a Step that declares the kinds of side effect it makes
// through Job.Do (workflow.Step.Effects), for the crash matrix.
type Effector interface {
	Effects() []string
}

// Job is a running deploy as a step sees it.
type Job interface {
	// ID is the deploy's id.
	ID() record.ID
	// Deploy returns a fresh copy of the deploy's record.
	Deploy() (*record.Deploy, error)
	// Checkpoint records f's changes before a side effect. It returns
	// ErrAborted, recording nothing, when the deploy was aborted.
	Checkpoint(f func(d *record.Deploy)) error
	// Save records the outcome of a side effect.
	Save(f func(d *record.Deploy)) error
	// Say posts a line and records it in the deploy's history.
	Say(ctx context.Context, kind EventKind, t bot.Text)
	// Do makes the side effect e once: see workflow.Instance.Do.
	Do(ctx context.Context, e workflow.Effect) (made bool, err error)
	// Forget drops the record of the effect under key, so that the next
	// Do of it makes it again.
	Forget(key string) error
	// Pause records that the deploy waits for continue or abort because a
	// new patchset (p) arrived during the merge wait: continue approves
	// that patchset and goes back to the vote. It is for that pause only.
	Pause(p *record.Pause) error
	// Woken is signalled when someone acts on the deploy (an abort, an
	// answer) so that a wait looks at the record again.
	Woken() <-chan struct{}
	// SecurityFailure is a failure that names a local security patch:
	// public says what happened, and the failure adds where the details
	// (private) went; they go only to the security destination.
	SecurityFailure(public, private string) error
	// Gerrit and Git are the engine's clients; StagingDir is the staging
	// checkout of the config repository.
	Gerrit() Gerrit
	Git() Git
	StagingDir() string
}

// Gerrit is the part of the Gerrit client the engine uses; *gerrit.Client
// implements it.
type Gerrit interface {
	Change(ctx context.Context, n int) (*gerrit.Change, error)
	Query(ctx context.Context, q string) ([]*gerrit.Change, error)
	SubmittedTogether(ctx context.Context, n int) ([]*gerrit.Change, error)
	Review(ctx context.Context, n int, revision string, in gerrit.ReviewInput) error
	Username() string
	ChangeURL(n int) string
}

// Git runs a git command in a directory; *git.Runner implements it.
type Git interface {
	Run(ctx context.Context, dir string, args ...string) (string, error)
}

// EventKind says what a line of a deploy reports.
type EventKind string

// Event kinds. Progress is routine; the others ask for or report an outcome.
const (
	EventStarted  EventKind = "started"
	EventProgress EventKind = "progress"
	EventNeeds    EventKind = "needs"    // someone must continue, approve or abort
	EventPrepared EventKind = "prepared" // staging checkout verified
	EventDone     EventKind = "done"
	EventFailed   EventKind = "failed"
	EventAborted  EventKind = "aborted"
	// EventSecurity carries details naming a local security patch. It is
	// for the security destination only (a private room, a private
	// message), never recorded in the deploy's history.
	EventSecurity EventKind = "security"
)

// Failure stops a deploy with a sentence for the channel. Private, when
// set, names a local security patch and goes only to the security
// destination (EventSecurity); Msg then says so without naming it.
type Failure struct{ Msg, Private string }

// Error is the sentence for the channel.
func (f *Failure) Error() string { return f.Msg }

// Failf returns a *Failure with a formatted sentence.
func Failf(format string, args ...any) error { return &Failure{Msg: fmt.Sprintf(format, args...)} }

// ErrAborted is returned by Job.Checkpoint when someone aborted the deploy.
var ErrAborted = record.ErrAborted

// ErrPaused is returned by a step that paused the deploy (Job.Pause): it
// waits for continue or abort.
var ErrPaused = errors.New("deploy paused")

// UserText turns an error into a sentence for chat. Failures, Gerrit
// errors and git errors already read as sentences.
func UserText(err error) string {
	var f *Failure
	if errors.As(err, &f) {
		return f.Msg
	}
	var ge *gerrit.Error
	if errors.As(err, &ge) {
		return ge.Error()
	}
	var gitErr *git.Error
	if errors.As(err, &gitErr) && len(gitErr.Args) > 0 {
		// git's own words go to the log, with the command.
		return fmt.Sprintf("git %s failed in the staging checkout; the details are in jouncebot's log.", gitErr.Args[0])
	}
	return err.Error()
}

// crashAt names the point at which a test wants the process to stop (the
// environment variable JOUNCEBOT_TEST_CRASH_AT); empty in production.
var crashAt = os.Getenv("JOUNCEBOT_TEST_CRASH_AT")

// CrashPoint is a test hook for the crash matrix: when point is the one
// named by JOUNCEBOT_TEST_CRASH_AT, the deploy says so on stderr and stops
// there for good, so the test kills the process at exactly that point
// instead of guessing with sleeps. Otherwise it does nothing.
func CrashPoint(point string) {
	if !CrashingAt(point) {
		return
	}
	fmt.Fprintf(os.Stderr, "jouncebot: test crash point %s reached\n", point)
	select {}
}

// RepoName names a checkout relative to the staging directory's parent:
// "staging" for the config checkout, "staging/php-1.46.0-wmf.3" for core.
func RepoName(dir string) string {
	if dir == "" {
		return "staging"
	}
	return "staging/" + dir
}

// Dur writes durations the way people do: 30m, 1h30m, 10s, 300ms.
func Dur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Short is a commit's id as people read it: its first ten digits.
func Short(sha string) string {
	if len(sha) > 10 {
		return sha[:10]
	}
	return sha
}

// ChangeList is "445113, 445114 and 445115".
func ChangeList(cs []record.Change) string {
	var s []string
	for _, c := range cs {
		s = append(s, strconv.Itoa(c.Number))
	}
	return bot.JoinNames(s)
}

// FirstLine is s up to its first newline.
func FirstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// CrashingAt reports whether the crash matrix stops the process at point.
func CrashingAt(point string) bool { return crashAt != "" && crashAt == point }

// Sentence is an error whose text is for people: a request refused, with
// what was wrong and what to do.
type Sentence string

// Error is the sentence.
func (s Sentence) Error() string { return string(s) }
