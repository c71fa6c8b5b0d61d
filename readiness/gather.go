package readiness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/prepare"
)

// Gerrit is what the check reads from Gerrit; *gerrit.Client is one.
type Gerrit interface {
	Change(ctx context.Context, n int) (*gerrit.Change, error)
	Query(ctx context.Context, q string) ([]*gerrit.Change, error)
	RelatedChanges(ctx context.Context, n int) ([]gerrit.Related, error)
}

// Git runs a git command in a directory; *git.Runner is one.
type Git interface {
	Run(ctx context.Context, dir string, args ...string) (string, error)
}

// Presence tells whether a person is where deploys happen: present is nil
// when nobody can tell; room names where the bot looked.
type Presence interface {
	Present(ctx context.Context, owner string) (present *bool, room string)
}

// Gatherer collects the facts for a check without changing anything:
// Gerrit is only read, the staging checkout only with read-only git
// commands, and the dry merges happen in throwaway repositories under
// TempDir that borrow staging's objects.
type Gatherer struct {
	Gerrit Gerrit
	Git    Git
	// Staging is the staging checkout of the config repository, holding
	// the php-<version> checkouts of core.
	Staging string
	// GitURL is the fetch URL of a Gerrit project (default: the origin
	// remote of the staging directory the change applies to).
	GitURL func(project string) string
	// ConfigProject, ConfigBranch and CoreProject name the deployed
	// repositories (defaults operations/mediawiki-config, master,
	// mediawiki/core).
	ConfigProject, ConfigBranch, CoreProject string
	// Owner maps a Gerrit user name to a person's name ("" when unknown).
	Owner func(gerritUser string) string
	// Presence, when set, tells whether owners are around.
	Presence Presence
	// TempDir holds the throwaway repositories (default os.TempDir()).
	TempDir string
	// GitTimeout bounds each git command (default 60 s), GerritTimeout
	// each Gerrit call (default 30 s): a stalled fetch ends there and the
	// check says so.
	GitTimeout, GerritTimeout time.Duration
	Log                       *slog.Logger
}

// Default bounds of one call.
const (
	DefaultGitTimeout    = 60 * time.Second
	DefaultGerritTimeout = 30 * time.Second
)

// TimeoutError is a git command or Gerrit call that did not finish in
// time; Doing says what the check was doing ("fetching 445113 from
// mediawiki/core").
type TimeoutError struct {
	After time.Duration
	Doing string
	Err   error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("readiness: timed out after %s %s: %v", e.After, e.Doing, e.Err)
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// progress is what a check is doing now, for the timeout report.
type progress struct {
	limit time.Duration // the whole check's bound
	mu    sync.Mutex
	doing string
}

// withProgress starts recording what the check of ctx does; limit is the
// check's overall bound.
func withProgress(ctx context.Context, limit time.Duration) context.Context {
	return context.WithValue(ctx, progressKey{}, &progress{limit: limit})
}

func checkLimit(ctx context.Context) time.Duration {
	if p, ok := ctx.Value(progressKey{}).(*progress); ok {
		return p.limit
	}
	return 0
}

// timedOut is the sentence for a change whose check ran out of time.
func timedOut(change int, err error) string {
	var te *TimeoutError
	if !errors.As(err, &te) {
		return ""
	}
	s := fmt.Sprintf("the check of %d timed out after %s", change, Seconds(te.After))
	if te.Doing != "" {
		s += " " + te.Doing
	}
	return s
}

// Seconds writes a bound for people: "60 s", "2 min".
func Seconds(d time.Duration) string {
	if d >= 2*time.Minute && d%time.Minute == 0 {
		return fmt.Sprintf("%d min", int(d/time.Minute))
	}
	return fmt.Sprintf("%d s", int((d+time.Second/2)/time.Second))
}

type progressKey struct{}

// step records what the check of ctx does next.
func (g *Gatherer) step(ctx context.Context, doing string) {
	if p, ok := ctx.Value(progressKey{}).(*progress); ok {
		p.mu.Lock()
		p.doing = doing
		p.mu.Unlock()
	}
}

// doing says what the check of ctx was doing.
func doing(ctx context.Context) string {
	if p, ok := ctx.Value(progressKey{}).(*progress); ok {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.doing
	}
	return ""
}

// git runs one git command, bounded by GitTimeout.
func (g *Gatherer) git(ctx context.Context, dir string, args ...string) (string, error) {
	d := nonZero(g.GitTimeout, DefaultGitTimeout)
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	out, err := g.Git.Run(cctx, dir, args...)
	if err != nil && cctx.Err() != nil {
		return "", g.timeout(ctx, d, err)
	}
	return out, err
}

// timeout turns the error of a call whose context ended into a
// TimeoutError: after the call's own bound d, or the whole check's.
func (g *Gatherer) timeout(ctx context.Context, d time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err() // cancelled, not late
	}
	if l := checkLimit(ctx); ctx.Err() != nil && l > 0 {
		d = l // the whole check's deadline, not the call's
	}
	return &TimeoutError{After: d, Doing: doing(ctx), Err: err}
}

