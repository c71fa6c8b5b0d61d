package hostsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Rsync syncs with rsync as scap pull does: --archive --delete-delay
// --delay-updates --exclude=**/.git. With paths it syncs only those:
// files that exist in the source with --files-from (the cheapest way),
// and, when a path is missing from the source (to be deleted on the host)
// or is a directory, through include rules (see pathFilter).
type Rsync struct {
	// Path is the rsync binary (default "rsync" from PATH).
	Path string
	// Compress adds --compress.
	Compress bool
	// Rsh is the remote shell for host:path destinations (rsync -e).
	Rsh string
	// Password is sent to rsync daemons (RSYNC_PASSWORD). It never
	// appears in errors or logs.
	Password string
	// Args are extra arguments placed before the source.
	Args []string
	// Protect are paths on the hosts that no sync deletes (rsync
	// "protect" filter rules): private settings and caches that live only
	// on the hosts. Slash-separated, relative to the tree, "*" matching
	// within one name; a trailing "/" is allowed.
	Protect []string
}

// scapArgs are scap pull's options.
var scapArgs = []string{"--archive", "--delete-delay", "--delay-updates", "--exclude=**/.git"}

// Sync copies src, or the paths of it, to h.
func (r *Rsync) Sync(ctx context.Context, h Host, src string, paths []string) error {
	args := append([]string{}, scapArgs...)
	if r.Compress {
		args = append(args, "--compress")
	}
	_, err := r.run(ctx, args, h, src, paths)
	return err
}

// run runs rsync with args on src and h.Dest and returns its output.
func (r *Rsync) run(ctx context.Context, args []string, h Host, src string, paths []string) ([]byte, error) {
	return r.runFiltered(ctx, args, nil, false, h, src, paths)
}

// runFiltered is run with filter rules placed before those that select
// paths. With dirs, a path that is a directory of src is synced through
// --files-from too (rsync recurses into it and, with --delete, removes
// what the source lacks there).
func (r *Rsync) runFiltered(ctx context.Context, args, filters []string, dirs bool, h Host, src string, paths []string) ([]byte, error) {
	if err := checkDest(h.Dest); err != nil {
		return nil, err
	}
	args = slices.Clone(args)
	for _, p := range r.Protect {
		args = append(args, protectRules(p)...)
	}
	for _, f := range filters {
		args = append(args, "--filter="+f)
	}
	var list []byte
	if paths != nil {
		clean, err := cleanPaths(paths)
		if err != nil {
			return nil, err
		}
		if present(src, clean, dirs) {
			args = append(args, "--files-from=-", "--from0", "--relative", "--recursive")
			list = []byte(strings.Join(clean, "\x00") + "\x00")
		} else {
			args = append(args, "--recursive", "--delete", "--from0", "--include-from=-", "--exclude=*")
			list = []byte(pathFilter(clean))
		}
	}
	if r.Rsh != "" {
		args = append(args, "--rsh="+r.Rsh)
	}
	if dl, ok := ctx.Deadline(); ok {
		// rsync's own I/O timeout, so a stalled host ends cleanly.
		args = append(args, fmt.Sprintf("--timeout=%d", max(1, int(time.Until(dl).Seconds()))))
	}
	args = append(args, r.Args...)
	// "--" so that no source or destination is read as an option.
	args = append(args, "--", dirArg(src), dirArg(h.Dest))
	bin := r.Path
	if bin == "" {
		bin = "rsync"
	}
	bin, err := lookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("cannot run rsync: %w", err)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	if r.Password != "" {
		cmd.Env = append(os.Environ(), "RSYNC_PASSWORD="+r.Password)
	}
	killGroup(cmd)
	if list != nil {
		in, err := memList(list)
		if err != nil {
			return nil, fmt.Errorf("cannot run rsync: %w", err)
		}
		defer in.Close()
		cmd.Stdin = in
	}
	stderr := &tail{max: 4096}
	cmd.Stderr = stderr
	out, err := runOutput(cmd)
	if err != nil {
		return out, rsyncError(err, stderr.String())
	}
	return out, nil
}

