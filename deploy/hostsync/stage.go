package hostsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/jouncebot/jouncebot/deploy/sallines"
)

// Host is one target of a sync.
type Host struct {
	// Name is how people know the host, e.g. mw1001.
	Name string
	// Dest is where the tree goes: a local directory, an rsync daemon URL
	// (rsync://host:port/module/) or an ssh destination (host:/srv/path).
	Dest string
}

// Method copies a tree, or some paths of it, to one host. Paths are
// relative to src; nil means the whole tree.
type Method interface {
	Sync(ctx context.Context, h Host, src string, paths []string) error
}

// Stage is a set of hosts synced together.
type Stage struct {
	// Name is shown in progress lines, e.g. production.
	Name  string
	Hosts []Host
	// Method does the copying (Rsync, Command or Verify).
	Method Method
	// Concurrency is how many hosts are synced at once (default 80).
	Concurrency int
	// Timeout bounds one host's sync (default 5 minutes).
	Timeout time.Duration
	// MaxFailed is how many hosts may fail before the stage fails.
	MaxFailed int
	// FileLimit is the largest number of changed paths synced one by one;
	// a Job with more syncs the whole tree. 0 means no limit.
	FileLimit int
	// ProgressEvery is the shortest time between two progress reports
	// (default 5 seconds). The last one is always reported.
	ProgressEvery time.Duration
	// Log receives one line per host; nil discards.
	Log *slog.Logger
}

// Job is one sync of a stage.
type Job struct {
	// Source is the tree to copy.
	Source string
	// Paths are the changed paths relative to Source; nil syncs the whole
	// tree.
	Paths []string
	// Done holds the names of hosts already synced (by a run cut short):
	// they are skipped and counted as done.
	Done map[string]bool
	// OnResult is called as each host finishes, from Sync's goroutine.
	OnResult func(Result)
	// OnProgress is called at most every Stage.ProgressEvery while hosts
	// finish, and once at the end, from Sync's goroutine.
	OnProgress func(Progress)
}

// Result is the outcome of one host's sync.
type Result struct {
	Host     string
	Err      error // nil when the host was synced
	Duration time.Duration
}

// Progress is a snapshot of a running stage.
type Progress struct {
	Stage   string
	Done    int // hosts finished, including failed and previously done ones
	Failed  int
	Total   int
	Elapsed time.Duration
}

// String formats the progress line shown in chat:
// "production: 120/300 hosts (2 failed), 41 s".
func (p Progress) String() string {
	failed := ""
	if p.Failed > 0 {
		failed = fmt.Sprintf(" (%d failed)", p.Failed)
	}
	return fmt.Sprintf("%s: %d/%d hosts%s, %s", p.Stage, p.Done, p.Total, failed, progressTime(p.Elapsed))
}

func progressTime(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d s", int(d.Seconds()))
	}
	return Duration(d)
}

// Duration formats d the way SAL lines do: "08m 47s", or "1h 02m 03s".
func Duration(d time.Duration) string { return sallines.Duration(d) }

// ErrStageFailed is wrapped by the error Sync returns when more hosts
// failed than the stage allows.
var ErrStageFailed = errors.New("stage failed")

// Sync runs job on every host of the stage not already done and returns
// the report. The error wraps ctx's when it was cancelled (the report then
// holds the hosts that finished), or wraps ErrStageFailed when more than
// MaxFailed hosts failed.
func (s *Stage) Sync(ctx context.Context, job Job) (*Report, error) {
	if s.Method == nil {
		return nil, fmt.Errorf("stage %s has no sync method", s.Name)
	}
	start := time.Now()
	todo := s.pending(job.Done)
	rep := &Report{Stage: s.Name, Total: len(s.Hosts), Previously: len(s.Hosts) - len(todo), MaxFailed: s.MaxFailed}
	paths := job.Paths
	if s.FileLimit > 0 && len(paths) > s.FileLimit {
		paths = nil
	}
	every := s.ProgressEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	lastProgress := start
	progress := func(force bool) {
		now := time.Now()
		if job.OnProgress == nil || (!force && now.Sub(lastProgress) < every) {
			return
		}
		lastProgress = now
		job.OnProgress(Progress{Stage: s.Name, Done: rep.Previously + len(rep.Results), Failed: len(rep.Failed()), Total: rep.Total, Elapsed: now.Sub(start)})
	}
	for r := range s.run(ctx, todo, job.Source, paths) {
		rep.Results = append(rep.Results, r)
		if job.OnResult != nil {
			job.OnResult(r)
		}
		progress(false)
	}
	rep.Elapsed = time.Since(start)
	progress(true)
	if rep.Previously+len(rep.Results) < rep.Total {
		return rep, fmt.Errorf("%s: stopped with %d of %d hosts left: %w", s.Name, rep.Total-rep.Previously-len(rep.Results), rep.Total, context.Cause(ctx))
	}
	if !rep.OK() {
		return rep, fmt.Errorf("%s: %d of %d hosts failed: %w", s.Name, len(rep.Failed()), rep.Total, ErrStageFailed)
	}
	return rep, nil
}

// pending returns the hosts not done yet, shuffled so that a slow rack
// does not always go last.
func (s *Stage) pending(done map[string]bool) []Host {
	var todo []Host
	for _, h := range s.Hosts {
		if !done[h.Name] {
			todo = append(todo, h)
		}
	}
	rand.Shuffle(len(todo), func(i, j int) { todo[i], todo[j] = todo[j], todo[i] })
	return todo
}

