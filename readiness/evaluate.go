package readiness

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
)

// Facts are what the gatherer learnt about one queued patch.
type Facts struct {
	// Change is the change as Gerrit has it; nil when Gerrit could not
	// tell (Err says why, as a sentence).
	Change *gerrit.Change
	Err    string
	// Timeout says, when the check ran out of time on this change, where:
	// "the check of 445113 timed out after 60 s fetching …".
	Timeout string
	// Repo is the staging directory the change deploys to: "" for the
	// config repository, "php-1.46.0-wmf.3" for core and its submodules.
	Repo string
	// NotDeployable says why the change cannot be deployed at all (a
	// project or branch that is not deployed, a branch that is not live);
	// empty when it can.
	NotDeployable string
	// Missing are the other live wmf/ branches on which the change has no
	// counterpart (a change with the same Change-Id).
	Missing []string
	// Kind is what the change deploys as: "config", "core" or
	// "submodule" ("" when not deployable).
	Kind string
	// Deps are the change's unmerged or merged dependencies: Depends-On
	// footers and the unmerged parents in its relation chain.
	Deps []Dep
	// Merge is the dry merge's outcome.
	Merge Merge
	// Files are the paths the change touches.
	Files []string
	// Owner is the person to ping ("" when unknown); Present is whether
	// they are in a room the bot can see (nil when nobody can tell), Room
	// the room looked at.
	Owner   string
	Present *bool
	Room    string
}

// Dep is one dependency of a change.
type Dep struct {
	Change int
	Merged bool
	// Why says how it is a dependency: "Depends-On" or "relation chain".
	Why string
}

// Merge is the result of the dry merge of a patch onto staging.
type Merge struct {
	// Checked is false when no dry merge was done (not deployable, or
	// Gerrit could not tell); Err says why it failed, for the log.
	Checked bool
	Err     string `json:",omitempty"`
	// Conflict is "" (applies cleanly), "security" (with a local security
	// patch), "queue" (with With, another queued patch) or "upstream"
	// (with the branch as staging has it).
	Conflict string
	Files    []string
	With     int
	// Private names the security patch and the files; only for the
	// security destination.
	Private string
	// Dirty names the checkout with uncommitted changes, DirtyPrivate
	// lists them (only for the security destination).
	Dirty        string `json:",omitempty"`
	DirtyPrivate string `json:"-"`
	// Timeout says where the dry merge ran out of time.
	Timeout string `json:",omitempty"`
}

// Queued says where another window holds a change.
type Queued struct {
	WindowID string
	Name     string
	Start    time.Time
}

// Input is everything Evaluate needs, gathered beforehand.
type Input struct {
	Window  calendar.Window
	Patches []calendar.Patch // the window's pending patches, in queue order
	Facts   map[int]Facts
	// Elsewhere are the pending changes queued in other windows.
	Elsewhere map[int]Queued
	// Previous is the window's last check, if any (for newer patchsets).
	Previous *Result
	// History are the last deploys, for the estimate.
	History []Sample
	// Room is where owners are expected ("#wikimedia-operations").
	Room string
	Now  time.Time
}

// Evaluate turns the gathered facts into the window's result. It is pure.
func Evaluate(in Input) Result {
	res := Result{WindowID: in.Window.ID, WindowName: in.Window.Name, Short: in.Window.Short,
		Start: in.Window.Start, End: in.Window.End, CheckedAt: in.Now}
	res.EstimateFrom = estimateFrom(in.History)
	pos := map[int]int{}
	for i, p := range in.Patches {
		pos[p.Change] = i
	}
	for i, p := range in.Patches {
		pr := evaluatePatch(in, i, p, pos)
		med, p90, _ := perPatch(in.History, in.Facts[p.Change].Kind)
		if hasKind(pr.Findings, KindL10n) {
			med, p90 = med+L10nExtra, p90+L10nExtra
		}
		pr.Estimate = med
		res.Estimate += med
		res.Estimate90 += p90
		res.Patches = append(res.Patches, pr)
	}
	length := in.Window.Duration()
	switch {
	case len(in.Patches) == 0:
	case res.Estimate > length:
		res.Window = append(res.Window, Finding{Kind: KindFit, Blocking: true,
			Text:   fmt.Sprintf("the queue needs about %s but the window is %s long", Minutes(res.Estimate), Minutes(length)),
			Action: "move the last patches to a later window"})
	case res.Estimate90 > length:
		res.Window = append(res.Window, Finding{Kind: KindFit,
			Text:   fmt.Sprintf("at the 90th percentile the queue needs %s, more than the window's %s", Minutes(res.Estimate90), Minutes(length)),
			Action: "be ready to move the last patch to a later window"})
	}
	return res
}

