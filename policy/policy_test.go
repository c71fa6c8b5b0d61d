package policy

import (
	"testing"
	"time"
)

// The Friday rule is read in San Francisco time, so its start in UTC moves
// with daylight saving time.
func TestTimeRuleAcrossDST(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	r := TimeRule{Name: "Fridays and weekends", Days: []time.Weekday{time.Friday, time.Saturday, time.Sunday}, To: 24 * 60, Location: la,
		Holidays: []string{"2026-12-24"}}
	tests := []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 3, 13, 7, 30, 0, 0, time.UTC), "Friday"},  // 00:30 PDT Friday
		{time.Date(2026, 3, 13, 6, 30, 0, 0, time.UTC), ""},        // 23:30 PDT Thursday
		{time.Date(2026, 11, 27, 7, 30, 0, 0, time.UTC), ""},       // 23:30 PST Thursday
		{time.Date(2026, 11, 27, 8, 30, 0, 0, time.UTC), "Friday"}, // 00:30 PST Friday
		{time.Date(2026, 11, 30, 7, 59, 0, 0, time.UTC), "Sunday"}, // 23:59 PST Sunday
		{time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC), ""},        // Monday
		{time.Date(2026, 12, 24, 20, 0, 0, 0, time.UTC), "holiday 2026-12-24"},
	}
	for _, tt := range tests {
		got, _ := r.applies(tt.at)
		if got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.at, got, tt.want)
		}
	}
}

// A deploy outside windows steps on the next window someone else owns,
// not on the deployer's own.
func TestNextWindowSkipsOwn(t *testing.T) {
	now := time.Date(2026, 11, 25, 13, 55, 0, 0, time.UTC)
	own := Window{Name: "own", Kind: "backport", Start: now.Add(5 * time.Minute), End: now.Add(time.Hour), Deployers: []string{"Amir"}}
	other := Window{Name: "other", Kind: "backport", Start: now.Add(2 * time.Hour), End: now.Add(3 * time.Hour), Deployers: []string{"Lucas"}}
	r := Rules{MinDeployTime: 10 * time.Minute}
	d := r.Evaluate(Input{Action: Deploy, By: Person{Name: "Amir"}, Now: now, Upcoming: []Window{own, other}})
	if d.Next == nil || d.Next.Name != "other" || d.TooLate() {
		t.Errorf("next = %+v, too late %v", d.Next, d.TooLate())
	}
	d = r.Evaluate(Input{Action: Deploy, By: Person{Name: "Jeena"}, Now: now, Upcoming: []Window{own, other}})
	if d.Next == nil || d.Next.Name != "own" || !d.TooLate() {
		t.Errorf("for another deployer: next = %+v, too late %v", d.Next, d.TooLate())
	}
	// With a history of 3-minute deploys, 5 minutes is enough.
	d = r.Evaluate(Input{Action: Deploy, By: Person{Name: "Jeena"}, Now: now, Upcoming: []Window{own}, Estimate: 3 * time.Minute, EstimateFrom: "the last deploy"})
	if d.TooLate() {
		t.Error("a 3-minute deploy is refused 5 minutes before the window")
	}
}
