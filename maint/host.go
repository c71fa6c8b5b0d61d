package maint

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/config"
)

// Host runs detached jobs on the maintenance host. Every call is one
// short command through Remote (ssh by default); the job itself runs in
// its own session under nohup, writing its output and exit status to
// files in WorkDir, so it outlives the connection that started it and
// the bot.
type Host struct {
	// Remote is the argv that runs a shell command line on the host, with
	// "{host}" replaced by Name; the command line is its last argument.
	Remote []string
	Name   string
	// Command is the argv template of one script on one wiki ("{script}",
	// "{wiki}"); the script's arguments are appended.
	Command []string
	// WorkDir holds one directory per job on the host.
	WorkDir string
	// CallTimeout bounds one call to the host (default 1 minute).
	CallTimeout time.Duration
}

// HostFrom returns the host of the configuration.
func HostFrom(m config.Maint) *Host {
	return &Host{Remote: m.Remote, Name: m.Host, Command: m.Command, WorkDir: m.WorkDir}
}

// Status is what a poll saw of a job.
type Status struct {
	// Running is true while a process of the job's process group lives
	// (a child that outlives the job's shell, killed by a stop, keeps it
	// running) and the job has not written its exit status (a child a
	// script left in the background when it exited does not).
	Running bool
	// Exit is the exit status once the job has ended (nil before, and when
	// the process is gone without one).
	Exit *int
	// Gone is true when the process is gone without an exit status
	// (stopped, or killed on the host).
	Gone bool
	// Output is the job's output from the offset asked for, at most
	// MaxChunk bytes.
	Output []byte
}

// MaxChunk is the most output one poll reads.
const MaxChunk = 256 << 10

var jobPattern = regexp.MustCompile(`^[0-9]+-[a-z]+-[0-9]+-[0-9a-z]+$`)

// Argv is the command of one script on one wiki.
func (h *Host) Argv(script, wiki string, args []string) []string {
	r := strings.NewReplacer("{script}", script, "{wiki}", wiki)
	out := make([]string, 0, len(h.Command)+len(args))
	for _, a := range h.Command {
		out = append(out, r.Replace(a))
	}
	return append(out, args...)
}

// Start starts job running argv on the host unless it was started
// already (a restarted bot starting it again finds it there).
func (h *Host) Start(ctx context.Context, job string, argv []string) error {
	inner := quoteArgv(argv) + " > out 2>&1; echo $? > exit.tmp && mv exit.tmp exit"
	script := fmt.Sprintf(`mkdir -p %s && cd %s && if mkdir %s 2>/dev/null; then cd %s || exit 1; setsid nohup sh -c %s > /dev/null 2>&1 < /dev/null & echo $! > pid; fi; echo started`,
		quote(h.WorkDir), quote(h.WorkDir), quote(job), quote(job), quote(inner))
	out, err := h.call(ctx, job, script)
	if err != nil {
		return fmt.Errorf("maint: start %s: %w", job, err)
	}
	if strings.TrimSpace(string(out)) != "started" {
		return fmt.Errorf("maint: start %s: unexpected answer %q", job, out)
	}
	return nil
}

// Poll reads a job's state and its output from offset. The job runs
// while its first process does (it may not have made its process group
// yet) or any process of its group (a child may outlive the job's shell).
func (h *Host) Poll(ctx context.Context, job string, offset int64) (Status, error) {
	script := fmt.Sprintf(`cd %s/%s 2>/dev/null || { echo MISSING; exit 0; }; p="$(cat pid 2>/dev/null)"; a=0; { kill -0 "$p" || kill -0 -"$p"; } 2>/dev/null && a=1; `+
		`if [ -f exit ]; then echo "EXIT $(cat exit)"; elif [ $a = 1 ]; then echo RUNNING; else echo GONE; fi; `+
		`tail -c +%d out 2>/dev/null | head -c %d`, quote(h.WorkDir), quote(job), offset+1, MaxChunk)
	out, err := h.call(ctx, job, script)
	if err != nil {
		return Status{}, fmt.Errorf("maint: poll %s: %w", job, err)
	}
	first, rest, _ := bytes.Cut(out, []byte("\n"))
	var st Status
	switch f := string(first); {
	case f == "RUNNING":
		st.Running = true
	case f == "GONE", f == "MISSING":
		st.Gone = true
	case strings.HasPrefix(f, "EXIT "):
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(f, "EXIT ")))
		if err != nil {
			return Status{}, fmt.Errorf("maint: poll %s: bad exit status %q", job, f)
		}
		st.Exit = &n
	default:
		return Status{}, fmt.Errorf("maint: poll %s: unexpected answer %q", job, f)
	}
	st.Output = rest
	return st, nil
}

// Stop sends SIGTERM to the job's process group.
func (h *Host) Stop(ctx context.Context, job string) error { return h.signal(ctx, job, "TERM") }

// Kill sends SIGKILL to the job's process group (a job still there after
// Stop and the grace period).
func (h *Host) Kill(ctx context.Context, job string) error { return h.signal(ctx, job, "KILL") }

// signal signals the job's process group unless the job has ended: once
// its exit status is there its group is gone, and the number may name
// another process group by now.
func (h *Host) signal(ctx context.Context, job, sig string) error {
	script := fmt.Sprintf(`cd %s/%s && p="$(cat pid)" && [ ! -f exit ] && kill -%s -"$p" 2>/dev/null; echo stopped`, quote(h.WorkDir), quote(job), sig)
	if _, err := h.call(ctx, job, script); err != nil {
		return fmt.Errorf("maint: %s %s: %w", strings.ToLower(sig), job, err)
	}
	return nil
}

// Remove deletes a job's directory (its output and exit status) on the
// host.
func (h *Host) Remove(ctx context.Context, job string) error {
	script := fmt.Sprintf(`rm -rf %s/%s; echo removed`, quote(h.WorkDir), quote(job))
	if _, err := h.call(ctx, job, script); err != nil {
		return fmt.Errorf("maint: remove %s: %w", job, err)
	}
	return nil
}

// call runs a shell command line on the host. job is checked against its
// pattern: only names the bot made reach the host.
func (h *Host) call(ctx context.Context, job, script string) ([]byte, error) {
	if !jobPattern.MatchString(job) {
		return nil, fmt.Errorf("bad job name %q", job)
	}
	d := h.CallTimeout
	if d == 0 {
		d = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	argv := make([]string, 0, len(h.Remote)+1)
	for _, a := range h.Remote {
		argv = append(argv, strings.ReplaceAll(a, "{host}", h.Name))
	}
	argv = append(argv, script)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", argv[0], err, lastLine(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}

func lastLine(b []byte) string {
	var last string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			last = l
		}
	}
	return last
}

// quote quotes s for a POSIX shell.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func quoteArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = quote(a)
	}
	return strings.Join(q, " ")
}
