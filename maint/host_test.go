package maint_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/internal/testenv"
	"github.com/jouncebot/jouncebot/maint"
)

// SIGTERM and SIGKILL go to a job's process group only while the job has
// not ended: once its exit status is written, the group is gone and its
// number may belong to another process group (a later job, a daemon).
// Here the test's own process group takes the number; a stop and a kill
// that come late (maint stop racing the end, the follower's kill after
// the grace period) must leave it alone.
func TestSignalsSpareAnEndedJobsReusedGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	h := maint.HostFrom(config.Maint{Host: "local", Remote: []string{"sh", "-c"}, Command: []string{"true"}, WorkDir: dir})
	const job = "1-real-0-abcd"
	if err := h.Start(ctx, job, h.Argv("showSiteStats.php", "testwiki", nil)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(testenv.Scale(time.Minute))
	for {
		st, err := h.Poll(ctx, job, 0)
		if err != nil {
			t.Fatal(err)
		}
		if st.Exit != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job did not end")
		}
		time.Sleep(20 * time.Millisecond) // polling the host, as the follower does
	}

	other := exec.Command("sleep", "600")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan *os.ProcessState, 1)
	go func() { other.Wait(); ended <- other.ProcessState }()
	var reaped atomic.Bool // after that, its number is free again
	t.Cleanup(func() {
		if !reaped.Load() {
			syscall.Kill(-other.Process.Pid, syscall.SIGKILL)
		}
	})
	// The ended job's number now names the other group.
	if err := os.WriteFile(filepath.Join(dir, job, "pid"), []byte(strconv.Itoa(other.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.Stop(ctx, job); err != nil {
		t.Fatal(err)
	}
	if err := h.Kill(ctx, job); err != nil {
		t.Fatal(err)
	}
	// A signal sent by the host is pending by now; ours comes after it,
	// so the one that ends the process says who reached it first.
	if err := syscall.Kill(-other.Process.Pid, syscall.SIGINT); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Fatal(err)
	}
	ps := <-ended
	reaped.Store(true)
	if ws, ok := ps.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGINT {
		t.Errorf("the process group that took an ended job's number was signalled by the host: %v", ps)
	}
}
