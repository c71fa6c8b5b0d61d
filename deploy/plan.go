package deploy

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/prepare"
	"github.com/jouncebot/jouncebot/deploy/step"
)

// Plan implements Service: the steps and git commands a deploy of the
// changes would run, and how to revert them, without doing anything.
func (a *changes) Plan(ctx context.Context, specs []string) (bot.Text, error) {
	cs, err := a.resolver().Resolve(ctx, specs, false)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Deploying %s would:\n", step.ChangeList(cs))
	n := 0
	line := func(format string, args ...any) {
		n++
		fmt.Fprintf(&b, "%d. %s\n", n, fmt.Sprintf(format, args...))
	}
	for _, c := range cs {
		if c.Merged {
			line("skip the vote on %d %q (already merged)", c.Number, c.Subject)
			continue
		}
		line("vote Code-Review +2 on %d patchset %d %q (%s %s) as %s", c.Number, c.PatchSet, c.Subject, c.Project, c.Branch, a.gerrit.Username())
	}
	var open []string
	for _, c := range cs {
		if !c.Merged {
			open = append(open, fmt.Sprint(c.Number))
		}
	}
	if len(open) > 0 {
		line("wait up to %s for the gate to merge %s, asking Gerrit every %s", step.Dur(a.o.MergeTimeout), bot.JoinNames(open), step.Dur(a.o.PollInterval))
	}
	for _, r := range prepare.ReposOf(cs) {
		dir := filepath.Join(a.o.StagingDir, r.Dir)
		var ids []string
		for _, c := range cs {
			if c.Repo == r.Dir {
				ids = append(ids, c.ChangeID)
			}
		}
		line("git -C %s fetch origin %s", dir, r.Branch)
		line("git -C %s log HEAD..origin/%s  (must hold only Change-Id %s)", dir, r.Branch, strings.Join(ids, ", "))
		line("git -C %s rebase origin/%s  (keeps the local security patches on top)", dir, r.Branch)
		for _, c := range cs {
			if c.Repo == r.Dir && c.Kind == KindSubmodule {
				line("git -C %s submodule update --init -- %s", dir, c.Submodule)
			}
		}
		line("git -C %s status --porcelain  (must be empty)", dir)
	}
	if len(a.o.Stages) > 0 {
		names := make([]string, len(a.o.Stages))
		for i, s := range a.o.Stages {
			names[i] = stagePlan(s)
		}
		line("then: %s (unless --prepare-only)", strings.Join(names, ", "))
	}
	for _, c := range cs {
		if c.Private && len(c.Maintenance) > 0 {
			// What a security fix repairs: named only in Gerrit.
			line("after the production sync, %d asks for %s named privately (in Gerrit; start it with `maint %d`)", c.Number, bot.Count(len(c.Maintenance), "maintenance script"), c.Number)
			continue
		}
		for _, m := range c.Maintenance {
			line("after the production sync, %d asks for the maintenance script %s (start it with `maint %d`)", c.Number, m, c.Number)
		}
	}
	b.WriteString("To revert:\n")
	for i := len(cs) - 1; i >= 0; i-- {
		c := cs[i]
		where := filepath.Join(a.o.StagingDir, c.Repo)
		if c.Kind == KindSubmodule {
			where = filepath.Join(where, c.Submodule)
		}
		commit := fmt.Sprintf("<commit of %d once merged; now %s>", c.Number, step.Short(c.Revision))
		if c.Merged {
			commit = step.Short(c.Revision)
		}
		fmt.Fprintf(&b, "- git -C %s revert --no-edit %s\n", where, commit)
		target := c.Branch
		if c.Private {
			target += "%private" // the revert's subject quotes the private change's
		}
		fmt.Fprintf(&b, "  git -C %s push origin HEAD:refs/for/%s  (then deploy the revert change)\n", where, target)
	}
	b.WriteString("In an emergency, revert locally and sync first, then push to Gerrit: `revert <change>` does that.")
	return bot.T(b.String()), nil
}

// Summary implements Service: the Server Admin Log summary of the changes,
// "Backport for [[gerrit:N|subject (T123)]], …".
func (a *changes) Summary(ctx context.Context, specs []string) (string, error) {
	cs, err := a.resolver().Resolve(ctx, specs, false)
	if err != nil {
		return "", err
	}
	return SummaryText(cs), nil
}

// SummaryText is the SAL summary of changes, as scap writes it.
func SummaryText(cs []Change) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		subject := strings.NewReplacer("[", "(", "]", ")", "|", "/").Replace(c.Subject)
		if len(c.Bugs) > 0 {
			subject += " (" + strings.Join(c.Bugs, " ") + ")"
		}
		parts[i] = fmt.Sprintf("[[gerrit:%d|%s]]", c.Number, subject)
	}
	return "Backport for " + strings.Join(parts, ", ")
}

// stagePlan describes a stage for the plan: "testservers (1 host, then
// wait for \"tested ok\")".
func stagePlan(s Stage) string {
	ss, ok := s.(*SyncStage)
	if !ok {
		return s.Name()
	}
	var what []string
	if ss.Kube {
		what = append(what, "roll out to "+ss.Targets)
	} else if hs, err := ss.Hosts(); err == nil {
		what = append(what, "sync "+bot.Count(len(hs.Hosts), "host"))
	}
	if n := len(ss.Checks); n > 0 {
		what = append(what, bot.Count(n, "check"))
	}
	if ss.WaitForTest {
		what = append(what, `then wait for "tested ok"`)
	}
	if len(what) == 0 {
		return ss.StageName
	}
	return ss.StageName + " (" + strings.Join(what, ", ") + ")"
}
