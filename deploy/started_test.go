package deploy_test

import (
	"testing"

	"github.com/jouncebot/jouncebot/deploy"
)

// With one host at a time, a host whose sync fails started after the
// hosts before it ended: its record's Started is its own start, not the
// time the stage recorded every host's intent, and Time-Started is its
// Duration.
func TestSyncFailedHostStartedIsItsOwn(t *testing.T) {
	t.Parallel()
	e, gate := heldInProduction(t)
	held := gate.heldHost(t)
	gate.open() // the held host's connection fails
	e.waitFor(deploy.EventFailed)
	rec, err := e.agent.Record("1")
	if err != nil {
		t.Fatal(err)
	}
	hosts := rec.Sync.Stages["production"].Hosts
	f, ok := hosts[held]
	if !ok || f.Err == "" {
		t.Fatalf("held host %s: %+v, want a failed result; all %v", held, f, hosts)
	}
	for h, r := range hosts {
		if h != held && r.Err == "" && r.Time.Before(f.Time) && f.Started.Before(r.Time) {
			t.Errorf("failed host %s Started %s, before %s (synced before it, one at a time) ended at %s: Started is Begin's time, not its own", held, f.Started, h, r.Time)
		}
	}
	if d := f.Time.Sub(f.Started) - f.Duration; d > f.Duration/2+200_000_000 {
		t.Errorf("failed host %s: Time-Started = %s but Duration = %s", held, f.Time.Sub(f.Started), f.Duration)
	}
}
