package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/release"
)

// BenchmarkDeployOverhead measures the time the bot itself adds to a
// config deploy: wall time from Start to "prepared" minus the gate's merge
// delay. It covers resolving the change, the +2, the polling, the fetch,
// the upstream check, the rebase and the verification, against the fake
// Gerrit over real git. The poll interval is 10ms here; in production the
// 5s default adds on average half an interval more after the merge.
func BenchmarkDeployOverhead(b *testing.B) {
	for _, bc := range []struct{ name, project, branch string }{
		{"config", gerrittest.ConfigProject, gerrittest.ConfigBranch},
		{"core", gerrittest.CoreProject, gerrittest.CoreBranch},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const gateDelay = 100 * time.Millisecond
			e := newEnv(b, func(o *deploy.Options) { o.PollInterval = 10 * time.Millisecond })
			e.sb.SetGate(gerrittest.Gate{Delay: gateDelay})
			var total time.Duration
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				n, err := e.sb.Upload(gerrittest.Upload{Project: bc.project, Branch: bc.branch, Owner: "bob",
					Subject: fmt.Sprintf("Benchmark change %d", i),
					Files:   []gerrittest.File{{Path: fmt.Sprintf("bench/%d.php", i), Content: "<?php\n"}}})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				e.deploy(alice, n)
				e.waitFor(deploy.EventPrepared)
				total += time.Since(start)
			}
			b.ReportMetric(float64((total-time.Duration(b.N)*gateDelay).Milliseconds())/float64(b.N), "bot-ms/op")
		})
	}
}

// noopSync is a sync method that does nothing, to measure what the engine
// adds per host: recording each result in bbolt as it comes, progress.
type noopSync struct{}

func (noopSync) Sync(context.Context, hostsync.Host, string, []string) error { return nil }

// BenchmarkSyncStageOverhead measures the engine's own cost of a sync
// stage whose sync costs nothing, at 100, 1,000 and 5,000 hosts: the
// release marker calls, each host's sync as a workflow effect (the
// intents of all the stage's hosts committed in one write before they
// start, each host's result after it, not waited for; both written by
// the group-committing deliver.Recorder; whether the deploy was aborted, asked
// before each host) and the stage's bookkeeping. It reports
// microseconds per host, which should not grow with the number of hosts.
func BenchmarkSyncStageOverhead(b *testing.B) {
	for _, hosts := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("hosts=%d", hosts), func(b *testing.B) { benchStage(b, hosts) })
	}
}

func benchStage(b *testing.B, hosts int) {
	var hs []hostsync.Host
	for i := range hosts {
		hs = append(hs, hostsync.Host{Name: fmt.Sprintf("mw%04d", i), Dest: "unused"})
	}
	stage := &deploy.SyncStage{StageName: "production", Hosts: func() (*hostsync.Stage, error) {
		return &hostsync.Stage{Name: "production", Hosts: hs, Method: noopSync{}, Concurrency: 80, MaxFailed: hosts}, nil
	}}
	releases := b.TempDir()
	e := newEnv(b, func(o *deploy.Options) {
		o.PollInterval = 10 * time.Millisecond
		o.Stages = []deploy.Stage{stage}
		o.Releases = &release.Store{Dir: releases}
	})
	e.sb.SetGate(gerrittest.Gate{Delay: time.Millisecond})
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		n, err := e.sb.Upload(gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: gerrittest.ConfigBranch, Owner: "bob",
			Subject: fmt.Sprintf("Benchmark change %d", i),
			Files:   []gerrittest.File{{Path: fmt.Sprintf("bench/%d.php", i), Content: "<?php\n"}}})
		if err != nil {
			b.Fatal(err)
		}
		e.deploy(alice, n)
		var start time.Time
		for {
			ev := e.waitFor(deploy.EventProgress)
			if strings.HasPrefix(ev.Text.String(), "Syncing ") {
				start = ev.Time
				break
			}
		}
		b.StartTimer()
		for {
			ev := e.waitFor(deploy.EventProgress)
			if strings.HasPrefix(ev.Text.String(), "production: synced") {
				total += ev.Time.Sub(start)
				break
			}
		}
		b.StopTimer()
		e.waitFor(deploy.EventDone)
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N*hosts), "µs/host")
}
