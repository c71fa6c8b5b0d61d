package app

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/web"
)

// statusSource builds the status page from the engine, the calendar, the
// transports and the outbox. It implements web.StatusSource.
type statusSource struct {
	a   *App
	eng statusEngine
	now func() time.Time

	mu       sync.Mutex
	sizes    []deploy.StageSize // host counts of the sync stages, read once per deploy
	sizeOf   deploy.ID
	finished map[deploy.ID]*deploy.Summary // finished deploys, which no longer change
}

// deploys adds the current deploy and the last ones.
func (s *statusSource) deploys(ctx context.Context, p *web.StatusPage) {
	st, err := s.eng.Status(ctx)
	if err != nil {
		p.Problems = append(p.Problems, "The deploy lock could not be read.")
	} else if st.Deploy != nil {
		// The full record has the per-host results.
		if d, err := s.eng.Record(st.Deploy.ID); err == nil {
			st.Deploy = d
		} else {
			p.Problems = append(p.Problems, "The hosts of the current deploy could not be read.")
		}
		p.Deploy = s.deployView(st, time.Now())
	}
	rl, ok := s.eng.(recentLister)
	if !ok {
		return
	}
	recent, err := rl.Recent(recentDeploys+1, s.known)
	if err != nil {
		p.Problems = append(p.Problems, "The last deploys could not be read.")
	}
	s.remember(recent)
	for _, d := range recent {
		if p.Deploy != nil && d.ID == st.Deploy.ID {
			continue
		}
		r := web.RecentDeploy{ID: string(d.ID), By: d.By.Name, Outcome: outcomeOf(d), Changes: changeNumbers(d.Changes), Started: d.Created}
		if !d.Finished.IsZero() {
			r.Duration = d.Finished.Sub(d.Created)
		}
		p.Recent = append(p.Recent, r)
	}
	p.Recent = p.Recent[:min(len(p.Recent), recentDeploys)]
}

// statusEngine is what the page reads from the deploy engine (a local
// *deploy.Engine or a deploy agent's client). A local engine also lists the
// last deploys (recentLister) and its stages' sizes (stageSizer).
type statusEngine interface {
	Status(ctx context.Context) (deploy.Status, error)
	Record(id deploy.ID) (*deploy.Deploy, error)
}

type recentLister interface {
	Recent(n int, known func(deploy.ID) (*deploy.Summary, bool)) ([]*deploy.Summary, error)
}

type stageSizer interface {
	SyncStageSizes() ([]deploy.StageSize, error)
}

// recentDeploys is how many finished deploys the page lists.
const recentDeploys = 8

// maxFailures is how many failed hosts a stage lists by name.
const maxFailures = 10

// StatusPage implements web.StatusSource.
func (s *statusSource) StatusPage(ctx context.Context) (*web.StatusPage, error) {
	a := s.a
	now := s.now()
	p := &web.StatusPage{Now: now}
	if s.eng != nil {
		s.deploys(ctx, p)
	} else {
		p.Problems = append(p.Problems, "Deploys are off: no deploy engine is configured.")
	}
	s.windows(p, now)
	for _, tr := range a.bot.Transports() {
		cs := connState(tr)
		n := web.NetworkView{Name: tr.Network(), Connected: cs.Connected, Status: "connected"}
		if st, ok := tr.(bot.Status); ok && st.Status() != "" {
			n.Status = st.Status()
		}
		p.Networks = append(p.Networks, n)
	}
	if a.agent != nil {
		p.Networks = append(p.Networks, agentView(a.agent))
	}
	for _, b := range a.sal.Backlogs() {
		p.Outboxes = append(p.Outboxes, web.OutboxView{Route: b.Route, Description: b.Description, Pending: b.Pending, Oldest: b.Oldest})
	}
	return p, nil
}

// known returns a finished deploy's summary read before, and keeps the
// summaries of finished deploys it is asked about later.
func (s *statusSource) known(id deploy.ID) (*deploy.Summary, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.finished[id]
	return d, ok
}

