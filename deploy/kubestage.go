package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy/deliver"
	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/image"
	"github.com/jouncebot/jouncebot/deploy/kube"
	"github.com/jouncebot/jouncebot/deploy/release"
	"github.com/jouncebot/jouncebot/deploy/step"
)

// A kubernetes stage is a SyncStage whose hosts are Deployments (see
// package deploy/kube): its Method builds the release's image, sets it
// on each Deployment and watches the rollout; its verifier reads the
// cluster. Sync, checks, the testing gate, rollback (the previous
// release's image, set and watched the same way) and the checks after a
// restart are the sync stages' own.

// kubeParts are what the kubernetes stages of one configuration share.
type kubeParts struct {
	clients *kube.Clients
	images  *image.Builder
}

func newKubeParts(d *config.Deploy) (*kubeParts, error) {
	k := d.Kubernetes
	if k == nil {
		return nil, fmt.Errorf("kubernetes stages need deploy.kubernetes")
	}
	exclude := k.Image.Exclude
	if exclude == nil { // a configuration not loaded from a file
		exclude = config.DefaultImageExclude
	}
	b, err := image.New(image.Config{Repository: k.Image.Repository, Base: k.Image.Base, Root: k.Image.Root,
		AuthFile: k.Image.AuthFile, Insecure: k.Image.Insecure, Exclude: exclude}, d.Sync.ReleasesDir)
	if err != nil {
		return nil, err
	}
	return &kubeParts{clients: kube.NewClients(k.Kubeconfig), images: b}, nil
}

// kubeStage is the SyncStage of kubernetes stage st.
func kubeStage(d *config.Deploy, st *config.Stage, p *kubeParts) *SyncStage {
	m := &kube.Method{Clients: p.clients, Images: p.images, Stage: st.Name, ProgressEvery: d.Sync.ProgressEvery}
	t := st.Kubernetes
	spec := kube.Spec{Contexts: t.Contexts, Namespace: t.Namespace, Deployments: t.Deployments, Selector: t.Selector, Container: t.Container}
	what := strings.Join(t.Deployments, ", ")
	if t.Selector != "" {
		what = "the deployments matching " + t.Selector
	}
	targets := what + " in " + strings.Join(t.Contexts, ", ")
	stage := func(hosts []hostsync.Host) *hostsync.Stage {
		return &hostsync.Stage{Name: st.Name, Hosts: hosts, Method: m, Concurrency: st.Concurrency, Timeout: st.Timeout,
			MaxFailed: st.MaxFailed(len(hosts)), ProgressEvery: d.Sync.ProgressEvery}
	}
	return &SyncStage{StageName: st.Name, WaitForTest: st.WaitForTest, Kube: true, Targets: targets, rolledOut: stage, Hosts: func() (*hostsync.Stage, error) {
		// Selectors are read when the stage starts, as host group files.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		ts, err := p.clients.Resolve(ctx, spec)
		var nm *kube.NoMatchError
		switch {
		case errors.As(err, &nm):
			return nil, err // says what matched nothing, where
		case err != nil:
			// The caller says it in chat: no Go error chain there.
			return nil, fmt.Errorf("the clusters (%s) did not answer when its deployments were listed; check that they are reachable, or run check-config", strings.Join(t.Contexts, ", "))
		}
		hosts := make([]hostsync.Host, len(ts))
		for i, t := range ts {
			hosts[i] = hostsync.Host{Name: t.HostName(), Dest: t.Dest()}
		}
		return stage(hosts), nil
	}}
}

// isKube reports whether hs is a kubernetes stage.
func isKube(hs *hostsync.Stage) bool {
	_, ok := hs.Method.(*kube.Method)
	return ok
}

