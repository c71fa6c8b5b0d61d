package hostsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeMethod takes a set time per host and fails the hosts named in fail;
// a host taking forever blocks until its context ends.
type fakeMethod struct {
	took map[string]time.Duration
	fail map[string]bool
}

const forever = time.Duration(1<<63 - 1)

func (f *fakeMethod) Sync(ctx context.Context, h Host, src string, paths []string) error {
	d, ok := f.took[h.Name]
	if !ok {
		d = 2 * time.Second
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return ctx.Err()
	}
	if f.fail[h.Name] {
		return errors.New("connection refused")
	}
	return nil
}

func fakeHosts(n int) []Host {
	hosts := make([]Host, n)
	for i := range hosts {
		hosts[i] = Host{Name: fmt.Sprintf("mw%02d", i+1)}
	}
	return hosts
}

func TestProgressThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 40 hosts, 4 at a time, 2 s each: a batch of 4 finishes every
		// 2 s. Progress is reported at the first result at least 5 s
		// after the previous report, and at the end.
		st := &Stage{Name: "production", Hosts: fakeHosts(40), Concurrency: 4, Method: &fakeMethod{}}
		var got []string
		rep, err := st.Sync(t.Context(), Job{OnProgress: func(p Progress) { got = append(got, p.String()) }})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			"production: 9/40 hosts, 6 s",
			"production: 21/40 hosts, 12 s",
			"production: 33/40 hosts, 18 s",
			"production: 40/40 hosts, 20 s",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("progress (-want +got):\n%s", diff)
		}
		if rep.Elapsed != 20*time.Second {
			t.Errorf("elapsed = %s, want 20s (4 hosts at a time)", rep.Elapsed)
		}
	})
}

func TestProgressString(t *testing.T) {
	tests := []struct {
		p    Progress
		want string
	}{
		{Progress{Stage: "production", Done: 120, Failed: 2, Total: 300, Elapsed: 41500 * time.Millisecond}, "production: 120/300 hosts (2 failed), 41 s"},
		{Progress{Stage: "canaries", Done: 3, Total: 10, Elapsed: 527 * time.Second}, "canaries: 3/10 hosts, 08m 47s"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestHostTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &Stage{Name: "canaries", Hosts: fakeHosts(3), Timeout: 30 * time.Second, MaxFailed: 1,
			Method: &fakeMethod{took: map[string]time.Duration{"mw02": forever}}}
		rep, err := st.Sync(t.Context(), Job{})
		if err != nil {
			t.Fatalf("one host may fail, got %v", err)
		}
		f := rep.Failed()
		if len(f) != 1 || f[0].Host != "mw02" || f[0].Err.Error() != "no answer within 30s: context deadline exceeded" || f[0].Duration != 30*time.Second {
			t.Errorf("failed = %+v", f)
		}
	})
}

func TestCancelThenResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hosts := fakeHosts(10)
		st := &Stage{Name: "production", Hosts: hosts, Concurrency: 3, Method: &fakeMethod{}}
		ctx, cancel := context.WithCancel(t.Context())
		// The bot is killed 5 s in: two batches of 3 have finished or
		// are running.
		time.AfterFunc(5*time.Second, cancel)
		done := map[string]bool{}
		rep, err := st.Sync(ctx, Job{OnResult: func(r Result) {
			if r.Err != nil {
				t.Errorf("%s reported as failed: %v", r.Host, r.Err)
			}
			done[r.Host] = true
		}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want cancelled", err)
		}
		if len(done) != 6 || rep.OK() {
			t.Fatalf("done before the kill = %d hosts (ok=%v), want 6 and not ok", len(done), rep.OK())
		}
		var second []string
		rep, err = st.Sync(t.Context(), Job{Done: done, OnResult: func(r Result) { second = append(second, r.Host) }})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range second {
			if done[h] {
				t.Errorf("%s synced twice", h)
			}
		}
		all := append(slices.Collect(func(yield func(string) bool) {
			for h := range done {
				if !yield(h) {
					return
				}
			}
		}), second...)
		slices.Sort(all)
		var want []string
		for _, h := range hosts {
			want = append(want, h.Name)
		}
		if diff := cmp.Diff(want, all); diff != "" {
			t.Errorf("hosts synced across both runs (-want +got):\n%s", diff)
		}
		if !rep.OK() || rep.Previously != 6 {
			t.Errorf("second run: ok=%v previously=%d", rep.OK(), rep.Previously)
		}
	})
}

func TestHostsShuffled(t *testing.T) {
	st := &Stage{Hosts: fakeHosts(50)}
	first := st.pending(nil)
	for range 5 {
		if next := st.pending(nil); !slices.Equal(first, next) {
			return
		}
	}
	t.Error("hosts came in the same order six times")
}
