package readiness

import (
	"fmt"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
)

// Summary is the one message for the channel: counts, each blocked patch
// with its reason and whom to ask what, notes that need someone, and the
// estimate against the window's length. It never names a local security
// patch or its files. url, when set, links the full report.
func Summary(r Result, person func(name string) bot.Person, url string) bot.Text {
	ready, blocked := r.Count()
	out := bot.Join(bot.B(r.WindowName), bot.T(": "))
	if len(r.Patches) == 0 {
		out = out.Append(bot.T("no patches queued."))
	} else {
		out = out.Append(bot.T(fmt.Sprintf("%s ready, %d blocked", bot.Count(ready, "patch"), blocked)))
		sep := " — "
		for _, p := range r.Patches {
			if p.Status != Blocked {
				continue
			}
			out = out.Append(bot.T(fmt.Sprintf("%s%d: %s", sep, p.Change, p.Reason())))
			if p.Owner != "" {
				out = out.Append(bot.T("; "), bot.M(person(p.Owner)), bot.T(" please "+firstAsk(p)))
			}
			sep = ". "
		}
		out = out.Append(bot.T("."))
		var notes []string
		for _, p := range r.Patches {
			for _, f := range p.Notes() {
				if f.Kind == KindStatic || f.Kind == KindL10n || f.Kind == KindMaintenance || f.Kind == KindOtherBranch || f.Kind == KindOwner || f.Kind == KindMerge {
					notes = append(notes, fmt.Sprintf("%d: %s", p.Change, f.Text))
				}
			}
		}
		if len(notes) > 0 {
			out = out.Append(bot.T(" Notes: " + strings.Join(notes, "; ") + "."))
		}
	}
	if len(r.Patches) > 0 {
		out = out.Append(bot.T(fmt.Sprintf(" Estimated %s of %d (90th percentile %d).", Minutes(r.Estimate), int(r.Length()/time.Minute), int((r.Estimate90+30*time.Second)/time.Minute))))
	}
	for _, f := range r.Window {
		out = out.Append(bot.T(" " + capital(f.Text) + "; " + f.Action + "."))
	}
	if url != "" {
		out = out.Append(bot.T(" Full report: "), bot.L(url, url))
	}
	return out
}

func firstAsk(p PatchResult) string {
	for _, f := range p.Findings {
		if f.Blocking && f.Ask != "" {
			return f.Ask
		}
	}
	return "have a look"
}

// OwnerMessages are the private messages to owners of patches with
// problems, by owner: what was found and exactly what to do, one line per
// finding. Patches with only notes that need nobody (a CDN purge) get none.
func OwnerMessages(r Result) map[string]string {
	out := map[string]string{}
	for _, p := range r.Patches {
		if p.Owner == "" {
			continue
		}
		var lines []string
		for _, f := range p.Findings {
			if f.Action == "" || (f.Kind == KindOwner && p.Status == Ready) {
				continue
			}
			lines = append(lines, fmt.Sprintf("- %s: %s.", capital(f.Text), capital(f.Action)))
		}
		if len(lines) == 0 {
			continue
		}
		verdict := "can be deployed, but needs you"
		if p.Status == Blocked {
			verdict = "cannot be deployed as it is"
		}
		head := fmt.Sprintf("Your change %d (%s), queued for %s (%s UTC), %s:", p.Change, p.Subject, r.WindowName,
			r.Start.UTC().Format("Mon 2 Jan 15:04"), verdict)
		msg := head + "\n" + strings.Join(lines, "\n") + fmt.Sprintf("\nWhen it is fixed, say \"check %s\" to check again.", nonEmpty(r.Short, r.WindowID))
		if prev := out[p.Owner]; prev != "" {
			msg = prev + "\n" + msg
		}
		out[p.Owner] = msg
	}
	return out
}

// SecurityDetails are the findings naming local security patches, for the
// security destination only.
func SecurityDetails(r Result) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range r.Patches {
		for _, f := range p.Findings {
			if f.Private != "" && !seen[f.Private] {
				seen[f.Private] = true
				out = append(out, "Readiness check of "+r.WindowName+": "+f.Private)
			}
		}
	}
	return out
}

// StartNote is the line for the start ping: each patch ready or blocked.
func StartNote(r Result) string {
	var parts []string
	for _, p := range r.Patches {
		s := fmt.Sprintf("%d %s", p.Change, p.Status)
		if p.Status == Blocked {
			s += " (" + p.Reason() + ")"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return ""
	}
	return "Readiness at " + r.CheckedAt.UTC().Format("15:04") + " UTC: " + strings.Join(parts, "; ") + "."
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
