package deploy_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
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