// gerrit bounds one Gerrit call by GerritTimeout.
func gerritCall[T any](ctx context.Context, g *Gatherer, doingWhat string, f func(context.Context) (T, error)) (T, error) {
	g.step(ctx, doingWhat)
	d := nonZero(g.GerritTimeout, DefaultGerritTimeout)
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := f(cctx)
	if err != nil && cctx.Err() != nil {
		return v, g.timeout(ctx, d, err)
	}
	return v, err
}

func nonZero(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (g *Gatherer) defaults() {
	if g.ConfigProject == "" {
		g.ConfigProject = "operations/mediawiki-config"
	}
	if g.ConfigBranch == "" {
		g.ConfigBranch = "master"
	}
	if g.CoreProject == "" {
		g.CoreProject = "mediawiki/core"
	}
	if g.Log == nil {
		g.Log = slog.New(slog.DiscardHandler)
	}
}

// LiveVersions lists the MediaWiki versions live in a staging checkout:
// its php-<version> directories, sorted.
func LiveVersions(staging string) ([]string, error) {
	ents, err := os.ReadDir(staging)
	if err != nil {
		return nil, fmt.Errorf("readiness: list staging: %w", err)
	}
	var out []string
	for _, e := range ents {
		if v, ok := strings.CutPrefix(e.Name(), "php-"); ok && e.IsDir() {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Gather collects the facts about the patches, in queue order.
func (g *Gatherer) Gather(ctx context.Context, patches []calendar.Patch) (map[int]Facts, error) {
	g.defaults()
	live, err := LiveVersions(g.Staging)
	if err != nil {
		return nil, err
	}
	facts := map[int]Facts{}
	var merges []mergeJob
	for _, p := range patches {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The check's deadline passed: the rest are not looked at.
			facts[p.Change] = Facts{Owner: p.Owner, Timeout: timedOut(p.Change,
				&TimeoutError{After: checkLimit(ctx), Doing: "before it got to it", Err: ctx.Err()})}
			continue
		}
		f := g.gatherOne(ctx, p, live)
		facts[p.Change] = f
		if f.Change != nil && f.NotDeployable == "" && f.Change.Status != "ABANDONED" {
			merges = append(merges, mergeJob{change: p.Change, ch: f.Change, dir: g.repoDir(f)})
		}
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil, ctx.Err()
	}
	results := g.dryMerges(ctx, merges)
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil, ctx.Err() // nobody waits for the result
	}
	for n, r := range results {
		f := facts[n]
		f.Merge, f.Files = r.merge, r.files
		facts[n] = f
	}
	return facts, nil
}

// repoDir is the staging directory a change applies to.
func (g *Gatherer) repoDir(f Facts) string {
	dir := filepath.Join(g.Staging, f.Repo)
	if f.Change.Project != g.CoreProject && f.Repo != "" {
		if sub, ok := prepare.SubmodulePath(filepath.Join(g.Staging, f.Repo), f.Change.Project); ok {
			dir = filepath.Join(dir, sub)
		}
	}
	return dir
}

func (g *Gatherer) gatherOne(ctx context.Context, p calendar.Patch, live []string) Facts {
	var f Facts
	ch, err := gerritCall(ctx, g, fmt.Sprintf("reading %d from Gerrit", p.Change), func(ctx context.Context) (*gerrit.Change, error) {
		return g.Gerrit.Change(ctx, p.Change)
	})
	if err != nil {
		g.Log.Warn("readiness: read change", "change", p.Change, "err", err)
		f.Err = "Gerrit could not tell me about it"
		if gerrit.IsNotFound(err) {
			f.Err = "Gerrit has no such change"
		}
		f.Timeout = timedOut(p.Change, err)
		f.Owner = p.Owner
		return f
	}
	f.Change = ch
	f.Owner = p.Owner
	if f.Owner == "" && g.Owner != nil {
		f.Owner = g.Owner(ch.Owner.Username)
	}
	if f.Owner == "" {
		f.Owner = ch.Owner.Username
	}
	if g.Presence != nil && f.Owner != "" {
		pctx, cancel := context.WithTimeout(ctx, nonZero(g.GerritTimeout, DefaultGerritTimeout))
		f.Present, f.Room = g.Presence.Present(pctx, f.Owner)
		cancel()
	}
	if ch.Status == "ABANDONED" {
		return f
	}
	f.Repo, f.Kind, f.NotDeployable = g.classify(ch, live)
	if f.NotDeployable == "" && f.Repo != "" && len(live) > 1 {
		f.Missing = g.missing(ctx, ch, live)
	}
	f.Deps = g.deps(ctx, ch)
	return f
}

// classify finds the staging directory of a change and what it deploys
// as, or says why it is not deployable.
func (g *Gatherer) classify(ch *gerrit.Change, live []string) (repo, kind, why string) {
	version, wmf := strings.CutPrefix(ch.Branch, "wmf/")
	ext := strings.HasPrefix(ch.Project, "mediawiki/extensions/") || strings.HasPrefix(ch.Project, "mediawiki/skins/")
	switch {
	case ch.Project == g.ConfigProject && ch.Branch == g.ConfigBranch:
		return "", "config", ""
	case (ch.Project == g.CoreProject || ext) && wmf:
		if !slices.Contains(live, version) {
			return "", "", fmt.Sprintf("it is for %s, which is not live (live: %s)", ch.Branch, liveList(live))
		}
		repo, kind = "php-"+version, "core"
		if ext {
			kind = "submodule"
			if _, ok := prepare.SubmodulePath(filepath.Join(g.Staging, repo), ch.Project); !ok {
				return "", "", fmt.Sprintf("%s is not a submodule of %s", ch.Project, repo)
			}
		}
		return repo, kind, ""
	}
	return "", "", fmt.Sprintf("%s on %s is not deployed (only %s on %s, and %s and its extensions and skins on a live wmf/ branch)",
		ch.Project, ch.Branch, g.ConfigProject, g.ConfigBranch, g.CoreProject)
}

func liveList(live []string) string {
	if len(live) == 0 {
		return "none"
	}
	out := make([]string, len(live))
	for i, v := range live {
		out[i] = "wmf/" + v
	}
	return strings.Join(out, ", ")
}

// missing lists the other live branches with no change of the same
// Change-Id in the same project.
func (g *Gatherer) missing(ctx context.Context, ch *gerrit.Change, live []string) []string {
	same, err := gerritCall(ctx, g, fmt.Sprintf("looking for cherry-picks of %d in Gerrit", ch.Number), func(ctx context.Context) ([]*gerrit.Change, error) {
		return g.Gerrit.Query(ctx, "change:"+ch.ChangeID)
	})
	if err != nil {
		g.Log.Warn("readiness: query cherry-picks", "change", ch.Number, "err", err)
		return nil
	}
	have := map[string]bool{}
	for _, c := range same {
		if c.Project == ch.Project && c.Status != "ABANDONED" {
			have[c.Branch] = true
		}
	}
	var out []string
	for _, v := range live {
		if b := "wmf/" + v; !have[b] && b != ch.Branch {
			out = append(out, b)
		}
	}
	return out
}

// deps finds the change's dependencies: its Depends-On footers and the
// ancestors in its relation chain.
func (g *Gatherer) deps(ctx context.Context, ch *gerrit.Change) []Dep {
	var out []Dep
	seen := map[int]bool{ch.Number: true}
	for _, id := range ch.DependsOn {
		cs, err := gerritCall(ctx, g, fmt.Sprintf("reading the dependencies of %d from Gerrit", ch.Number), func(ctx context.Context) ([]*gerrit.Change, error) {
			return g.Gerrit.Query(ctx, "change:"+id)
		})
		if err != nil || len(cs) == 0 {
			g.Log.Warn("readiness: read Depends-On", "change", ch.Number, "id", id, "err", err)
			continue
		}
		d := cs[0]
		for _, c := range cs {
			if c.Merged() || (c.Branch == ch.Branch && !d.Merged()) {
				d = c
			}
		}
		if !seen[d.Number] {
			seen[d.Number] = true
			out = append(out, Dep{Change: d.Number, Merged: d.Merged(), Why: "Depends-On"})
		}
	}
	if ch.Merged() {
		return out
	}
	chain, err := gerritCall(ctx, g, fmt.Sprintf("reading the relation chain of %d from Gerrit", ch.Number), func(ctx context.Context) ([]gerrit.Related, error) {
		return g.Gerrit.RelatedChanges(ctx, ch.Number)
	})
	if err != nil {
		g.Log.Warn("readiness: read relation chain", "change", ch.Number, "err", err)
		return out
	}
	self := slices.IndexFunc(chain, func(r gerrit.Related) bool { return r.Number == ch.Number })
	if self < 0 {
		return out
	}
	for _, c := range chain[self+1:] { // the ancestors, newest first
		if !seen[c.Number] && c.Status != "ABANDONED" {
			seen[c.Number] = true
			out = append(out, Dep{Change: c.Number, Merged: c.Status == "MERGED", Why: "relation chain"})
		}
	}
	return out
}
