package deploy

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy/canary"
	"github.com/jouncebot/jouncebot/deploy/check"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/deploy/git"
	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/release"
	"github.com/jouncebot/jouncebot/store"
)

// Sandbox is the engine running against a local fake Gerrit with a
// MediaWiki-shaped set of repositories, for trying jouncebot without
// servers (`go run .` with no configuration).
type Sandbox struct {
	*gerrittest.Sandbox
	Engine *Engine
	// Servers holds one directory per sandbox server ("" when rsync is
	// missing and nothing is synced).
	Servers string
}

// NewSandbox opens the sandbox kept in dir, building whatever of it is
// missing (see gerrittest.OpenSandbox), and an engine deploying to it: a
// restarted bot meets the same fake Gerrit, staging, releases and servers,
// as it would in production. cfg supplies the people (the sandbox's changes are
// owned by Gerrit users alice and bob) and may be nil; sal receives the
// SAL lines and may be nil. Directories under dir/servers stand in for the
// servers of three stages: testservers (1 host, waits for "tested ok"),
// canaries (2) and production (5); each starts as a copy of staging when
// it is missing. The configuration's kubernetes stages, if any, follow
// them. Run
// the engine with Engine.Run and Close the sandbox when done.
func NewSandbox(dir string, db *store.DB, n Notifier, cfg *config.Config, log *slog.Logger, sal Logger) (*Sandbox, error) {
	sb, err := gerrittest.OpenSandbox(dir)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := Options{Log: log}
	if cfg != nil {
		o, _ = FromConfig(cfg, log)
	}
	o.StagingDir = sb.Staging
	o.ConfigProject, o.ConfigBranch, o.CoreProject = gerrittest.ConfigProject, gerrittest.ConfigBranch, gerrittest.CoreProject
	o.MergeTimeout, o.PollInterval, o.ProgressEvery = 2*time.Minute, 500*time.Millisecond, 30*time.Second
	o.RequireSecondApprover = false // the console is one person
	g, err := gerrit.New(gerrit.Options{URL: sb.URL, Username: gerrittest.BotUser, Password: gerrittest.BotPassword,
		Timeout: 5 * time.Second, Log: log})
	if err != nil {
		sb.Close()
		return nil, err
	}
	// The sync settings (file limit, untracked and protected paths) are
	// the configuration's, as production wires them.
	sync := config.Deploy{Sync: config.Sync{FileSyncLimit: 100, ProgressEvery: time.Second,
		Untracked: config.DefaultUntracked, Protected: config.DefaultProtected}}
	if cfg != nil {
		sync.Sync = cfg.Deploy.Sync
		sync.Sync.ProgressEvery = time.Second
	}
	var stages []Stage
	if _, err := exec.LookPath("rsync"); err != nil {
		log.Warn("rsync is not installed: the deploy sandbox prepares staging but syncs nothing (install rsync for the whole flow)")
	} else if stages, err = sandboxStages(context.Background(), dir, sb.Staging, &sync); err != nil {
		sb.Close()
		return nil, err
	} else {
		ks, err := sandboxKubeStages(cfg, filepath.Join(dir, "releases"))
		if err != nil {
			sb.Close()
			return nil, fmt.Errorf("sandbox: kubernetes stages: %w", err)
		}
		stages = append(stages, ks...)
	}
	o.Stages, o.SAL, o.SyncSource = stages, sal, ""
	o.FileSyncLimit = sync.Sync.FileSyncLimit
	o.Releases = &release.Store{Dir: filepath.Join(dir, "releases"), Keep: 3, Untracked: sync.Sync.Untracked}
	o.Gate = TestGate{Reminder: 5 * time.Minute, Timeout: 15 * time.Minute}
	o.DecisionTimeout = 5 * time.Minute
	o.Purger = nil
	e := NewEngine(db, g, &git.Runner{Log: log}, n, o)
	sandbox := &Sandbox{Sandbox: sb, Engine: e}
	if len(stages) > 0 {
		sandbox.Servers = filepath.Join(dir, "servers")
	}
	return sandbox, nil
}

