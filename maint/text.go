package maint

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/sallines"
)

func textf(format string, args ...any) bot.Text { return bot.T(fmt.Sprintf(format, args...)) }

// What is "namespaceDupes.php --fix on testwiki" for a phase.
func (r *Run) What(p Phase) string { return Describe(r.Script, r.PhaseArgs(p), r.Target, r.Wikis) }

// salSubject is "namespaceDupes.php --fix on testwiki for T123 (445113)".
func salSubject(r *Run) string {
	s := r.What(Real)
	if r.Reason != "" {
		s += " for " + r.Reason
	}
	if r.Change != 0 {
		s += fmt.Sprintf(" (%d)", r.Change)
	}
	if o := r.Override; o != nil {
		s += fmt.Sprintf(" despite a failed dry run (%s: %s)", o.By, o.Reason)
	}
	return s
}

func duration(d time.Duration) string { return sallines.Duration(d) }

// exitText is "exit 0", "exit 3", "failed on test2wiki (exit 1)" or
// "stopped by Amir".
func exitText(r *Run) string {
	if r.State == Expired {
		return "its dry run was not followed by maint go within " + waitText(r.ExpiredAfter)
	}
	if r.StopBy != "" {
		if r.StopBy == "timeout" {
			return "stopped at the timeout"
		}
		return "stopped by " + r.StopBy
	}
	steps := r.stepsOf(Real)
	if len(r.Wikis) == 1 && len(steps) == 1 {
		return stepExit(r.Steps[steps[0]])
	}
	var failed []string
	for _, i := range steps {
		st := r.Steps[i]
		if st.Gone || (st.Exit != nil && *st.Exit != 0) {
			failed = append(failed, st.Wiki+" ("+stepExit(st)+")")
		}
	}
	if len(failed) == 0 {
		return fmt.Sprintf("exit 0 on all %d wikis", len(r.Wikis))
	}
	return fmt.Sprintf("failed on %d of %d wikis: %s", len(failed), len(r.Wikis), strings.Join(failed, ", "))
}

func stepExit(st Step) string {
	if st.Exit != nil {
		return fmt.Sprintf("exit %d", *st.Exit)
	}
	return "no exit status: the process is gone"
}

// stateText says where a run is, after "it": "is running its dry run".
func stateText(r *Run) string {
	switch r.State {
	case Running:
		if r.Phase == Dry {
			return "is running its dry run"
		}
		return "is running"
	case Waiting:
		if r.DryFailed {
			return fmt.Sprintf("its dry run failed; it waits for maint go %d <reason>", r.ID)
		}
		return fmt.Sprintf("waits for maint go %d after its dry run", r.ID)
	case Done:
		return "finished"
	case Failed:
		return "failed"
	case Expired:
		return "expired waiting for maint go after its dry run"
	}
	return "was stopped"
}

// waitText is "24h" or "1h30m".
func waitText(d time.Duration) string {
	t := d.String()
	if strings.HasSuffix(t, "m0s") {
		t = strings.TrimSuffix(t, "0s")
	}
	if strings.HasSuffix(t, "h0m") {
		t = strings.TrimSuffix(t, "0m")
	}
	return t
}

// ExpiredText says why an expired run ended, for its page.
func (r *Run) ExpiredText() string {
	return fmt.Sprintf("expired: the dry run waited longer than %s for maint go; nothing ran after it", waitText(r.ExpiredAfter))
}

// againText says how to start a run's dry run again.
func (s *Service) againText(r *Run) string {
	if r.Change != 0 {
		return fmt.Sprintf("Run the dry run again: maint %d", r.Change)
	}
	words := []string{"maint", r.Script, r.Target}
	var real []string
	for _, d := range s.o.Rules.DryRun {
		if d.Script == r.Script {
			real = d.Real
		}
	}
	for _, a := range r.Args {
		if !slices.Contains(real, a) {
			words = append(words, a)
		}
	}
	if r.Reason != "" {
		words = append(words, r.Reason)
	}
	return "Run the dry run again: " + strings.Join(words, " ")
}

func (s *Service) mention(r *Run) bot.Text {
	return bot.Join(bot.M(bot.Person{Name: r.By.Name, IRCNick: r.By.IRCNick, MatrixID: r.By.MatrixID}), bot.T(": "))
}