// remember keeps the summaries of finished deploys, dropping ones no
// longer listed.
func (s *statusSource) remember(ds []*deploy.Summary) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := map[deploy.ID]*deploy.Summary{}
	for _, d := range ds {
		if d.State == "done" || d.State == "failed" || d.State == "aborted" {
			keep[d.ID] = d
		}
	}
	s.finished = keep
}

func outcomeOf(d *deploy.Summary) string {
	switch {
	case d.RolledBack:
		return "rolled back"
	case d.State == "done" && d.Reverted:
		return "reverted"
	case d.State == "done" && d.PrepareOnly:
		return "prepared"
	}
	return d.State
}

func changeNumbers(cs []deploy.Change) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = fmt.Sprint(c.Number)
	}
	return strings.Join(s, ", ")
}

// stageSizes returns the sync stages' host counts, read once per deploy.
func (s *statusSource) stageSizes(id deploy.ID) []deploy.StageSize {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sizeOf != id || s.sizes == nil {
		var sizes []deploy.StageSize
		var err error
		if sz, ok := s.eng.(stageSizer); ok {
			sizes, err = sz.SyncStageSizes()
		}
		if err != nil {
			s.a.log.Warn("status page: read the stages' hosts", "err", err)
		}
		s.sizes, s.sizeOf = sizes, id
	}
	return s.sizes
}

func (s *statusSource) deployView(st deploy.Status, now time.Time) *web.DeployView {
	d := st.Deploy
	v := &web.DeployView{ID: string(d.ID), By: d.By.Name, Reason: d.Reason, State: d.State, Stage: d.Stage,
		Started: d.Created, Elapsed: now.Sub(d.Created)}
	if v.Reason == "" && st.Lock != nil {
		v.Reason = st.Lock.Reason
	}
	if st.Lock != nil {
		v.Lock = fmt.Sprintf("held by %s since %s UTC.", st.Lock.Holder, st.Lock.Since.UTC().Format("15:04"))
	}
	for _, c := range d.Changes {
		cv := web.ChangeView{Number: c.Number, Subject: c.Subject}
		if s.a.gerrit != nil {
			cv.URL = s.a.gerrit.ChangeURL(c.Number)
		}
		v.Changes = append(v.Changes, cv)
	}
	if n := len(d.History); n > 0 {
		v.Last, _, _ = strings.Cut(d.History[n-1].Text, "\n")
	}
	switch d.State {
	case "paused":
		v.Doing = "Waiting for continue or abort."
	case "approval":
		v.Doing = "Waiting for a second deployer's approve."
	}
	sizes := slices.Clone(s.stageSizes(d.ID))
	if len(sizes) == 0 && d.Sync != nil { // an engine that cannot say: the stages begun so far
		for name := range d.Sync.Stages {
			sizes = append(sizes, deploy.StageSize{Name: name})
		}
		sort.Slice(sizes, func(i, j int) bool {
			return d.Sync.Stages[sizes[i].Name].Started.Before(d.Sync.Stages[sizes[j].Name].Started)
		})
	}
	for _, size := range sizes {
		sv := web.StageView{Name: size.Name, Total: size.Hosts, Current: size.Name == d.Stage}
		var rec *deploy.StageRecord
		if d.Sync != nil {
			rec = d.Sync.Stages[size.Name]
		}
		if rec != nil {
			stageView(&sv, rec, v)
		}
		v.Stages = append(v.Stages, sv)
	}
	return v
}

