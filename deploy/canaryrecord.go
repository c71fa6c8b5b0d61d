package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/jouncebot/jouncebot/deploy/canary"
	"github.com/jouncebot/jouncebot/deploy/check"
	"github.com/jouncebot/jouncebot/deploy/deliver"
	"github.com/jouncebot/jouncebot/deploy/record"
	"github.com/jouncebot/jouncebot/deploy/sallines"
	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// A canary analysis keeps every host's samples, for its report page:
// too much to rewrite with the deploy record at each step, so each
// analysis has its own key in bucket deploy.canary.

// StageAnalysis is one canary analysis of a deploy's stage.
type StageAnalysis struct {
	Stage    string
	Check    string
	Analysis *canary.Analysis
}

// CanaryReports is what an engine offers when it keeps canary analyses
// (the in-process engine does; the status page and the report page find
// it by type assertion).
type CanaryReports interface {
	CanaryAnalyses(id ID) ([]StageAnalysis, error)
}

var _ CanaryReports = (*Engine)(nil)

// canaryRecords keeps the canary analyses of each deploy for the report
// pages, and knows the pages' address (Options.CanaryURL) for chat and
// the SAL.
type canaryRecords struct {
	records
	o *Options // the engine's
}

func canaryKey(id ID, stage, check string) []byte {
	return []byte(string(record.Key(id)) + "\x00" + stage + "\x00" + check)
}

func (r *canaryRecords) saveAnalysis(id ID, stage, checkName string, an *canary.Analysis) error {
	v, err := json.Marshal(an)
	if err != nil {
		return fmt.Errorf("encode canary analysis: %w", err)
	}
	return r.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(store.DeployCanary).Put(canaryKey(id, stage, checkName), v)
	})
}

// CanaryAnalyses returns a deploy's canary analyses, stage by stage in
// the order they ran.
func (r *canaryRecords) CanaryAnalyses(id ID) ([]StageAnalysis, error) {
	var out []StageAnalysis
	prefix := []byte(string(record.Key(id)) + "\x00")
	err := r.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(store.DeployCanary).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			stage, name, _ := bytes.Cut(k[len(prefix):], []byte{0})
			var an canary.Analysis
			if err := json.Unmarshal(v, &an); err != nil {
				return fmt.Errorf("decode canary analysis %q: %w", k, err)
			}
			an.Judge(an.Options)
			out = append(out, StageAnalysis{Stage: string(stage), Check: string(name), Analysis: &an})
		}
		return nil
	})
	stageOrder := map[string]int{}
	for i, st := range r.o.Stages {
		stageOrder[st.Name()] = i
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && stageOrder[out[j].Stage] < stageOrder[out[j-1].Stage]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, err
}

// target says which hosts a targeted check of stage s looks at: its own,
// and those of the later sync stages as the baseline — less every host
// of s and of the stages before it, which already run the new tree (a
// later stage listed from a host group often holds them all).
func (s stageChecks) target(j *Job) (check.Target, error) {
	var t check.Target
	hs, err := s.Hosts()
	if err != nil {
		return t, err
	}
	// A host whose sync failed (max_failed_hosts let the stage go on)
	// does not run the new tree: it is no canary.
	results, err := j.e.hosts.Stage(j.id, deliver.Synced, s.StageName)
	if err != nil {
		return t, err
	}
	for _, h := range hs.Hosts {
		// Nor does one whose sync only began.
		if r, ok := results[h.Name]; !ok || r.Done() {
			t.Hosts = append(t.Hosts, h.Name)
		}
	}
	synced := map[string]bool{}
	later := false
	for _, st := range j.e.o.Stages {
		ss, ok := st.(*SyncStage)
		if !ok || ss.Hosts == nil {
			continue
		}
		if ss == s.SyncStage {
			later = true
			for _, h := range hs.Hosts {
				synced[h.Name] = true
			}
			continue
		}
		lh, err := ss.Hosts()
		if err != nil {
			return t, err
		}
		for _, h := range lh.Hosts {
			switch {
			case !later:
				synced[h.Name] = true
			case !synced[h.Name]:
				synced[h.Name] = true // once, even in two later stages
				t.Later = append(t.Later, h.Name)
			}
		}
	}
	if d, err := j.Deploy(); err == nil && d.Sync != nil {
		if r := d.Sync.Stages[s.StageName]; r != nil {
			t.Started, t.Synced = r.Started, r.Synced
			if r.Retried.After(t.Synced) {
				t.Synced = r.Retried // a retry observes anew
			}
		}
	}
	return t, nil
}

// SetCanaryURL sets Options.CanaryURL. Call it before Run: the app
// knows its web address only once it listens, after the sandbox built
// the engine.
func (r *canaryRecords) SetCanaryURL(f func(id ID) string) { r.o.CanaryURL = f }

// canaryLink is " at <report page>" when the engine knows the page's
// address.
func (r *canaryRecords) canaryLink(id ID) string {
	if r.o.CanaryURL == nil {
		return ""
	}
	if u := r.o.CanaryURL(id); u != "" {
		return " and at " + u
	}
	return ""
}

// runCheck runs one check, on the stage's hosts when it needs them, and
// keeps a canary analysis for its report page.
func (s stageChecks) runCheck(ctx context.Context, j *Job, c check.Check) check.Result {
	tc, ok := c.(check.Targeted)
	if !ok {
		return c.Run(ctx)
	}
	t, err := s.target(j)
	if err != nil {
		return check.Result{Name: c.Name(), Text: fmt.Sprintf("%s failed: the hosts of %s could not be listed (%s).", c.Name(), s.StageName, err)}
	}
	r := tc.RunOn(ctx, t)
	if a := r.Analysis; a != nil {
		if err := j.e.canaryRecords.saveAnalysis(j.id, s.StageName, c.Name(), a); err != nil {
			j.e.log.Error("save canary analysis", "deploy", j.id, "stage", s.StageName, "err", err)
		}
		if d, err := j.Deploy(); err == nil {
			score, link := "", ""
			if !math.IsNaN(a.Report.Score) {
				score = fmt.Sprintf("%.0f", a.Report.Score)
			}
			if j.e.o.CanaryURL != nil {
				link = j.e.o.CanaryURL(j.id)
			}
			j.e.releaser.salLog(ctx, d, sallines.CanaryAnalysis(s.StageName, salSummary(d), string(a.Report.Verdict), score, link))
		}
	}
	return r
}