func (s *Service) link(r *Run) string {
	if u := s.URL(r); u != "" {
		return " Output: " + u
	}
	return ""
}

// privateNote is what public texts say instead of a private run's output.
func privateNote(r *Run) string {
	return fmt.Sprintf("\nThe output of %s is private: it went to the security destination.", r.Script)
}

// GoText is the answer to maint go.
func (s *Service) GoText(r *Run) bot.Text {
	if o := r.Override; o != nil {
		return textf("Run %d: %s started despite its failed dry run (%s: %s).", r.ID, r.What(Real), o.By, o.Reason)
	}
	return textf("Run %d: %s started.", r.ID, r.What(Real))
}

// dryFailure is "exit 3" or "test2wiki exit 3, enwiki no exit status…".
func dryFailure(r *Run) string {
	steps := r.stepsOf(Dry)
	if len(steps) == 1 {
		return stepExit(r.Steps[steps[0]])
	}
	var out []string
	for _, i := range steps {
		if st := r.Steps[i]; st.Gone || (st.Exit != nil && *st.Exit != 0) {
			out = append(out, st.Wiki+" "+stepExit(st))
		}
	}
	return strings.Join(out, ", ")
}

// sayPrivate sends a private run's output at the end of a phase (the
// first lines of a dry run, the last lines of a run) and the link to its
// whole output to the security destination.
func (s *Service) sayPrivate(ctx context.Context, r *Run, outs [][]byte) {
	if !r.Private || s.o.Private == nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Run %d (private output): %s by %s, %s.", r.ID, r.What(r.Phase), r.By.Name, r.State)
	if u := s.PrivateURL(r); u != "" {
		b.WriteString(" Output: " + u)
	}
	for _, i := range r.stepsOf(r.Phase) {
		st := r.Steps[i]
		lines := lastLines(output(outs, i), 5)
		if r.Phase == Dry {
			lines = firstLines(output(outs, i), 5)
		}
		fmt.Fprintf(&b, "\n%s (%s, %s): %s", st.Wiki, stepExit(st), bot.Count(st.Lines, "line"), strings.Join(lines, " | "))
	}
	s.o.Private(context.WithoutCancel(ctx), r.Origin, r.By, bot.T(b.String()))
}

// StartedText is the answer to a maint command that started a run.
func (s *Service) StartedText(r *Run) bot.Text {
	if r.HasDry {
		return textf("Run %d: dry run of %s started; the real run (%s) waits for maint go %d.%s", r.ID, r.What(Dry), strings.Join(append([]string{r.Script}, r.Args...), " "), r.ID, s.link(r))
	}
	return textf("Run %d: %s started.%s", r.ID, r.What(Real), s.link(r))
}

// dryText shows a finished dry run: its counts and first lines, and how
// to go on; after a failure the real run needs a reason.
func (s *Service) dryText(r *Run, outs [][]byte) bot.Text {
	var b strings.Builder
	if r.DryFailed {
		fmt.Fprintf(&b, "Run %d: dry run of %s failed (%s); the real run does not start.", r.ID, r.What(Dry), dryFailure(r))
	} else {
		fmt.Fprintf(&b, "Run %d: dry run of %s finished (%s).", r.ID, r.What(Dry), phaseExit(r, Dry))
	}
	for _, i := range r.stepsOf(Dry) {
		st := r.Steps[i]
		fmt.Fprintf(&b, "\n%s: %s of output", st.Wiki, bot.Count(st.Lines, "line"))
		if first := firstLines(output(outs, i), 5); len(first) > 0 && !r.Private {
			b.WriteString(", first: " + strings.Join(first, " | "))
		}
	}
	if r.Private {
		b.WriteString(privateNote(r))
	}
	real := strings.Join(append([]string{r.Script}, r.Args...), " ")
	if r.DryFailed {
		fmt.Fprintf(&b, "\nThe real run (%s) starts only if you say why the failure is fine: maint go %d <reason> (or maint stop %d).%s", real, r.ID, r.ID, s.link(r))
		return s.mention(r).Append(bot.T(b.String()))
	}
	fmt.Fprintf(&b, "\nStart the real run (%s) with: maint go %d (or maint stop %d).%s", real, r.ID, r.ID, s.link(r))
	return s.mention(r).Append(bot.T(b.String()))
}