// bindKube gives a kubernetes stage's Method the deploy it works for:
// its id for the annotations, chat for its progress, the release store
// and the crash point after each patch.
func (a *releaser) bindKube(ctx context.Context, j *Job, hs *hostsync.Stage, what string) {
	m, ok := hs.Method.(*kube.Method)
	if !ok {
		return
	}
	undo := ""
	if what == "rollback" {
		if d, err := j.Deploy(); err == nil {
			undo = d.Sync.Release
		}
	}
	hs.Method = m.For(kube.Run{Deploy: string(j.id), Targets: len(hs.Hosts), Releases: a.o.Releases, Undo: undo,
		Say:     func(s string) { j.Say(ctx, EventProgress, bot.T(s)) },
		Patched: func() { step.CrashPoint(what + ":" + hs.Name) }})
}

// kubeFailures says in one sentence per Deployment (three at most) why
// the rollout of a kubernetes stage failed; the errors go to the log.
func (a *releaser) kubeFailures(hs *hostsync.Stage, rep *hostsync.Report) string {
	dests := map[string]string{}
	for _, h := range hs.Hosts {
		dests[h.Name] = h.Dest
	}
	var out []string
	seen := map[string]bool{}
	failed := rep.Failed()
	for _, f := range failed {
		a.log.Warn("rollout failed", "stage", hs.Name, "deployment", f.Host, "err", f.Err)
		t, err := kube.ParseDest(dests[f.Host])
		if err != nil {
			continue
		}
		// One image for all: its failure is said once.
		if s := kube.Sentence(t, f.Err); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	if len(out) > 3 {
		out = append(out[:3], fmt.Sprintf("And %d more.", len(out)-3))
	}
	return strings.Join(out, " ")
}

// readClusters reads every Deployment of a kubernetes stage and returns
// one sentence for each that does not run rel's image, rolled out
// (another image, stuck, or still rolling out). err is set when a
// cluster did not answer.
func (a *releaser) readClusters(ctx context.Context, hs *hostsync.Stage, rel *release.Release) ([]string, error) {
	m, ok := hs.Method.(*kube.Method)
	if !ok {
		return nil, nil
	}
	vs := hostsync.Stage{Name: hs.Name, Hosts: hs.Hosts, Method: m.Verifier(), Concurrency: hs.Concurrency, Timeout: hs.Timeout, MaxFailed: len(hs.Hosts)}
	rep, err := vs.Sync(ctx, hostsync.Job{Source: rel.Tree()})
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if rep == nil {
		return nil, err
	}
	var diffs []string
	var lost error
	for _, r := range rep.Results {
		var diff *hostsync.DiffError
		switch {
		case r.Err == nil:
		case errors.As(r.Err, &diff):
			diffs = append(diffs, diff.Paths...)
		default:
			a.log.Warn("read a deployment", "stage", hs.Name, "deployment", r.Host, "err", r.Err)
			lost = fmt.Errorf("%s did not answer", r.Host)
		}
	}
	return diffs, lost
}

// clusterTruth reads, before a deploy is called done, every Deployment of
// the kubernetes stages that were rolled out: the record is only a cache
// of what the clusters run. A Deployment rolled back by someone else, or
// stuck, stops the deploy with a sentence naming it.
func clusterTruth(ctx context.Context, j *Job) error {
	e := j.e
	d, err := j.Deploy()
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(e.o.Stages, func(st Stage) bool {
		ss, ok := st.(*SyncStage)
		return ok && ss.rolledOut != nil
	}) {
		return nil // no stage rolls out to Kubernetes: no host's record to read
	}
	// The Deployments each stage rolled out, as recorded (one key per
	// host, beside the record).
	synced, err := e.hosts.Results(j.id, deliver.Synced)
	if err != nil {
		return e.answers.internal("reading the deployments rolled out", err)
	}
	var diffs []string
	var rel *release.Release
	for _, st := range e.o.Stages {
		ss, ok := st.(*SyncStage)
		if !ok {
			continue
		}
		rec := d.Sync.Stages[ss.StageName]
		if rec == nil || rec.Synced.IsZero() || ss.rolledOut == nil {
			continue
		}
		// The Deployments the stage rolled out, as recorded: its
		// selector may match others by now, or none.
		var hosts []hostsync.Host
		for name, r := range synced[ss.StageName] {
			if r.Done() && r.Dest != "" { // a rollout only begun is no record of one
				hosts = append(hosts, hostsync.Host{Name: name, Dest: r.Dest})
			}
		}
		if len(hosts) == 0 {
			continue
		}
		slices.SortFunc(hosts, func(x, y hostsync.Host) int { return strings.Compare(x.Name, y.Name) })
		hs := ss.rolledOut(hosts)
		if rel == nil {
			if rel, err = e.o.Releases.Open(d.Sync.Release); err != nil {
				return e.answers.internal("opening release "+d.Sync.Release, err)
			}
		}
		e.releaser.bindKube(ctx, j, hs, "truth")
		ds, err := e.releaser.readClusters(ctx, hs, rel)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			j.Say(ctx, EventProgress, bot.T(fmt.Sprintf("Could not read every deployment of %s before finishing (the details are in jouncebot's log); the record says they run release %s.", ss.StageName, rel.ID)))
		}
		diffs = append(diffs, ds...)
	}
	if len(diffs) == 0 {
		return nil
	}
	return Failf("Before calling deploy %s done I read the clusters: %s Nothing was rolled back; look at them, then deploy again or revert.", d.ID, strings.Join(diffs, " "))
}