// SandboxStages are the sandbox's stages and their host counts.
var SandboxStages = []struct {
	Name  string
	Hosts []string
}{
	{"testservers", []string{"mwdebug1001"}},
	{"canaries", []string{"mw1001", "mw1002"}},
	{"production", []string{"mw1003", "mw1004", "mw1005", "mw1006", "mw1007"}},
}

// sandboxStages makes the sandbox's server directories, copies staging to
// them and returns the sync stages, built from d's sync settings the way
// SyncStages builds a configuration's.
func sandboxStages(ctx context.Context, dir, staging string, d *config.Deploy) ([]Stage, error) {
	if err := os.MkdirAll(filepath.Join(dir, "servers"), 0o755); err != nil {
		return nil, err
	}
	var out []Stage
	for _, st := range SandboxStages {
		d.Stages = append(d.Stages, config.Stage{Name: st.Name, Hosts: st.Hosts, Method: config.SyncRsync,
			Dest: filepath.Join(dir, "servers", "{{.Host}}"), Concurrency: 4, Timeout: time.Minute,
			WaitForTest: st.Name == "testservers"})
	}
	for i := range d.Stages {
		cst := &d.Stages[i]
		hs, err := hostsync.FromConfig(d, cst)
		if err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		for _, h := range hs.Hosts {
			if err := populate(ctx, h.Dest, staging); err != nil {
				return nil, fmt.Errorf("sandbox: copy staging to %s: %w", h.Name, err)
			}
		}
		ss := &SyncStage{StageName: cst.Name, WaitForTest: cst.WaitForTest,
			Hosts: func() (*hostsync.Stage, error) { return hostsync.FromConfig(d, cst) }}
		if cst.Name == "canaries" {
			ss.Checks = []check.Check{sandboxCanary()}
		}
		out = append(out, ss)
	}
	return out, nil
}

// sandboxCanary is the sandbox canaries' analysis: its hosts report
// simulated errors and latency (canary.Simulated), observed for two
// seconds against the production hosts.
func sandboxCanary() *check.Canary {
	return &check.Canary{CheckName: "canary analysis", Source: canary.Simulated{},
		Window: 2 * time.Second, Step: 150 * time.Millisecond, Baseline: "later",
		Metrics: []check.CanaryMetric{
			{Metric: canary.Metric{Name: "errors", Direction: canary.Increase, Weight: 1, Unit: "/step"}, Query: `errors{instance=~"{{.Hosts}}"}`},
			{Metric: canary.Metric{Name: "p95 latency", Direction: canary.Increase, Weight: 1, Unit: " ms"}, Query: `latency{instance=~"{{.Hosts}}"}`},
		}}
}

// populate makes a server directory as a copy of staging, unless it
// exists; a copy cut short is never mistaken for a server.
func populate(ctx context.Context, dest, staging string) error {
	if _, err := os.Stat(dest); err == nil {
		return nil
	}
	tmp := filepath.Join(filepath.Dir(dest), ".new-"+filepath.Base(dest))
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := (&hostsync.Rsync{}).Sync(ctx, hostsync.Host{Name: "populate", Dest: tmp}, staging, nil); err != nil {
		return err
	}
	return os.Rename(tmp, dest)
}

// Welcome tells a newcomer what to try.
func (s *Sandbox) Welcome() bot.Text {
	then := " The deploy then stops with a prepared staging checkout (install rsync to also sync to directories standing in for servers)."
	if s.Servers != "" {
		then = fmt.Sprintf(" The deploy then syncs to directories standing in for servers (%s): testservers, where you say `jouncebot: tested ok`, then canaries and production.", s.Servers)
	}
	return bot.T(fmt.Sprintf("Deploy sandbox: a fake Gerrit at %s with these open changes (staging checkout in %s):\n%s\nTry `jouncebot: plan %d`, then `jouncebot: deploy %d` (outside a window: `jouncebot: deploy --force %d trying the sandbox`); the gate merges 2 seconds after the +2.%s",
		s.URL, s.Staging, s.Describe(), s.Changes["config"], s.Changes["config"], s.Changes["config"], then))
}