// endText reports a run's end, with the last lines of what failed.
func (s *Service) endText(r *Run, outs [][]byte) bot.Text {
	d := duration(r.Ended.Sub(r.Created))
	if !r.RealStarted.IsZero() {
		d = duration(r.Ended.Sub(r.RealStarted))
	}
	var b strings.Builder
	switch r.State {
	case Done:
		fmt.Fprintf(&b, "Run %d: %s finished (%s) in %s.", r.ID, r.What(r.Phase), exitText(r), d)
	case Failed:
		fmt.Fprintf(&b, "Run %d: %s failed (%s) after %s.", r.ID, r.What(r.Phase), exitText(r), d)
	default:
		fmt.Fprintf(&b, "Run %d: %s %s after %s.", r.ID, r.What(r.Phase), exitText(r), d)
	}
	for _, i := range r.stepsOf(r.Phase) {
		st := r.Steps[i]
		if st.Gone || (st.Exit != nil && *st.Exit != 0) {
			if last := lastLines(output(outs, i), 5); len(last) > 0 && !r.Private {
				fmt.Fprintf(&b, "\nLast lines on %s: %s", st.Wiki, strings.Join(last, " | "))
			}
		}
	}
	if r.Private {
		b.WriteString(privateNote(r))
	}
	b.WriteString(s.link(r))
	return s.mention(r).Append(bot.T(b.String()))
}

func phaseExit(r *Run, p Phase) string {
	failed := r.failedWikis(p)
	steps := r.stepsOf(p)
	if len(steps) == 1 {
		return stepExit(r.Steps[steps[0]])
	}
	if len(failed) == 0 {
		return fmt.Sprintf("exit 0 on all %d wikis", len(steps))
	}
	return fmt.Sprintf("failed on %s", strings.Join(failed, ", "))
}

// progressText is the throttled progress line.
func progressText(r *Run, i, lines int, since time.Duration) bot.Text {
	st := r.Steps[i]
	s := fmt.Sprintf("Run %d: %s on %s: %s of output in the last %s", r.ID, strings.Join(append([]string{r.Script}, r.PhaseArgs(st.Phase)...), " "), st.Wiki,
		bot.Count(lines, "line"), duration(since))
	if len(r.Wikis) > 1 {
		done := len(r.stepsOf(r.Phase)) - 1
		s += fmt.Sprintf("; %d of %d wikis done", done, len(r.Wikis))
		if f := r.failedWikis(r.Phase); len(f) > 0 {
			s += " (failed: " + strings.Join(f, ", ") + ")"
		}
	}
	return bot.T(s + ".")
}

// ListText is the answer to maint without arguments.
func (s *Service) ListText(runs []*Run) bot.Text {
	var live, recent []string
	for _, r := range runs {
		l := fmt.Sprintf("%d: %s by %s %s", r.ID, r.What(r.Phase), r.By.Name, r.Created.Format("2006-01-02 15:04 UTC"))
		if r.State.Ended() {
			l += " — " + r.State.String() + " (" + exitText(r) + ")"
			if len(recent) < 5 {
				recent = append(recent, l)
			}
			continue
		}
		live = append(live, l+" — "+stateText(r))
	}
	if len(live)+len(recent) == 0 {
		return bot.T("No maintenance runs yet. Start one with: maint <script> <wiki|list:NAME|all> [--args] [reason]")
	}
	var b strings.Builder
	if len(live) == 0 {
		b.WriteString("No live maintenance runs.")
	} else {
		b.WriteString("Live maintenance runs:\n" + strings.Join(live, "\n"))
	}
	if len(recent) > 0 {
		b.WriteString("\nRecent:\n" + strings.Join(recent, "\n"))
	}
	return bot.T(b.String())
}

func (s State) String() string { return string(s) }

func output(outs [][]byte, i int) string {
	if i < len(outs) {
		return string(outs[i])
	}
	return ""
}

func firstLines(out string, n int) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if l = clean(l); l != "" && len(ls) < n {
			ls = append(ls, l)
		}
	}
	return ls
}

func lastLines(out string, n int) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if l = clean(l); l != "" {
			ls = append(ls, l)
		}
	}
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return ls
}

// clean makes an output line fit for chat: no control characters, at
// most 200 characters.
func clean(l string) string {
	l = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, l)
	l = strings.TrimSpace(l)
	if r := []rune(l); len(r) > 200 {
		l = string(r[:200]) + "…"
	}
	return l
}