// runOutput runs cmd and returns its standard output. The output is read
// to its end before the process is reaped: only rsync's own processes
// hold it, so its end is rsync's exit, and waiting for it through the
// poller keeps no thread blocked in wait(2) meanwhile (the Go runtime
// polls every few microseconds while one is: for one rsync of a small
// change that was as much CPU as the rsync's own).
func runOutput(cmd *exec.Cmd) ([]byte, error) {
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	out, rerr := io.ReadAll(pipe)
	err = cmd.Wait()
	if errors.Is(err, exec.ErrWaitDelay) && rerr == nil {
		// rsync exited 0 and its output was read to its end: only a
		// pipe of the command's is still open, held by a process its
		// remote shell left behind (an ssh ControlPersist master that
		// keeps it, a wrapper's agent). The transfer is complete.
		err = nil
	}
	if err != nil {
		return out, err
	}
	return out, rerr
}

// present reports whether every path is a file (or a link), or with
// dirs a directory, in the local tree src: then --files-from syncs them
// all, and nothing outside them is to be deleted or walked.
func present(src string, paths []string, dirs bool) bool {
	for _, p := range paths {
		fi, err := os.Lstat(filepath.Join(src, filepath.FromSlash(p)))
		if err != nil || (fi.IsDir() && !dirs) {
			return false
		}
	}
	return true
}

// protectRules are the rsync filter rules that keep the path pattern p
// (a file, or a directory and all it holds) from being deleted on the
// receiver. Protect rules are receiver-side only: the sender still sends
// what it has there.
func protectRules(p string) []string {
	p = "/" + strings.Trim(p, "/")
	return []string{"--filter=P " + p, "--filter=P " + p + "/***"}
}

// checkDest refuses a remote-shell destination whose host starts with
// "-": rsync hands the host to ssh, which would read it as an option
// ("-oProxyCommand=…:/srv"), "--" or not.
func checkDest(dest string) error {
	if strings.HasPrefix(dest, "rsync://") {
		return nil
	}
	host, _, remote := strings.Cut(dest, ":")
	if _, h, ok := strings.Cut(host, "@"); ok {
		host = h
	}
	if remote && !strings.Contains(host, "/") && strings.HasPrefix(host, "-") {
		return fmt.Errorf("destination %q names a host starting with \"-\"", dest)
	}
	return nil
}

// dirArg makes rsync copy a directory's contents, not the directory.
func dirArg(s string) string {
	if strings.HasSuffix(s, "/") || strings.HasSuffix(s, ":") {
		return s
	}
	return s + "/"
}

// killGroup runs cmd in its own process group and kills the whole group
// (rsync's ssh or server child included) when ctx ends or the bot dies.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
}

// rsyncExit explains rsync's exit codes (rsync(1), EXIT VALUES).
var rsyncExit = map[int]string{
	1:   "syntax or usage error",
	2:   "protocol incompatibility",
	3:   "errors selecting input/output files or directories",
	5:   "error starting the client-server protocol",
	10:  "could not connect",
	11:  "file I/O error",
	12:  "error in the rsync protocol data stream",
	20:  "interrupted",
	23:  "some files could not be transferred",
	24:  "some source files vanished",
	30:  "timeout in data send/receive",
	35:  "timeout waiting for the daemon connection",
	255: "ssh failed",
}

func rsyncError(err error, stderr string) error {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("cannot run rsync: %w", err)
	}
	code := ee.ExitCode()
	what := rsyncExit[code]
	if code == -1 {
		what = "killed"
	} else if what == "" {
		what = fmt.Sprintf("exit code %d", code)
	} else {
		what = fmt.Sprintf("exit code %d, %s", code, what)
	}
	if line := lastLine(stderr); line != "" {
		return &RsyncError{Code: code, msg: fmt.Sprintf("rsync failed (%s): %s", what, line)}
	}
	return &RsyncError{Code: code, msg: fmt.Sprintf("rsync failed (%s)", what)}
}

// RsyncError is rsync's failure: its exit code (-1 when killed) and what
// it said.
type RsyncError struct {
	Code int
	msg  string
}

func (e *RsyncError) Error() string { return e.msg }

// Connecting reports whether rsync failed before any transfer began: it
// could not reach the host (ssh or the daemon).
func (e *RsyncError) Connecting() bool {
	switch e.Code {
	case 5, 10, 35, 255:
		return true
	}
	return false
}

// lastLine returns the most telling line of rsync's error output: ssh's
// own complaint if there is one (rsync only adds "connection unexpectedly
// closed"), else the last line that is not rsync's "rsync error:" footer.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "ssh:") {
			return l
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && !strings.HasPrefix(l, "rsync error:") {
			return l
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

// tail keeps the last max bytes written to it.
type tail struct {
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.buf) }