func hasKind(fs []Finding, kind string) bool {
	for _, f := range fs {
		if f.Kind == kind {
			return true
		}
	}
	return false
}

// Minutes writes a duration in whole minutes: "38 min".
func Minutes(d time.Duration) string {
	return fmt.Sprintf("%d min", int((d+30*time.Second)/time.Minute))
}

func evaluatePatch(in Input, i int, p calendar.Patch, pos map[int]int) PatchResult {
	f := in.Facts[p.Change]
	pr := PatchResult{Change: p.Change, Owner: p.Owner, Status: Ready}
	if pr.Owner == "" {
		pr.Owner = f.Owner
	}
	add := func(fd Finding) { pr.Findings = append(pr.Findings, fd) }
	ch := f.Change
	if f.Timeout != "" && ch == nil {
		add(timeoutFinding(f.Timeout))
		return finish(pr)
	}
	if ch == nil {
		add(Finding{Kind: KindGerrit, Blocking: true, Text: nonEmpty(f.Err, "Gerrit could not tell me about it"),
			Action: "check that the change number is right", Ask: "check the number"})
		return finish(pr)
	}
	pr.Project, pr.Branch, pr.Subject, pr.PatchSet = ch.Project, ch.Branch, ch.Subject, ch.PatchSet
	if ch.Private {
		pr.Subject = ch.PublicSubject()
		add = privately(ch, append(slices.Clone(f.Files), f.Merge.Files...), add)
	}
	switch {
	case ch.Status == "ABANDONED":
		add(Finding{Kind: KindAbandoned, Blocking: true, Text: "the change is abandoned",
			Action: "restore it in Gerrit or remove it from the queue", Ask: "restore it or remove it"})
		return finish(pr)
	case ch.WIP && !ch.Merged():
		add(Finding{Kind: KindWIP, Blocking: true, Text: "the change is a work in progress",
			Action: "mark it ready for review in Gerrit", Ask: "mark it ready"})
	}
	if in.Previous != nil {
		if old, ok := in.Previous.Patch(p.Change); ok && old.PatchSet != 0 && old.PatchSet != ch.PatchSet {
			add(Finding{Kind: KindPatchSet, Text: fmt.Sprintf("patchset %d is newer than patchset %d seen at the last check; patchset %d would be deployed", ch.PatchSet, old.PatchSet, ch.PatchSet)})
		}
	}
	if f.NotDeployable != "" {
		add(Finding{Kind: KindBranch, Blocking: true, Text: f.NotDeployable,
			Action: "cherry-pick it to a live wmf/ branch (or the config repository's deploy branch)", Ask: "cherry-pick it to a live branch"})
	}
	if len(f.Missing) > 0 {
		add(Finding{Kind: KindOtherBranch, Text: "also needed on " + strings.Join(f.Missing, " and ") + "?",
			Action: "cherry-pick it to " + strings.Join(f.Missing, " and ") + " and queue that too, if it is needed there"})
	}
	if !ch.Merged() {
		gerritChecks(ch, add)
	}
	deps(in, i, pos, f.Deps, add)
	mergeAdd := add
	if w := in.Facts[f.Merge.With]; f.Merge.Conflict == "queue" && w.Change != nil && w.Change.Private {
		// The files shared with a change private in Gerrit tell what
		// it touches: named only privately.
		mergeAdd = privately(w.Change, append(slices.Clone(w.Files), f.Merge.Files...), add)
	}
	mergeFinding(f.Merge, mergeAdd)
	fileFindings(f.Files, ch.Message, add)
	switch {
	case pr.Owner == "":
		add(Finding{Kind: KindOwner, Text: "nobody is known to own it"})
	case f.Present != nil && !*f.Present:
		add(Finding{Kind: KindOwner, Text: pr.Owner + " is not in " + nonEmpty(f.Room, nonEmpty(in.Room, "the channel")),
			Action: "be in " + nonEmpty(f.Room, nonEmpty(in.Room, "the channel")) + " when the window starts, to test the change"})
	}
	return finish(pr)
}

