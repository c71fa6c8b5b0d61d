package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Deploy actions a window kind can allow.
var DeployActions = []string{"deploy", "revert"}

// Policy is the deploy policy: which windows allow which deploys, how a
// claimed window and the next window are respected, and the time rules
// that add approvals. Package policy owns the meaning; this is the format.
type Policy struct {
	// Windows says which deploys each window kind allows. A kind not
	// listed allows every deploy.
	Windows []WindowPolicy `yaml:"windows"`
	// ClaimedWindows is "ask" (the default: another deployer's deploy in a
	// claimed window needs the claimer's approve or --force with a reason)
	// or "ignore".
	ClaimedWindows string `yaml:"claimed_windows"`
	// MinDeployTime is how long a deploy is taken to last when there is no
	// deploy history to estimate from (default 10m); 0s turns the check of
	// the next window off.
	MinDeployTime *time.Duration `yaml:"min_deploy_time"`
	// ApprovalTimeout is how long a request waits for approvals before it
	// lapses, unless its rule says otherwise (default 30m).
	ApprovalTimeout time.Duration `yaml:"approval_timeout"`
	// Roles are the roles approvals can ask for beyond jouncebot's own,
	// with the name people read: {releng: RelEng, sre: SRE}.
	Roles map[string]string `yaml:"roles"`
	// Rules are time rules ("Fridays and weekends") that add approvals.
	Rules []TimeRule `yaml:"rules"`
	// AdminHasEveryRole lets a person with the admin role fill an
	// approval slot of any role (default false: an admin approves only
	// under the roles they have).
	AdminHasEveryRole bool `yaml:"admin_has_every_role"`
}

// WindowPolicy says what one window kind allows.
type WindowPolicy struct {
	Kind string `yaml:"kind"`
	// Allow lists the actions (deploy, revert) the kind allows; empty
	// allows none.
	Allow []string `yaml:"allow"`
	// DeployersOnly lets only the window's own deployers use it (the
	// train's windows).
	DeployersOnly bool `yaml:"deployers_only"`
}

// TimeRule adds required approvals at certain times.
type TimeRule struct {
	Name string `yaml:"name"`
	// Days are weekday names (friday, saturday, …); empty means every day.
	Days []string `yaml:"days"`
	// From and To are wall-clock times "HH:MM" in TimeZone; empty means
	// the whole day. To "24:00" is the end of the day.
	From string `yaml:"from"`
	To   string `yaml:"to"`
	// TimeZone is an IANA zone name (default UTC).
	TimeZone string `yaml:"timezone"`
	// Holidays are dates (YYYY-MM-DD, in TimeZone) on which the rule
	// applies all day.
	Holidays []string `yaml:"holidays"`
	// Approvals are the roles that must each approve, one person per role.
	Approvals []string `yaml:"approvals"`
	// Timeout overrides policy.approval_timeout for this rule.
	Timeout time.Duration `yaml:"timeout"`

	// Location is the loaded time zone.
	Location *time.Location `yaml:"-"`
}

// Security says where anything naming a local security patch goes.
type Security struct {
	// Rooms are private rooms, as "network/room".
	Rooms []string `yaml:"rooms"`
	// PrivateMessage also tells the deployer in a private message.
	PrivateMessage bool `yaml:"private_message"`
}

func (p *Policy) applyDefaults() {
	if p.ClaimedWindows == "" {
		p.ClaimedWindows = "ask"
	}
	if p.MinDeployTime == nil {
		d := 10 * time.Minute
		p.MinDeployTime = &d
	}
	if p.ApprovalTimeout == 0 {
		p.ApprovalTimeout = 30 * time.Minute
	}
}

var weekdays = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// Weekday parses a weekday name ("friday", "Fri").
func Weekday(s string) (time.Weekday, bool) {
	s = strings.ToLower(s)
	for i, d := range weekdays {
		if s == d || (len(s) >= 3 && strings.HasPrefix(d, s)) {
			return time.Weekday(i), true
		}
	}
	return 0, false
}

// ClockMinutes parses "HH:MM" (00:00 to 24:00) into minutes after midnight.
func ClockMinutes(s string) (int, bool) {
	var h, m int
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	if _, err := fmt.Sscanf(s, "%02d:%02d", &h, &m); err != nil || h > 24 || m > 59 || (h == 24 && m > 0) {
		return 0, false
	}
	return h*60 + m, true
}

