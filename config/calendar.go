package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Window kinds.
var WindowKinds = []string{"backport", "train", "puppet", "other"}

// Calendar configures the deployment calendar.
type Calendar struct {
	// URL is the human-readable calendar page linked from chat.
	URL string `yaml:"url"`
	// Wiki imports the wiki's Deployments page; optional.
	Wiki *WikiSource `yaml:"wiki"`
	// Refresh is how often the wiki page is re-read (default 15m).
	Refresh time.Duration `yaml:"refresh"`
	// Reminder is how long before a window the reminder goes out (default 10m; 0s disables).
	Reminder *time.Duration `yaml:"reminder"`
	// Readiness is how long before a window the readiness check runs and
	// reports (default: the reminder's lead; 0s disables the automatic
	// check, "check" still works).
	Readiness *time.Duration `yaml:"readiness"`
	// Leftovers says what happens to patches not deployed in their window:
	// "move" (to the next window of the same kind, the default) or "drop".
	Leftovers string `yaml:"leftovers"`
	// Horizon is how far ahead recurring windows are expanded (default 8 weeks).
	Horizon time.Duration `yaml:"horizon"`
}

// WikiSource is a MediaWiki page holding deploycal-item markup.
type WikiSource struct {
	API  string `yaml:"api"`  // e.g. https://wikitech.wikimedia.org/w/api.php
	Page string `yaml:"page"` // e.g. Deployments
	// PageURL is the page's public URL; window anchors are appended to it.
	PageURL string `yaml:"page_url"`
	// User and Password log in with a bot password (optional: public
	// pages can be read anonymously).
	User     string  `yaml:"user"`
	Password *Secret `yaml:"password"`
}

// Window is a recurring deployment window.
type Window struct {
	Name string `yaml:"name"`
	// Kind is backport, train, puppet or other.
	Kind string `yaml:"kind"`
	// Schedule is a five-field cron expression for the start time, read in
	// TimeZone (e.g. "0 6 * * 1-4" for 06:00 Monday to Thursday).
	Schedule string `yaml:"schedule"`
	// TimeZone is an IANA zone name (default UTC). Windows authored in
	// America/Los_Angeles move in UTC when daylight saving time changes.
	TimeZone   string        `yaml:"timezone"`
	Duration   time.Duration `yaml:"duration"`
	MaxPatches int           `yaml:"max_patches"`
	// Deployers are names from the people list.
	Deployers []string `yaml:"deployers"`

	// Parsed is the schedule, ready to use after Load.
	Parsed cron.Schedule `yaml:"-"`
	// Location is the loaded time zone.
	Location *time.Location `yaml:"-"`
}

// Freeze is a period in which deploys are denied without an override.
type Freeze struct {
	From   time.Time `yaml:"from"`
	To     time.Time `yaml:"to"`
	Reason string    `yaml:"reason"`
}

func (c *Calendar) applyDefaults() {
	if c.Refresh == 0 {
		c.Refresh = 15 * time.Minute
	}
	if c.Reminder == nil {
		d := 10 * time.Minute
		c.Reminder = &d
	}
	if c.Readiness == nil {
		d := *c.Reminder
		c.Readiness = &d
	}
	if c.Leftovers == "" {
		c.Leftovers = "move"
	}
	if c.Horizon == 0 {
		c.Horizon = 8 * 7 * 24 * time.Hour
	}
}

func (c *Calendar) validate(v *validator, p string) {
	if c.Refresh < time.Minute {
		v.add(p+".refresh", "must be at least 1m, got %s", c.Refresh)
	}
	if *c.Reminder < 0 || *c.Reminder > 24*time.Hour {
		v.add(p+".reminder", "must be between 0s and 24h, got %s", *c.Reminder)
	}
	if c.Readiness != nil && (*c.Readiness < 0 || *c.Readiness > 24*time.Hour) {
		v.add(p+".readiness", "must be between 0s and 24h, got %s", *c.Readiness)
	}
	if c.Leftovers != "move" && c.Leftovers != "drop" {
		v.add(p+".leftovers", `expected "move" or "drop", got %q`, c.Leftovers)
	}
	if c.Horizon < 24*time.Hour || c.Horizon > 366*24*time.Hour {
		v.add(p+".horizon", "must be between 24h and 8784h (a year), got %s", c.Horizon)
	}
	if w := c.Wiki; w != nil {
		if !strings.HasPrefix(w.API, "http://") && !strings.HasPrefix(w.API, "https://") {
			v.add(p+".wiki.api", "expected the URL of api.php, got %s", shownURL(w.API))
		}
		if w.Page == "" {
			v.add(p+".wiki.page", "name the page holding the calendar, e.g. Deployments")
		}
		if w.User != "" && !w.Password.IsSet() {
			v.add(p+".wiki.password", "a wiki user needs its bot password (file: or env:)")
		}
	}
}

// cronParser accepts standard five-field expressions and descriptors.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func (w *Window) validate(v *validator, p string, c *Config) {
	if w.Name == "" {
		v.add(p+".name", "every window needs a name")
	}
	if w.Kind == "" {
		w.Kind = "other"
	}
	if !slices.Contains(WindowKinds, w.Kind) {
		v.add(p+".kind", "expected one of %s, got %q", strings.Join(WindowKinds, ", "), w.Kind)
	}
	tz := w.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		v.add(p+".timezone", "unknown time zone %q; use an IANA name like America/Los_Angeles or UTC", w.TimeZone)
		loc = time.UTC
	}
	w.Location = loc
	if strings.Contains(w.Schedule, "TZ=") {
		v.add(p+".schedule", "give the time zone in timezone:, not inside the schedule")
	} else if sched, err := cronParser.Parse(w.Schedule); err != nil {
		v.add(p+".schedule", "not a cron expression (minute hour day-of-month month day-of-week, e.g. \"0 6 * * 1-4\"): %v", err)
	} else {
		w.Parsed = sched
		start := time.Date(2000, 1, 1, 0, 0, 0, 0, loc)
		if sched.Next(start).IsZero() && sched.Next(time.Now().In(loc)).IsZero() {
			v.add(p+".schedule", "%q never fires; check the day of month and month", w.Schedule)
		}
	}
	switch {
	case w.Duration <= 0:
		v.add(p+".duration", "must be a positive duration like 1h or 90m")
	case w.Duration > 7*24*time.Hour:
		v.add(p+".duration", "%s is longer than a week; a window must be at most 168h", w.Duration)
	}
	if w.MaxPatches < 0 {
		v.add(p+".max_patches", "must be 0 (no limit) or more, got %d", w.MaxPatches)
	}
	for i, d := range w.Deployers {
		if c.PersonByName(d) == nil {
			v.add(fmt.Sprintf("%s.deployers[%d]", p, i), "%q is not in the people list", d)
		}
	}
}

func (f *Freeze) validate(v *validator, p string) {
	if f.From.IsZero() || f.To.IsZero() {
		v.add(p, "a freeze needs from and to, as RFC 3339 times like 2026-12-21T00:00:00Z")
		return
	}
	if !f.To.After(f.From) {
		v.add(p+".to", "must be after from (%s)", f.From.Format(time.RFC3339))
	}
	if f.Reason == "" {
		v.add(p+".reason", "say why, so people reading nowandnext know")
	}
}

func (c *Calendar) secrets(p string) []namedSecret {
	if c.Wiki == nil {
		return nil
	}
	return []namedSecret{{p + ".wiki.password", c.Wiki.Password}}
}