// privately wraps add for a change marked private in Gerrit: a finding
// that names one of its files or the maintenance scripts its footers ask
// for says "a file named privately" (or "a maintenance script named
// privately") instead, and its whole text, with the change's subject,
// goes to the security destination (Finding.Private).
func privately(ch *gerrit.Change, files []string, add func(Finding)) func(Finding) {
	slices.SortFunc(files, func(a, b string) int { return len(b) - len(a) }) // longest first
	// The scripts with their arguments: they tell what the fix repairs.
	scripts := gerrit.MaintenanceScripts(ch.Message)
	return func(fd Finding) {
		text, action := fd.Text, fd.Action
		for _, s := range scripts {
			text = strings.ReplaceAll(text, s, "a maintenance script named privately")
			action = strings.ReplaceAll(action, s, "a maintenance script named privately")
		}
		for _, f := range files {
			text = strings.ReplaceAll(text, f, "a file named privately")
			action = strings.ReplaceAll(action, f, "a file named privately")
		}
		text, action = manyPrivate.ReplaceAllString(text, "files named privately"), manyPrivate.ReplaceAllString(action, "files named privately")
		if text != fd.Text || action != fd.Action {
			detail := fmt.Sprintf("Change %d %q (private in Gerrit): %s", ch.Number, ch.Subject, fd.Text)
			if fd.Action != "" {
				detail += "; " + fd.Action
			}
			fd.Private = strings.TrimSpace(fd.Private + " " + detail + ".")
			fd.Text, fd.Action = text, action
			if !strings.Contains(fd.Action, "privately") {
				fd.Action = strings.TrimSpace(nonEmpty(fd.Action, "look at it") + "; the details went to the security contacts privately")
			}
		}
		add(fd)
	}
}

var manyPrivate = regexp.MustCompile(`a file named privately(, a file named privately)+`)

