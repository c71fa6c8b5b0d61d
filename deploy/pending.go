package deploy

import (
	"context"
	"time"

	"github.com/jouncebot/jouncebot/deploy/judge"
)

// Pending is the question the current deploy waits on — the testing
// question, with the people still to answer — as an event, so a chat side
// that was away (a restarted bot, a cut link to a deploy agent) can ask it
// again. ok is false when the deploy waits on no question.
func (k gatekeeper) Pending(ctx context.Context) (e Event, ok bool, err error) {
	d, _, err := k.current()
	if err != nil || d == nil || d.State != stateRunning {
		return Event{}, false, err
	}
	name, g := judge.PendingGate(d)
	if g == nil {
		return Event{}, false, nil
	}
	for _, st := range k.o.Stages {
		if s, isSync := st.(*SyncStage); isSync && s.StageName == name {
			t := k.gateQuestion(d, s, "(asked again after a reconnect) ")
			return Event{Deploy: d.ID, Origin: d.Origin, Kind: EventNeeds, Stage: name, Text: t, Time: time.Now().UTC()}, true, nil
		}
	}
	return Event{}, false, nil
}
