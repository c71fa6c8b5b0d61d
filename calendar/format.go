package calendar

import (
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
)

// Notes adds remarks to a window in replies (claims, queue sizes). It may be nil.
type Notes func(w Window) []string

// FormatNow answers "now": every open window, or how long until the next.
func FormatNow(c *Calendar, now time.Time, notes Notes) bot.Text {
	active := c.Active(now)
	if len(active) == 0 {
		next := c.Next(now)
		if len(next) == 0 {
			return bot.T("No deployments scheduled for the foreseeable future.")
		}
		return bot.T("No deployments scheduled for the next " + HumanDuration(next[0].Start.Sub(now)) + ".")
	}
	var out bot.Text
	for i, w := range active {
		if i > 0 {
			out = out.Append(bot.T("\n"))
		}
		out = out.Append(bot.T("For the next "+HumanDuration(w.End.Sub(now))+": "), describe(w, now, notes))
	}
	return out
}

// FormatNext answers "next": the soonest windows to start.
func FormatNext(c *Calendar, now time.Time, notes Notes) bot.Text {
	next := c.Next(now)
	if len(next) == 0 {
		return bot.T("No deployments scheduled for the foreseeable future.")
	}
	var out bot.Text
	for i, w := range next {
		if i > 0 {
			out = out.Append(bot.T("\n"))
		}
		out = out.Append(bot.T("In "+HumanDuration(w.Start.Sub(now))+": "), describe(w, now, notes))
	}
	return out
}

// FormatNowAndNext answers "nowandnext": now, then next.
func FormatNowAndNext(c *Calendar, now time.Time, notes Notes) bot.Text {
	return FormatNow(c, now, notes).Append(bot.T("\n"), FormatNext(c, now, notes))
}

// describe renders "name (Thu 26 Nov 14:00–15:00 UTC; deployers: a and b;
// max 6 patches) URL".
func describe(w Window, now time.Time, notes Notes) bot.Text {
	parts := []string{Span(w, now)}
	if len(w.Deployers) > 0 {
		parts = append(parts, "deployers: "+bot.JoinNames(w.Deployers))
	}
	if w.MaxPatches > 0 {
		parts = append(parts, "max "+bot.Count(w.MaxPatches, "patch"))
	}
	if notes != nil {
		parts = append(parts, notes(w)...)
	}
	out := bot.Join(bot.B(w.Name), bot.T(" ("+strings.Join(parts, "; ")+")"))
	if w.URL != "" {
		out = out.Append(bot.T(" "), bot.L(w.URL, w.URL))
	}
	return out
}

// Span renders a window's UTC start and end; the day is named unless the
// window starts today (UTC).
func Span(w Window, now time.Time) string {
	s, e := w.Start.UTC(), w.End.UTC()
	day := ""
	if y1, m1, d1 := s.Date(); true {
		if y2, m2, d2 := now.UTC().Date(); y1 != y2 || m1 != m2 || d1 != d2 {
			day = s.Format("Mon 2 Jan ")
		}
	}
	end := e.Format("15:04")
	if e.Sub(s) >= 24*time.Hour || e.Day() != s.Day() {
		end = e.Format("Mon 2 Jan 15:04")
	}
	return day + s.Format("15:04") + "–" + end + " UTC"
}

// HumanDuration writes d the way people say it: "42 minutes", "2 hours and
// 14 minutes", "3 days and 2 hours", rounding down to the minute.
func HumanDuration(d time.Duration) string {
	if d < time.Minute {
		return "less than a minute"
	}
	mins := int(d / time.Minute)
	days, hours, minutes := mins/(24*60), mins/60%24, mins%60
	switch {
	case days > 0 && hours > 0:
		return bot.Count(days, "day") + " and " + bot.Count(hours, "hour")
	case days > 0:
		return bot.Count(days, "day")
	case hours > 0 && minutes > 0:
		return bot.Count(hours, "hour") + " and " + bot.Count(minutes, "minute")
	case hours > 0:
		return bot.Count(hours, "hour")
	}
	return bot.Count(minutes, "minute")
}
