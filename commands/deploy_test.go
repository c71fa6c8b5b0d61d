package commands

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/deploy"
)

// fakeEngine answers the testing-gate and decision calls the way the
// agent does and records them.
type fakeEngine struct {
	deploy.Service
	waiting  bool // a test is pending
	deciding bool // failed checks are pending
	calls    []string
}

func (f *fakeEngine) Tested(_ context.Context, _ deploy.ID, who deploy.Person, ok bool) error {
	if !f.waiting {
		return noTestErr{}
	}
	if who.Gerrit != "kharlan" && who.Name != "Amir" {
		if who.Name == "" {
			return Errorf("Thanks, but only the owners or the deployer can confirm the test, and your account is not in my people list.")
		}
		return Errorf("Thanks, %s, but only the owners or the deployer can confirm the test.", who.Name)
	}
	f.calls = append(f.calls, "tested "+who.Name+" "+map[bool]string{true: "ok", false: "fail"}[ok])
	return nil
}

func (f *fakeEngine) Decide(_ context.Context, _ deploy.ID, who deploy.Person, action, reason string) error {
	if !f.deciding {
		return deploy.ErrNoDecision
	}
	f.calls = append(f.calls, action+" "+who.Name+" "+reason)
	return nil
}

func (f *fakeEngine) Continue(_ context.Context, id deploy.ID, who deploy.Person) error {
	f.calls = append(f.calls, "continue-patchset "+who.Name+" "+string(id))
	return nil
}

type noTestErr struct{}

func (noTestErr) Error() string        { return "There is no deploy in progress." }
func (noTestErr) Is(target error) bool { return target == deploy.ErrNoTest }

type noWindows struct{}

func (noWindows) Calendar() *calendar.Calendar                   { return &calendar.Calendar{} }
func (noWindows) ActiveFreeze(time.Time) (calendar.Freeze, bool) { return calendar.Freeze{}, false }

func TestDeployGateCommands(t *testing.T) {
	tests := []struct {
		name              string
		waiting, deciding bool
		nick, account     string
		text              string
		replies, calls    []string
	}{
		{"owner unaddressed", true, false, "kosta", "kharlan", "tested ok, looks good", nil, []string{"tested Kosta ok"}},
		{"owner addressed", true, false, "kosta", "kharlan", "jouncebot: tested fail", nil, []string{"tested Kosta fail"}},
		{"stranger refused", true, false, "someone", "someone", "tested ok", []string{"Thanks, but only the owners or the deployer can confirm the test, and your account is not in my people list."}, nil},
		{"chatter without a deploy is ignored", false, false, "kosta", "kharlan", "tested ok on my laptop", nil, nil},
		{"continue with a reason decides", false, true, "amir", "amir", "jouncebot: continue errors are from a bot", nil, []string{"continue Amir errors are from a bot"}},
		{"continue without a decision approves a patchset", false, false, "amir", "amir", "jouncebot: continue 3", nil, []string{"continue-patchset Amir 3"}},
		{"rollback", false, true, "amir", "amir", "jouncebot: rollback", nil, []string{"rollback Amir "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			d := NewDispatcher(Options{Config: testConfig(), Log: slog.New(slog.NewTextHandler(&logs, nil))})
			d.cfg.People[1].Gerrit = "kharlan"
			f := &fakeEngine{waiting: tt.waiting, deciding: tt.deciding}
			d.Register(DeployCommands(DeployOptions{Engine: f, Calendar: noWindows{}})...)
			for _, tr := range DeployTriggers {
				d.AddTrigger(tr)
			}
			got := ask(t, d, tt.nick, tt.account, tt.text)
			if diff := cmp.Diff(tt.replies, got); diff != "" {
				t.Errorf("replies (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.calls, f.calls); diff != "" {
				t.Errorf("engine calls (-want +got):\n%s", diff)
			}
		})
	}
}