// sandboxKubeStages are the configuration's kubernetes stages, run after
// the sandbox's own hosts: with a cluster and a registry configured, the
// demo rolls its releases out to real Deployments, as production would.
// Their images are recorded beside the sandbox's releases.
func sandboxKubeStages(cfg *config.Config, releases string) ([]Stage, error) {
	if cfg == nil || cfg.Deploy.Kubernetes == nil {
		return nil, nil
	}
	d := cfg.Deploy
	d.Sync.ReleasesDir, d.Sync.ProgressEvery = releases, time.Second
	d.Stages = nil
	for _, st := range cfg.Deploy.Stages {
		if st.Method == config.SyncKubernetes {
			d.Stages = append(d.Stages, st)
		}
	}
	if len(d.Stages) == 0 {
		return nil, nil
	}
	return SyncStages(&d)
}

// CheckKube checks the kubernetes stages of d against the kubeconfig and,
// when they answer, the clusters (for check-config): a context missing
// from the kubeconfig, a named Deployment or container that does not
// exist, or a selector matching nothing is a problem; a cluster that
// does not answer is only said. It returns the report's lines and
// whether no problem was found.
func CheckKube(ctx context.Context, d *config.Deploy) ([]string, bool) {
	if d.Kubernetes == nil {
		return nil, true
	}
	cs := kube.NewClients(d.Kubernetes.Kubeconfig)
	var lines []string
	ok := true
	for _, st := range d.Stages {
		if st.Method != config.SyncKubernetes || st.Kubernetes == nil {
			continue
		}
		t := st.Kubernetes
		spec := kube.Spec{Contexts: t.Contexts, Namespace: t.Namespace, Deployments: t.Deployments, Selector: t.Selector, Container: t.Container}
		for _, f := range cs.Check(ctx, spec) {
			switch {
			case f.Problem != "":
				ok = false
				lines = append(lines, fmt.Sprintf("stage %s, context %s: %s.", st.Name, f.Context, f.Problem))
			case f.Unreachable != nil:
				lines = append(lines, fmt.Sprintf("stage %s, context %s: the cluster did not answer, so its deployments were not checked (%v).", st.Name, f.Context, f.Unreachable))
			default:
				names := make([]string, len(f.Targets))
				for i, t := range f.Targets {
					names[i] = t.Namespace + "/" + t.Name
				}
				lines = append(lines, fmt.Sprintf("stage %s, context %s: %s.", st.Name, f.Context, strings.Join(names, ", ")))
			}
		}
	}
	return lines, ok
}
