package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/purge"
	"github.com/jouncebot/jouncebot/deploy/sallines"
	"github.com/jouncebot/jouncebot/deploy/workflow"
)

// syncDoneStage ends the sync stages: CDN purge of changed static files
// and the closing SAL lines.
type syncDoneStage struct{}

func (syncDoneStage) Name() string { return "finish-sync" }

// Effects implements effector.
func (syncDoneStage) Effects(o *Options) []string {
	ks := []string{salSynchronized, salFinishSync}
	if o.Purger == nil {
		return ks
	}
	return append([]string{effectPurge}, ks...)
}

func (syncDoneStage) Exec(ctx context.Context, j *Job) error {
	e := j.e
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	if d.Sync == nil {
		return nil
	}
	if d.Sync.SALEnd.IsZero() {
		// Before calling the deploy finished after a restart, check
		// what the hosts hold.
		if err := checkStages(ctx, j, ""); err != nil {
			return err
		}
		if err := clusterTruth(ctx, j); err != nil {
			return err
		}
	}
	if e.o.Purger != nil {
		if urls := e.o.Purger.URLs(d.Sync.Files); len(urls) > 0 {
			var rep *purge.Report
			made, err := j.Do(ctx, workflow.Effect{Key: effectPurge,
				// A purge begun before a restart is made again (at least
				// once): purging twice costs the CDN a little, a purge
				// lost leaves stale files served with nobody told.
				Do: func(ctx context.Context) error { rep = e.o.Purger.Purge(ctx, d.Sync.Files); return nil }})
			if err != nil {
				return err
			}
			if made {
				j.Say(ctx, EventProgress, bot.T(rep.Summary()))
			}
		}
	}
	if !d.Sync.SALEnd.IsZero() {
		return nil
	}
	took := time.Since(d.Sync.Started)
	sum := salSummary(d)
	if hosts := unsyncedHosts(d); len(hosts) > 0 {
		sum += "; not synced: " + hostList(hosts)
	}
	// Each line at least once (no Check): a restart around it writes it
	// again rather than never.
	if n := len(d.Sync.Files); n > 0 && n <= e.releaser.fileLimit() {
		if _, err := j.Do(ctx, workflow.Effect{Key: salSynchronized, Do: func(ctx context.Context) error {
			e.releaser.salLog(ctx, d, sallines.Synchronized(d.Sync.Files, sum, took))
			return nil
		}}); err != nil {
			return err
		}
	}
	made, err := j.Do(ctx, workflow.Effect{Key: salFinishSync, Do: func(ctx context.Context) error {
		e.releaser.salLog(ctx, d, sallines.FinishedSync(sum, took))
		return nil
	}})
	if err != nil || !made {
		return err
	}
	j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("Finished sync: %s (duration: %s).", sum, sallines.Duration(took))))
	return nil
}

func (a *releaser) fileLimit() int {
	if a.o.FileSyncLimit > 0 {
		return a.o.FileSyncLimit
	}
	return 100
}
