// Package git runs git for the deploy engine: one command at a time, in a
// given directory, with a clean environment (no prompts, no user config, C
// locale) and errors that carry git's own explanation.
//
//	r := git.Runner{Log: logger}
//	out, err := r.Run(ctx, "/srv/mediawiki-staging", "fetch", "origin", "master")
package git

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Runner runs git commands. The zero value is ready to use.
type Runner struct {
	// Log receives one debug line per command.
	Log *slog.Logger
	// Name and Email are the committer identity for commits git makes on
	// the bot's behalf (rebases); default "jouncebot".
	Name, Email string
	// MaxOutput caps what is kept of each of stdout and stderr (0: no
	// cap); a command that writes more fails.
	MaxOutput int
}

// ErrOutputTooLong is a command that wrote more than Runner.MaxOutput.
var ErrOutputTooLong = errors.New("git: output longer than the limit")

// capped is a buffer that keeps at most max bytes and remembers that
// more came.
type capped struct {
	bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if c.max > 0 && c.Len()+len(p) > c.max {
		c.over = true
		c.Buffer.Write(p[:max(0, c.max-c.Len())])
		return len(p), nil // keep draining, so git is not blocked on a full pipe
	}
	return c.Buffer.Write(p)
}

// Error is a failed git command.
type Error struct {
	Dir    string
	Args   []string
	Stdout string
	Stderr string
	Err    error
}

func (e *Error) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("git %s in %s failed: %s", strings.Join(e.Args, " "), e.Dir, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Run runs git with args in dir and returns its standard output without
// the trailing newline.
func (r *Runner) Run(ctx context.Context, dir string, args ...string) (string, error) {
	name, email := r.Name, r.Email
	if name == "" {
		name, email = "jouncebot", "jouncebot@localhost"
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "LC_ALL=C", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_COMMITTER_NAME="+name, "GIT_COMMITTER_EMAIL="+email, "GIT_EDITOR=true")
	// git's own children (remote helpers of a fetch) die with it: the
	// whole process group is killed when ctx ends, and Wait gives up on
	// pipes a straggler still holds.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, errb := &capped{max: r.MaxOutput}, &capped{max: r.MaxOutput}
	cmd.Stdout, cmd.Stderr = out, errb
	err := cmd.Run()
	if err == nil && (out.over || errb.over) {
		err = ErrOutputTooLong
	}
	if r.Log != nil {
		r.Log.Debug("git", "dir", dir, "args", args, "took", time.Since(start), "err", err)
	}
	if err != nil {
		return "", &Error{Dir: dir, Args: args, Stdout: out.String(), Stderr: errb.String(), Err: err}
	}
	return strings.TrimRight(out.String(), "\n"), nil
}