// run syncs hosts with bounded concurrency and yields each result as it
// comes. Hosts cut short by ctx are not yielded. The sequence ends when
// every worker has stopped.
func (s *Stage) run(ctx context.Context, hosts []Host, src string, paths []string) func(yield func(Result) bool) {
	return func(yield func(Result) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		n := s.Concurrency
		if n <= 0 {
			n = 80
		}
		n = min(n, len(hosts))
		work := make(chan Host)
		results := make(chan Result)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				for h := range work {
					r, ok := s.syncHost(ctx, h, src, paths)
					if ok {
						results <- r
					}
				}
			})
		}
		wg.Go(func() {
			defer close(work)
			for _, h := range hosts {
				select {
				case work <- h:
				case <-ctx.Done():
					return
				}
			}
		})
		go func() { wg.Wait(); close(results) }()
		stopped := false
		for r := range results {
			if !stopped && !yield(r) {
				stopped = true
				cancel()
			}
		}
	}
}

// syncHost syncs one host; ok is false when ctx was cancelled before the
// host finished, so the result must not be recorded.
func (s *Stage) syncHost(ctx context.Context, h Host, src string, paths []string) (Result, bool) {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	err := s.Method.Sync(hctx, h, src, paths)
	r := Result{Host: h.Name, Err: err, Duration: time.Since(start)}
	if err != nil && ctx.Err() != nil {
		return r, false
	}
	if err != nil && hctx.Err() != nil {
		r.Err = fmt.Errorf("no answer within %s: %w", timeout, err)
	}
	if s.Log != nil {
		if r.Err != nil {
			s.Log.Warn("host sync failed", "stage", s.Name, "host", h.Name, "duration", r.Duration, "err", r.Err)
		} else {
			s.Log.Info("host synced", "stage", s.Name, "host", h.Name, "duration", r.Duration)
		}
	}
	return r, true
}

// Report is the outcome of a stage's sync.
type Report struct {
	Stage string
	// Total is the number of hosts in the stage.
	Total int
	// Previously is the number of hosts skipped because they were done.
	Previously int
	// Results are this run's hosts, in the order they finished.
	Results   []Result
	MaxFailed int
	Elapsed   time.Duration
}

// Failed returns the results of the hosts that failed.
func (r *Report) Failed() []Result {
	var out []Result
	for _, x := range r.Results {
		if x.Err != nil {
			out = append(out, x)
		}
	}
	return out
}

// Synced returns the names of the hosts synced in this run.
func (r *Report) Synced() []string {
	var out []string
	for _, x := range r.Results {
		if x.Err == nil {
			out = append(out, x.Host)
		}
	}
	return out
}

// OK reports whether the stage passed: every host was tried and no more
// than MaxFailed failed.
func (r *Report) OK() bool {
	return r.Previously+len(r.Results) == r.Total && len(r.Failed()) <= r.MaxFailed
}

// namedHosts is how many failed hosts a summary names before counting.
const namedHosts = 5

// Summary is the stage's closing line for chat, e.g.
// "production: synced 298/300 hosts in 08m 47s; 2 failed (2 allowed): mw1001, mw1002."
func (r *Report) Summary() string {
	failed := r.Failed()
	ok := r.Previously + len(r.Results) - len(failed)
	var b strings.Builder
	switch {
	case r.Previously+len(r.Results) < r.Total:
		fmt.Fprintf(&b, "%s: stopped after %s with %d/%d hosts synced", r.Stage, Duration(r.Elapsed), ok, r.Total)
	case len(failed) > r.MaxFailed:
		fmt.Fprintf(&b, "%s: FAILED, %d of %d hosts failed to sync (%d allowed) in %s", r.Stage, len(failed), r.Total, r.MaxFailed, Duration(r.Elapsed))
	default:
		fmt.Fprintf(&b, "%s: synced %d/%d hosts in %s", r.Stage, ok, r.Total, Duration(r.Elapsed))
	}
	if r.Previously > 0 {
		fmt.Fprintf(&b, " (%d done before a restart)", r.Previously)
	}
	switch {
	case len(failed) == 0:
	case r.Previously+len(r.Results) < r.Total:
		fmt.Fprintf(&b, "; %d failed", len(failed))
	case len(failed) <= r.MaxFailed:
		fmt.Fprintf(&b, "; %d failed (%d allowed)", len(failed), r.MaxFailed)
	}
	if len(failed) > 0 {
		b.WriteString(": " + hostList(failed))
	}
	b.WriteString(".")
	return b.String()
}

func hostList(failed []Result) string {
	names := make([]string, 0, namedHosts)
	for i, f := range failed {
		if i == namedHosts {
			break
		}
		names = append(names, f.Host)
	}
	s := strings.Join(names, ", ")
	if extra := len(failed) - len(names); extra > 0 {
		s += fmt.Sprintf(" and %d more", extra)
	}
	return s
}

// cleanPaths checks that every path stays inside the tree.
func cleanPaths(paths []string) ([]string, error) {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		c := path.Clean(strings.TrimPrefix(p, "./"))
		if p == "" || path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") {
			return nil, fmt.Errorf("path %q is not inside the tree", p)
		}
		out = append(out, c)
	}
	return out, nil
}