func finish(pr PatchResult) PatchResult {
	for _, f := range pr.Findings {
		if f.Blocking {
			pr.Status = Blocked
		}
	}
	return pr
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func gerritChecks(ch *gerrit.Change, add func(Finding)) {
	for _, v := range ch.Labels["Code-Review"] {
		if v.Value == -2 {
			add(Finding{Kind: KindReview, Blocking: true, Text: "Code-Review -2 from " + v.Display(),
				Action: "talk to " + v.Display() + " and address the review", Ask: "address the review"})
		}
	}
	var ci []gerrit.Approval
	for _, v := range ch.Labels["Verified"] {
		if v.Value != 0 {
			ci = append(ci, v)
		}
	}
	failed := false
	for _, v := range ci {
		if v.Value < 0 {
			failed = true
			add(Finding{Kind: KindCI, Blocking: true, Text: fmt.Sprintf("CI fails (Verified %+d from %s)", v.Value, v.Display()),
				Action: "fix the failing tests and upload a new patchset, or comment \"recheck\" if the failure is unrelated", Ask: "fix CI or recheck"})
		}
	}
	if len(ci) == 0 && !failed {
		add(Finding{Kind: KindCI, Blocking: true, Text: "no CI vote (Verified) yet",
			Action: "wait for CI to report, or comment \"recheck\" to start it", Ask: "wait for CI or recheck"})
	}
	if ch.Mergeable != nil && !*ch.Mergeable {
		add(Finding{Kind: KindMergeable, Blocking: true, Text: "Gerrit says it cannot be merged",
			Action: "rebase it in Gerrit onto " + ch.Branch, Ask: "rebase"})
	}
}

func deps(in Input, i int, pos map[int]int, ds []Dep, add func(Finding)) {
	for _, d := range ds {
		if d.Merged {
			continue
		}
		j, here := pos[d.Change]
		other, elsewhere := in.Elsewhere[d.Change]
		switch {
		case here && j < i:
			// Queued before it in this window: deployed first.
		case here:
			add(Finding{Kind: KindDependency, Blocking: true,
				Text:   fmt.Sprintf("it depends on %d (%s), which is queued after it", d.Change, d.Why),
				Action: fmt.Sprintf("move it after %d in the queue", d.Change), Ask: fmt.Sprintf("queue it after %d", d.Change)})
		case elsewhere && other.Start.Before(in.Window.Start):
			add(Finding{Kind: KindDependency,
				Text:   fmt.Sprintf("it depends on %d (%s), which is not merged yet and is queued for an earlier window (%s)", d.Change, d.Why, other.Name),
				Action: fmt.Sprintf("make sure %d is deployed in %s", d.Change, other.Name)})
		case elsewhere:
			add(Finding{Kind: KindDependency, Blocking: true,
				Text:   fmt.Sprintf("it depends on %d (%s), which is not merged and is queued for a later window (%s)", d.Change, d.Why, other.Name),
				Action: fmt.Sprintf("queue %d for this window before it, or move this patch to %s", d.Change, other.Name), Ask: fmt.Sprintf("queue %d first or move this one", d.Change)})
		default:
			add(Finding{Kind: KindDependency, Blocking: true,
				Text:   fmt.Sprintf("it depends on %d (%s), which is not merged and not queued", d.Change, d.Why),
				Action: fmt.Sprintf("queue %d for this window before it, or wait until it is merged", d.Change), Ask: fmt.Sprintf("queue %d first", d.Change)})
		}
	}
}

// timeoutFinding says a change's check ran out of time: nobody can say
// it is ready.
func timeoutFinding(text string) Finding {
	return Finding{Kind: KindTimeout, Blocking: true, Text: text,
		Action: "say \"check\" again in a few minutes, and tell the deployers if it times out again", Ask: "check again later"}
}

func mergeFinding(m Merge, add func(Finding)) {
	files := ""
	if len(m.Files) > 0 {
		files = " in " + strings.Join(m.Files, ", ")
	}
	switch {
	case m.Timeout != "":
		add(timeoutFinding(m.Timeout))
	case m.Err != "":
		add(Finding{Kind: KindMerge, Text: "the dry merge could not run, so conflicts are unknown"})
	}
	if m.Dirty != "" {
		// Uncommitted changes may be a security fix: named only privately.
		add(Finding{Kind: KindStaging, Blocking: true, Text: "the checkout " + m.Dirty + " has uncommitted changes, so a deploy would be refused",
			Action: "ask the deployers to commit or clean up staging before the window; the details went to the security contacts privately",
			Ask:    "talk to the deployers", Private: m.DirtyPrivate})
	}
	switch m.Conflict {
	case "security":
		// Public text names neither the security patch nor its files;
		// conflicts with upstream alone are named, to rebase.
		text, action := "merge conflict with a local security patch", "ask the deployers before the window"
		if files != "" {
			text = "merge conflict" + files + " with the branch in staging, and with a local security patch"
			action = "rebase it, and ask the deployers before the window"
		}
		add(Finding{Kind: KindSecurity, Blocking: true, Text: text,
			Action: action + "; the details went to the security contacts privately", Ask: "talk to the deployers", Private: m.Private})
	case "queue":
		add(Finding{Kind: KindConflict, Blocking: true, Text: fmt.Sprintf("merge conflict%s with %d, queued before it", files, m.With),
			Action: fmt.Sprintf("rebase it onto %d (or agree with its owner to deploy only one of them)", m.With), Ask: fmt.Sprintf("rebase onto %d", m.With)})
	case "upstream":
		add(Finding{Kind: KindUpstream, Blocking: true, Text: "merge conflict" + files + " with the branch in staging",
			Action: "rebase it", Ask: "rebase"})
	}
}

// Static file suffixes: the CDN serves them, so a deploy purges them.
var staticSuffixes = []string{".js", ".css", ".less", ".png", ".svg", ".gif", ".jpg", ".jpeg", ".ico", ".woff", ".woff2", ".ttf", ".eot"}

// IsStatic reports whether a path is a static file the CDN caches.
func IsStatic(p string) bool {
	ext := strings.ToLower(path.Ext(p))
	for _, s := range staticSuffixes {
		if ext == s {
			return true
		}
	}
	return strings.HasPrefix(p, "static/") || strings.Contains(p, "/static/")
}

// IsL10n reports whether a path is a localisation file, whose change
// needs the slow localisation cache rebuild.
func IsL10n(p string) bool {
	return (strings.HasPrefix(p, "i18n/") || strings.Contains(p, "/i18n/")) && strings.HasSuffix(p, ".json") ||
		strings.HasPrefix(p, "languages/messages/")
}

func fileFindings(files []string, msg string, add func(Finding)) {
	var static, l10n []string
	for _, f := range files {
		switch {
		case IsStatic(f):
			static = append(static, f)
		case IsL10n(f):
			l10n = append(l10n, f)
		}
	}
	if len(static) > 0 {
		add(Finding{Kind: KindStatic, Text: "it changes " + bot.Count(len(static), "static file") + " (" + listFew(static) + "); a CDN purge will run"})
	}
	if len(l10n) > 0 {
		add(Finding{Kind: KindL10n, Text: "it changes " + bot.Count(len(l10n), "localisation file") + " (" + listFew(l10n) + "); the localisation rebuild adds about " + Minutes(L10nExtra)})
	}
	scripts := gerrit.MaintenanceScripts(msg)
	for _, s := range scripts {
		add(Finding{Kind: KindMaintenance, Text: "it needs the maintenance script " + s + " run after the sync",
			Action: "be there to run " + s + " with the deployer"})
	}
}

func listFew(fs []string) string {
	if len(fs) <= 3 {
		return strings.Join(fs, ", ")
	}
	return strings.Join(fs[:3], ", ") + fmt.Sprintf(" and %d more", len(fs)-3)
}
