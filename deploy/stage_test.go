package deploy_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy"
)

// syncStage stands in for part 2's sync stages.
type syncStage struct {
	mu   sync.Mutex
	runs int
	fail bool
}

func (s *syncStage) Name() string { return "sync-testservers" }

func (s *syncStage) Exec(ctx context.Context, j *deploy.Job) error {
	s.mu.Lock()
	s.runs++
	s.mu.Unlock()
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	if s.fail {
		return deploy.Failf("mwdebug1001 did not answer.")
	}
	if err := j.Checkpoint(func(d *deploy.Deploy) {}); err != nil {
		return err
	}
	j.Say(ctx, deploy.EventProgress, bot.T("Synced "+string(d.ID)+" to the testservers."))
	return nil
}

func TestExtraStages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		prepareOnly bool
		fail        bool
		final       deploy.EventKind
		want        string
		runs        int
	}{
		{"runs after prepare", false, false, deploy.EventDone, "alice: deploy 1 is done: " + "N.", 1},
		{"skipped with --prepare-only", true, false, deploy.EventPrepared, "alice: deploy 1 is prepared: the staging checkout holds N, verified; nothing was synced.", 0},
		{"failure is reported", false, true, deploy.EventFailed, "alice: deploy 1 stopped: mwdebug1001 did not answer. N merged in Gerrit. The checkout staging was updated to ", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := &syncStage{fail: tt.fail}
			e := newEnv(t, func(o *deploy.Options) { o.Stages = []deploy.Stage{st} })
			n := e.sb.Changes["config"]
			r := e.request(alice, n)
			r.PrepareOnly = tt.prepareOnly
			if _, err := e.agent.Start(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			ev := e.waitFor(tt.final)
			want := replaceN(tt.want, n)
			if got := ev.Text.String(); len(got) < len(want) || got[:len(want)] != want {
				t.Errorf("got  %s\nwant %s…", got, want)
			}
			if st.runs != tt.runs {
				t.Errorf("sync stage ran %d times, want %d", st.runs, tt.runs)
			}
		})
	}
}

func replaceN(s string, n int) string {
	out := ""
	for _, r := range s {
		if r == 'N' {
			out += itoa(n)
		} else {
			out += string(r)
		}
	}
	return out
}