// HasRole reports whether role is one of jouncebot's own or one the policy names.
func (c *Config) HasRole(role string) bool {
	if slices.Contains(knownRoles, role) {
		return true
	}
	_, ok := c.Policy.Roles[role]
	return ok
}

func (p *Policy) validate(v *validator, path string, c *Config) {
	kinds := map[string]bool{}
	for i, w := range p.Windows {
		wp := fmt.Sprintf("%s.windows[%d]", path, i)
		if !slices.Contains(WindowKinds, w.Kind) {
			v.add(wp+".kind", "expected one of %s, got %q", strings.Join(WindowKinds, ", "), w.Kind)
		}
		if kinds[w.Kind] {
			v.add(wp+".kind", "kind %q is listed twice", w.Kind)
		}
		kinds[w.Kind] = true
		for j, a := range w.Allow {
			if !slices.Contains(DeployActions, a) {
				v.add(fmt.Sprintf("%s.allow[%d]", wp, j), "expected one of %s, got %q", strings.Join(DeployActions, ", "), a)
			}
		}
	}
	if p.ClaimedWindows != "ask" && p.ClaimedWindows != "ignore" {
		v.add(path+".claimed_windows", "expected ask or ignore, got %q", p.ClaimedWindows)
	}
	if *p.MinDeployTime < 0 {
		v.add(path+".min_deploy_time", "must be 0s or more")
	}
	if p.ApprovalTimeout < 0 {
		v.add(path+".approval_timeout", "must be positive")
	}
	for r := range p.Roles {
		if slices.Contains(knownRoles, r) {
			v.add(path+".roles."+r, "%q is one of jouncebot's own roles; name only additional ones", r)
		}
	}
	for i := range p.Rules {
		p.Rules[i].validate(v, fmt.Sprintf("%s.rules[%d]", path, i), c)
	}
}

func (r *TimeRule) validate(v *validator, p string, c *Config) {
	if r.Name == "" {
		v.add(p+".name", "every rule needs a name, e.g. Fridays and weekends")
	}
	for i, d := range r.Days {
		if _, ok := Weekday(d); !ok {
			v.add(fmt.Sprintf("%s.days[%d]", p, i), "expected a weekday like friday, got %q", d)
		}
	}
	from, to := 0, 24*60
	if r.From != "" {
		var ok bool
		if from, ok = ClockMinutes(r.From); !ok {
			v.add(p+".from", "expected a time like 16:00, got %q", r.From)
		}
	}
	if r.To != "" {
		var ok bool
		if to, ok = ClockMinutes(r.To); !ok {
			v.add(p+".to", "expected a time like 24:00, got %q", r.To)
		}
	}
	if from >= to {
		v.add(p+".to", "must be after from")
	}
	tz := r.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		v.add(p+".timezone", "unknown time zone %q; use an IANA name like America/Los_Angeles or UTC", r.TimeZone)
		loc = time.UTC
	}
	r.Location = loc
	for i, h := range r.Holidays {
		if _, err := time.Parse(time.DateOnly, h); err != nil {
			v.add(fmt.Sprintf("%s.holidays[%d]", p, i), "expected a date like 2026-12-25, got %q", h)
		}
	}
	if len(r.Approvals) == 0 {
		v.add(p+".approvals", "name the roles that must approve, e.g. [releng, sre]")
	}
	for i, role := range r.Approvals {
		if !c.HasRole(role) {
			v.add(fmt.Sprintf("%s.approvals[%d]", p, i), "unknown role %q; name it under policy.roles first", role)
		}
	}
	if r.Timeout < 0 {
		v.add(p+".timeout", "must be positive")
	}
}

func (s *Security) validate(v *validator, p string, c *Config) {
	for i, r := range s.Rooms {
		network, room, ok := strings.Cut(r, "/")
		if !ok || room == "" || (network != "console" && c.NetworkByName(network) == nil) {
			v.add(fmt.Sprintf("%s.rooms[%d]", p, i), "expected network/room with a configured network, got %q", r)
		}
		// The SAL is public: a !log line in a security room would
		// publish what is said there.
		for j, pp := range c.SAL.Projects {
			for k, sr := range pp.Rooms {
				if strings.EqualFold(sr, r) {
					v.add(fmt.Sprintf("sal.projects[%d].rooms[%d]", j, k), "%q is a security room (security.rooms); the Server Admin Log is public, so !log must not be taken there", r)
				}
			}
		}
	}
}