// stageView fills in a stage's host counts, failures, checks and gate.
func stageView(sv *web.StageView, rec *deploy.StageRecord, v *web.DeployView) {
	var failed []string
	for host, h := range rec.Hosts {
		if h.Err != "" {
			sv.Failed++
			failed = append(failed, host+": "+h.Err)
			continue
		}
		sv.Synced++
	}
	sort.Strings(failed)
	sv.Failures = failed[:min(len(failed), maxFailures)]
	if len(failed) > maxFailures {
		sv.Failures = append(sv.Failures, fmt.Sprintf("and %d more", len(failed)-maxFailures))
	}
	sv.Total = max(sv.Total, len(rec.Hosts))
	if c := rec.Checks; c != nil {
		switch {
		case len(c.Failed) > 0 && c.Decision == "":
			sv.Checks = "failed: " + strings.Join(c.Failed, "; ")
			v.Doing = fmt.Sprintf("The checks of %s failed; waiting for retry, rollback or continue.", sv.Name)
		case len(c.Failed) > 0:
			sv.Checks = fmt.Sprintf("failed; %s chose %s", c.By, c.Decision)
		case !c.Passed.IsZero():
			sv.Checks = "passed"
		}
	}
	if g := rec.Gate; g != nil && !g.Asked.IsZero() {
		var oks []string
		for _, ans := range g.Answers {
			if ans.OK {
				oks = append(oks, ans.Who)
			}
		}
		switch {
		case !g.Passed.IsZero():
			sv.Gate = "tested ok by " + strings.Join(oks, ", ")
		case !g.TimedOut.IsZero():
			sv.Gate = "no answer in time"
		default:
			sv.Gate = "waiting for \"tested ok\""
			if len(oks) > 0 {
				sv.Gate += "; ok from " + strings.Join(oks, ", ")
			}
			v.Doing = fmt.Sprintf("Synced to %s; waiting for \"tested ok\" or \"tested fail\".", sv.Name)
		}
	}
}

// windows adds today's and tomorrow's windows (UTC days), with claims and
// queues, and the freezes in force or coming within those days.
func (s *statusSource) windows(p *web.StatusPage, now time.Time) {
	a := s.a
	day := now.UTC().Truncate(24 * time.Hour)
	end := day.Add(48 * time.Hour)
	claims, err := a.calendar.Book().Claims()
	if err != nil {
		p.Problems = append(p.Problems, "The window claims could not be read.")
	}
	for _, w := range a.calendar.Calendar().Between(day, end) {
		if !w.Start.Before(end) || w.End.Before(day) {
			continue
		}
		wv := web.WindowView{Day: "Today", Name: w.Name, URL: w.URL, Start: w.Start, End: w.End,
			Open: !now.Before(w.Start) && now.Before(w.End), Ended: !now.Before(w.End), Deployers: slices.Clone(w.Deployers)}
		if !w.Start.Before(day.Add(24 * time.Hour)) {
			wv.Day = "Tomorrow"
		}
		if c, ok := claims[w.ID]; ok {
			wv.Claimed = c.Person
		}
		if a.ready != nil && a.ready.Checker != nil && a.ready.Checker.Store != nil {
			if res, ok, err := a.ready.Checker.Store.Load(w.ID); err == nil && ok {
				ready, blocked := res.Count()
				wv.Readiness = fmt.Sprintf("%d ready, %d blocked, checked %s UTC", ready, blocked, res.CheckedAt.UTC().Format("15:04"))
				wv.ReadinessID = w.ID
			}
		}
		q, err := a.calendar.Book().Queue(w.ID)
		if err != nil {
			p.Problems = append(p.Problems, "A window's queue could not be read.")
		}
		for _, pt := range q {
			line := fmt.Sprintf("%d by %s", pt.Change, pt.Owner)
			if pt.Title != "" {
				line += ": " + pt.Title
			}
			switch {
			case pt.RolledBack:
				line += " — rolled back"
			case pt.Deployed:
				line += " — deployed"
			}
			wv.Queue = append(wv.Queue, line)
		}
		p.Windows = append(p.Windows, wv)
	}
	for _, f := range a.calendar.Freezes() {
		if f.To.After(now) && f.From.Before(end) {
			p.Freezes = append(p.Freezes, fmt.Sprintf("Deploys frozen from %s to %s UTC: %s", f.From.UTC().Format("2006-01-02 15:04"), f.To.UTC().Format("2006-01-02 15:04"), f.Reason))
		}
	}
}
