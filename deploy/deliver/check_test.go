package deliver_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/deploy/deliver"
	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/record"
)

func TestResult(t *testing.T) {
	now := time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		r    hostsync.Result
		want record.HostResult
	}{
		{"synced", hostsync.Result{Host: "mw1001", Duration: time.Second},
			record.HostResult{Dest: "/srv", Time: now, Duration: time.Second}},
		{"failed", hostsync.Result{Host: "mw1001", Err: errors.New("rsync: exit 23"), Duration: 2 * time.Second},
			record.HostResult{Dest: "/srv", Time: now, Duration: 2 * time.Second, Err: "rsync: exit 23"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := deliver.Result("/srv", c.r, now); got != c.want {
				t.Errorf("Result = %+v, want %+v", got, c.want)
			}
		})
	}
}

// An rsync stage's hosts are checked with rsync's dry run; a sync
// command's cannot be checked.
func TestVerifier(t *testing.T) {
	rsync := &hostsync.Rsync{Path: "/usr/bin/rsync"}
	if v, ok := deliver.Verifier(rsync).(*hostsync.Verify); !ok || v.Rsync.Path != rsync.Path {
		t.Errorf("Verifier(rsync) = %#v, want its dry run", deliver.Verifier(rsync))
	}
	if v := deliver.Verifier(&hostsync.Command{}); v != nil {
		t.Errorf("Verifier(command) = %#v, want nil", v)
	}
}
