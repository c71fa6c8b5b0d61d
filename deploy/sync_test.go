package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/check"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/purge"
	"github.com/jouncebot/jouncebot/deploy/release"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// salRec records SAL lines.
type salRec struct {
	mu    sync.Mutex
	lines []string
}

func (s *salRec) Log(_ context.Context, who deploy.Person, msg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, who.IRCNick+": "+msg)
	return nil
}

func (s *salRec) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// hostGate keeps the hosts of a stage from being reached, the way a host
// that stops answering mid-sync does, with nothing of the engine
// replaced: the stage syncs with rsync as configured, its hosts reached
// through a remote shell (rsync -e, as over ssh) that runs the host's
// side on this machine. While the gate is shut, each connection takes one
// of the passes handed out, or else waits at the gate until the engine
// gives up on the host (it kills rsync with its remote shell).
type hostGate struct {
	dir    string
	mu     sync.Mutex
	writer *os.File // the test's end of the gate, once a host waits there
}

func newHostGate(t *testing.T) *hostGate {
	t.Helper()
	g := &hostGate{dir: t.TempDir()}
	script := `#!/bin/sh
# rsh HOST COMMAND...: what ssh would run on HOST, run here.
host=$1
shift
d='` + g.dir + `'
if [ -p "$d/gate" ]; then
	for p in "$d"/pass.*; do
		if [ -e "$p" ] && rm "$p" 2>/dev/null; then
			exec "$@"
		fi
	done
	echo "$host" > "$d/held"
	read -r _ < "$d/gate"
	echo "ssh: connect to host $host port 22: Connection timed out" >&2
	exit 255
fi
exec "$@"
`
	if err := os.WriteFile(filepath.Join(g.dir, "rsh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(g.dir, "gate"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Frees a waitHeld still opening the gate.
		if f, err := os.OpenFile(filepath.Join(g.dir, "gate"), os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		g.open()
	})
	return g
}

// guard makes the stage reach its hosts through the gate.
func (g *hostGate) guard(h *hostsync.Stage) {
	h.Method = &hostsync.Rsync{Args: []string{"--checksum"}, Rsh: filepath.Join(g.dir, "rsh")}
	hosts := make([]hostsync.Host, len(h.Hosts))
	for i, x := range h.Hosts {
		hosts[i] = hostsync.Host{Name: x.Name, Dest: x.Name + ":" + x.Dest}
	}
	h.Hosts = hosts
}

// pass lets n more connections through the shut gate.
func (g *hostGate) pass(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		if err := os.WriteFile(filepath.Join(g.dir, fmt.Sprintf("pass.%d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// waitHeld returns once a host waits at the gate: opening the gate for
// writing returns when its remote shell has opened it for reading.
func (g *hostGate) waitHeld(t *testing.T, history func() string) {
	t.Helper()
	opened := make(chan *os.File, 1)
	go func() {
		f, err := os.OpenFile(filepath.Join(g.dir, "gate"), os.O_WRONLY, 0)
		if err != nil {
			f = nil
		}
		opened <- f
	}()
	select {
	case f := <-opened:
		if f == nil {
			t.Fatal("the gate could not be opened")
		}
		g.mu.Lock()
		g.writer = f
		g.mu.Unlock()
	case <-time.After(testenv.Scale(15 * time.Second)):
		t.Fatalf("no host reached the gate; history:\n%s", history())
	}
}

// heldHost is the name of the last host that waited at the gate.
func (g *hostGate) heldHost(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(g.dir, "held"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// shut shuts the gate again after open.
func (g *hostGate) shut(t *testing.T) {
	t.Helper()
	if err := syscall.Mkfifo(filepath.Join(g.dir, "gate"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// open lets every later connection through.
func (g *hostGate) open() {
	os.Remove(filepath.Join(g.dir, "gate"))
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.writer != nil {
		g.writer.Close()
		g.writer = nil
	}
}

// syncWorld is three stages of local host directories, each starting as a
// copy of staging.
type syncWorld struct {
	hosts  map[string][]hostsync.Host // stage → hosts
	method *hostsync.Rsync
	sal    *salRec
	before map[string]string // the tree before the deploy
}

var worldStages = []struct {
	name  string
	hosts int
}{{"testservers", 1}, {"canaries", 2}, {"production", 5}}

// syncTweak returns an Options tweak adding the three stages; stage
// adds checks or limits to a stage by name.
func syncTweak(t *testing.T, w *syncWorld, stage func(name string, s *deploy.SyncStage, h *hostsync.Stage)) func(*deploy.Options) {
	return func(o *deploy.Options) {
		root := t.TempDir()
		w.hosts = map[string][]hostsync.Host{}
		// --checksum, as the engine adds for a few files: a test edits
		// files within the second rsync's quick check cannot tell apart.
		w.method = &hostsync.Rsync{Args: []string{"--checksum"}}
		w.sal = &salRec{}
		o.Stages = nil
		for _, ws := range worldStages {
			var hosts []hostsync.Host
			for i := range ws.hosts {
				name := fmt.Sprintf("%s%d", ws.name[:4], i+1)
				hosts = append(hosts, hostsync.Host{Name: name, Dest: filepath.Join(root, name)})
			}
			w.hosts[ws.name] = hosts
			hs := hostsync.Stage{Name: ws.name, Hosts: hosts, Method: w.method, Concurrency: 2, Timeout: 20 * time.Second}
			s := &deploy.SyncStage{StageName: ws.name, WaitForTest: ws.name == "testservers"}
			if stage != nil {
				stage(ws.name, s, &hs)
			}
			s.Hosts = func() (*hostsync.Stage, error) { c := hs; return &c, nil }
			o.Stages = append(o.Stages, s)
		}
		o.Releases = &release.Store{Dir: filepath.Join(root, "releases")}
		o.SAL = w.sal
		o.Gate = deploy.TestGate{Reminder: time.Hour, Timeout: 2 * time.Hour}
	}
}

// populate copies staging to every host, as hosts are before a deploy.
func (w *syncWorld) populate(t *testing.T, staging string) {
	t.Helper()
	for _, hosts := range w.hosts {
		st := &hostsync.Stage{Name: "init", Hosts: hosts, Method: &hostsync.Rsync{}}
		if _, err := st.Sync(t.Context(), hostsync.Job{Source: staging}); err != nil {
			t.Fatal(err)
		}
	}
	w.before = readTree(t, staging)
}

func (w *syncWorld) all() []hostsync.Host {
	var out []hostsync.Host
	for _, ws := range worldStages {
		out = append(out, w.hosts[ws.name]...)
	}
	return out
}

// neverSynced checks that the hosts of the stages got nothing from the
// deploy: no release marker on the hosts, no host on record.
func (w *syncWorld) neverSynced(t *testing.T, e *env, stages ...string) {
	t.Helper()
	rec, err := e.agent.Record("1")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range stages {
		if r := rec.Sync.Stages[st]; r != nil && len(r.Hosts) > 0 {
			t.Errorf("%s has hosts on record: %v", st, r.Hosts)
		}
		for _, h := range w.hosts[st] {
			if _, err := os.Lstat(filepath.Join(h.Dest, release.MarkerName)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s of %s has a release marker (%v): it was synced", h.Name, st, err)
			}
		}
	}
}

func newSyncEnv(t *testing.T, stage func(string, *deploy.SyncStage, *hostsync.Stage), tweak ...func(*deploy.Options)) (*env, *syncWorld) {
	t.Helper()
	requireRsync(t)
	w := &syncWorld{}
	e := newEnv(t, append([]func(*deploy.Options){syncTweak(t, w, stage)}, tweak...)...)
	w.populate(t, e.sb.Staging)
	return e, w
}

// requireRsync skips the test when rsync is missing, unless the README's
// test command said servers are required.
func requireRsync(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("rsync"); err != nil {
		testenv.Missing(t, "rsync is not installed; run scripts/install/rsync.sh")
	}
}

// readTree returns every file under dir (path → content) without .git.
func readTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == ".git" || d.Name() == release.MarkerName || d.Name() == hostsync.ClaimDir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

const settings = "wmf-config/InitialiseSettings.php"

func TestSyncFullFlowOwnerTestedOK(t *testing.T) {
	t.Parallel()
	e, w := newSyncEnv(t, nil)
	n := e.sb.Changes["config"] // owned by alice
	e.deploy(bob, n)
	ask := e.waitFor(deploy.EventNeeds)
	if got := ask.Text.String(); !strings.HasPrefix(got, "bob, alice: Backport for [[gerrit:"+itoa(n)) || !strings.Contains(got, `Reply "tested ok"`) {
		t.Errorf("gate question = %q", got)
	}
	// Before the answer only the testservers have the change.
	if got := readTree(t, w.hosts["canaries"][0].Dest)[settings]; got != w.before[settings] {
		t.Errorf("canaries synced before the test: %q", got)
	}
	if st, _ := e.agent.Status(context.Background()); !strings.HasSuffix(st.Text().String(), `synced to testservers, waiting for "tested ok" or "tested fail". Last: `+ask.Text.String()) {
		t.Errorf("status = %q", st.Text())
	}
	if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatalf("owner's tested ok: %v", err)
	}
	e.waitFor(deploy.EventDone)
	want := readTree(t, e.sb.Staging)
	for _, h := range w.all() {
		if d := cmp.Diff(want, readTree(t, h.Dest)); d != "" {
			t.Errorf("%s differs from staging (-want +got):\n%s", h.Name, d)
		}
	}
	rec, err := e.agent.Record("1")
	if err != nil {
		t.Fatal(err)
	}
	g := rec.Sync.Stages["testservers"].Gate
	if len(g.Answers) != 1 || g.Answers[0].Who != "Alice" || g.Answers[0].PatchSets[n] != 1 || g.Answers[0].Time.IsZero() {
		t.Errorf("confirmation = %+v, want Alice for %d patchset 1 with a time", g.Answers, n)
	}
	if got := len(rec.Sync.Stages["production"].Hosts); got != 5 {
		t.Errorf("production records %d hosts, want 5", got)
	}
	sal := w.sal.all()
	sum := "Backport for [[gerrit:" + itoa(n) + "|Raise $wgExampleLimit to 20 (T1001)]]"
	if len(sal) != 3 || sal[0] != "bob: Started sync: "+sum || !strings.HasPrefix(sal[1], "bob: Synchronized "+settings+": "+sum+" (duration: ") ||
		!strings.HasPrefix(sal[2], "bob: Finished sync: "+sum+" (duration: ") {
		t.Errorf("SAL lines:\n%s", strings.Join(sal, "\n"))
	}
}

func TestSyncTestedRefusedFromStranger(t *testing.T) {
	t.Parallel()
	e, _ := newSyncEnv(t, nil)
	n := e.sb.Changes["config"]
	e.deploy(bob, n)
	e.waitFor(deploy.EventNeeds)
	tests := []struct {
		who  deploy.Person
		want string
	}{
		{carol, "Thanks, Carol, but only the owners of the changes in deploy 1 (Alice) or its deployer (Bob) can confirm the test, and I know you by your account as none of them."},
		{deploy.Person{}, "Thanks, but only the owners of the changes in deploy 1 (Alice) or its deployer (Bob) can confirm the test, and your account is not in my people list."},
		// Same nick as the owner, but not her account.
		{deploy.Person{Name: "Mallory", IRCNick: "alice"}, "Thanks, Mallory, but only"},
	}
	for _, tt := range tests {
		err := e.agent.Tested(context.Background(), "", tt.who, true)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("tested ok from %+v: %v, want %q", tt.who, err, tt.want)
		}
	}
	rec, _ := e.agent.Record("1")
	if a := rec.Sync.Stages["testservers"].Gate.Answers; len(a) != 0 {
		t.Errorf("answers recorded from strangers: %+v", a)
	}
	// The deployer may answer for everyone.
	if err := e.agent.Tested(context.Background(), "", bob, true); err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventDone)
}

func TestSyncTestedFailRollsBack(t *testing.T) {
	t.Parallel()
	e, w := newSyncEnv(t, nil)
	n := e.sb.Changes["config"]
	e.deploy(alice, n)
	e.waitFor(deploy.EventNeeds)
	test := w.hosts["testservers"][0]
	if got := readTree(t, test.Dest)[settings]; !strings.Contains(got, "= 20;") {
		t.Fatalf("testserver lacks the change: %q", got)
	}
	if err := e.agent.Tested(context.Background(), "", alice, false); err != nil {
		t.Fatal(err)
	}
	ev := e.waitFor(deploy.EventFailed)
	want := "alice: deploy 1 stopped: Rolled back because Alice said the changes do not work on testservers (tested fail): 1 host holds the previous tree again, verified byte for byte. " + itoa(n) + " is still merged in Gerrit: revert it before the next deploy (`revert " + itoa(n) + "`)."
	if got := ev.Text.String(); !strings.HasPrefix(got, want) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	for _, h := range w.all() {
		if d := cmp.Diff(w.before, readTree(t, h.Dest)); d != "" {
			t.Errorf("%s after the rollback (-want +got):\n%s", h.Name, d)
		}
	}
	w.neverSynced(t, e, "canaries", "production")
	if sal := w.sal.all(); len(sal) != 3 || !strings.HasPrefix(sal[1], "alice: Started rollback of 1 host: ") || !strings.HasPrefix(sal[2], "alice: Finished rollback of 1 host, verified: ") {
		t.Errorf("SAL lines:\n%s", strings.Join(sal, "\n"))
	}
	if st, _ := e.agent.Status(context.Background()); st.Lock != nil {
		t.Errorf("the lock is still held: %+v", st.Lock)
	}
}

func TestSyncCanaryErrorsRollBackVerified(t *testing.T) {
	t.Parallel()
	var queries sync.Mutex
	asked := 0
	es := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries.Lock()
		asked++
		queries.Unlock()
		fmt.Fprint(w, `{"count": 42}`)
	}))
	t.Cleanup(es.Close)
	e, w := newSyncEnv(t, func(name string, s *deploy.SyncStage, _ *hostsync.Stage) {
		if name == "canaries" {
			cs, err := check.FromConfig([]config.Check{{Name: "errors", Type: config.CheckErrors, URL: es.URL + "/logstash/_count",
				Threshold: 10, Wait: time.Millisecond, Timeout: 5 * time.Second}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			s.Checks = cs
		}
	}, func(o *deploy.Options) { o.DecisionTimeout = 100 * time.Millisecond })
	n := e.sb.Changes["config"]
	e.deploy(alice, n)
	e.waitFor(deploy.EventNeeds)
	if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatal(err)
	}
	ev := e.waitFor(deploy.EventNeeds)
	if got := ev.Text.String(); !strings.Contains(got, "the checks of canaries failed. Say `retry`") {
		t.Errorf("decision question = %q", got)
	}
	// Nobody answers: the deploy rolls back.
	ev = e.waitFor(deploy.EventFailed)
	if got := ev.Text.String(); !strings.Contains(got, "Rolled back because the checks of canaries failed") || !strings.Contains(got, "3 hosts hold the previous tree again, verified byte for byte") {
		t.Errorf("end = %q", got)
	}
	for _, h := range w.all() {
		if d := cmp.Diff(w.before, readTree(t, h.Dest)); d != "" {
			t.Errorf("%s after the rollback (-want +got):\n%s", h.Name, d)
		}
	}
	rec, _ := e.agent.Record("1")
	for stage, hosts := range rec.Sync.Rollback.Verified {
		for h, r := range hosts {
			if r.Err != "" {
				t.Errorf("%s/%s not verified: %s", stage, h, r.Err)
			}
		}
	}
	if got := len(rec.Sync.Rollback.Verified["canaries"]) + len(rec.Sync.Rollback.Verified["testservers"]); got != 3 {
		t.Errorf("%d hosts verified, want 3", got)
	}
	w.neverSynced(t, e, "production")
}

func TestSyncCheckRetryAndContinue(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	status := http.StatusInternalServerError
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(site.Close)
	e, _ := newSyncEnv(t, func(name string, s *deploy.SyncStage, _ *hostsync.Stage) {
		if name == "canaries" {
			s.Checks = []check.Check{&check.HTTP{CheckName: "main page", URL: site.URL + "/wiki/Main_Page", Timeout: 5 * time.Second}}
		}
	})
	e.deploy(alice, e.sb.Changes["config"])
	e.waitFor(deploy.EventNeeds)
	if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventNeeds)
	// Only the deployer decides.
	if err := e.agent.Decide(context.Background(), "", bob, "retry", ""); err == nil {
		t.Error("another deployer's retry was accepted")
	}
	if err := e.agent.Decide(context.Background(), "", alice, "retry", ""); err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventNeeds) // still failing
	if err := e.agent.Decide(context.Background(), "", alice, "continue", ""); err == nil {
		t.Error("continue without a reason was accepted")
	}
	if err := e.agent.Decide(context.Background(), "", alice, "continue", "the 500s come from a broken bot"); err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventDone)
	if h := e.history(); !strings.Contains(h, "Alice decided to go on despite the failed checks of canaries: the 500s come from a broken bot") {
		t.Errorf("history lacks the decision:\n%s", h)
	}
}

func TestSyncHostDisappearsMidSync(t *testing.T) {
	t.Parallel()
	var gone string
	e, w := newSyncEnv(t, func(name string, _ *deploy.SyncStage, h *hostsync.Stage) {
		if name == "production" {
			h.MaxFailed = 1
			h.Concurrency = 1
			h.ProgressEvery = time.Nanosecond // a progress line per host
		}
	})
	// When canaries are done, one production host goes away: its
	// directory is replaced by a file, so rsync cannot write to it.
	e.setHook(func(ev deploy.Event) {
		if strings.HasPrefix(ev.Text.String(), "canaries: synced") {
			gone = w.hosts["production"][2].Dest
			os.RemoveAll(gone)
			os.WriteFile(gone, []byte("not a directory"), 0o644)
		}
	})
	e.deploy(alice, e.sb.Changes["config"])
	e.waitFor(deploy.EventNeeds)
	if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventDone)
	if !strings.Contains(e.history(), "production: synced 4/5 hosts in ") || !strings.Contains(e.history(), "; 1 failed (1 allowed): prod3.") {
		t.Errorf("history lacks the failed host:\n%s", e.history())
	}
	if !regexp.MustCompile(`(?m)^production: [1-4]/5 hosts( \(1 failed\))?, [0-9]+ s$`).MatchString(e.history()) {
		t.Errorf("no progress line in the history:\n%s", e.history())
	}
	rec, _ := e.agent.Record("1")
	if r := rec.Sync.Stages["production"].Hosts["prod3"]; r.Err == "" {
		t.Errorf("prod3's failure was not recorded: %+v", r)
	}
}

func TestSyncKilledMidProductionResumes(t *testing.T) {
	t.Parallel()
	gate := newHostGate(t)
	e, w := newSyncEnv(t, func(name string, _ *deploy.SyncStage, h *hostsync.Stage) {
		if name == "production" {
			h.Concurrency = 1
			gate.guard(h)
		}
	})
	gate.pass(t, 2) // two production hosts get through, the third waits
	n := e.sb.Changes["config"]
	e.deploy(alice, n)
	e.waitFor(deploy.EventNeeds)
	if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatal(err)
	}
	gate.waitHeld(t, e.history)
	// Wait until the two hosts are on record, then kill the bot.
	deadline := time.Now().Add(testenv.Scale(10 * time.Second))
	for {
		rec, _ := e.agent.Record("1")
		if len(rec.Sync.Stages["production"].Hosts) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the two synced hosts were not recorded")
		}
		time.Sleep(5 * time.Millisecond)
	}
	before, _ := e.agent.Record("1")
	restarted := time.Now()
	e.stop() // the waiting host's rsync is killed with the bot
	gate.open()
	e.restart()
	e.waitFor(deploy.EventDone)
	// Each host synced once: the hosts on record before the restart keep
	// their record, the others were synced after it.
	rec, _ := e.agent.Record("1")
	for _, ws := range worldStages {
		for _, h := range w.hosts[ws.name] {
			r, ok := rec.Sync.Stages[ws.name].Hosts[h.Name]
			_, earlier := before.Sync.Stages[ws.name].Hosts[h.Name]
			switch {
			case !ok || r.Err != "":
				t.Errorf("%s is not on record as synced: %+v", h.Name, r)
			case earlier && r.Time.After(restarted):
				t.Errorf("%s was synced again after the restart", h.Name)
			case !earlier && r.Time.Before(restarted):
				t.Errorf("%s is on record from before the restart but was not then", h.Name)
			}
		}
	}
	if !regexp.MustCompile(`Resuming the sync to production: 2 of 5 hosts hold release [0-9a-f]{20} \(checked after the restart\)\.`).MatchString(e.history()) ||
		!regexp.MustCompile(`Checked the canaries after the restart: both hosts hold release [0-9a-f]{20}\.`).MatchString(e.history()) ||
		!strings.Contains(e.history(), "production: synced 5/5 hosts in ") || !strings.Contains(e.history(), "(2 done before a restart)") {
		t.Errorf("history:\n%s", e.history())
	}
	if h := e.history(); strings.Index(h, "Checked the canaries after the restart") > strings.Index(h, "Resuming the sync to production") {
		t.Errorf("production resumed before the canaries were checked:\n%s", h)
	}
	if sal := w.sal.all(); len(sal) != 3 || !strings.Contains(sal[0], "Started sync") || !strings.Contains(sal[2], "Finished sync") {
		t.Errorf("SAL lines (each once):\n%s", strings.Join(sal, "\n"))
	}
	if e.reviews(n) == nil || len(e.reviews(n)) != 1 {
		t.Errorf("reviews = %+v, want one", e.reviews(n))
	}
	want := readTree(t, e.sb.Staging)
	for _, h := range w.all() {
		if d := cmp.Diff(want, readTree(t, h.Dest)); d != "" {
			t.Errorf("%s (-want +got):\n%s", h.Name, d)
		}
	}
}

func TestSyncPurgesStaticFiles(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var purged []string
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		purged = append(purged, r.Method+" "+r.Host+r.URL.Path)
		mu.Unlock()
	}))
	t.Cleanup(cdn.Close)
	e, w := newSyncEnv(t, nil, func(o *deploy.Options) {
		o.Purger = purge.FromConfig(&config.Purge{Endpoints: []string{cdn.URL}, Timeout: 5 * time.Second,
			Static: []config.StaticDir{{Dir: "static/", URL: "https://en.wikipedia.org/static/"}}}, nil)
	})
	n, err := e.sb.Upload(gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: gerrittest.ConfigBranch, Owner: "alice",
		Subject: "New logo", Files: []gerrittest.File{{Path: "static/images/logo.svg", Content: "<svg/>"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.deploy(alice, n)
	e.waitFor(deploy.EventNeeds)
	if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventDone)
	mu.Lock()
	defer mu.Unlock()
	if d := cmp.Diff([]string{"PURGE en.wikipedia.org/static/images/logo.svg"}, purged); d != "" {
		t.Errorf("purges (-want +got):\n%s", d)
	}
	if !strings.Contains(e.history(), "Purged 1 URL from 1 CDN endpoint: https://en.wikipedia.org/static/images/logo.svg.") {
		t.Errorf("history:\n%s", e.history())
	}
	if got := readTree(t, w.hosts["production"][4].Dest)["static/images/logo.svg"]; got != "<svg/>" {
		t.Errorf("production lacks the new file: %q", got)
	}
}

func TestSyncGateWaitsForEveryOwner(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		oneOwner bool
	}{{"all owners", false}, {"one owner is enough", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, _ := newSyncEnv(t, nil, func(o *deploy.Options) { o.Gate.OneOwnerEnough = tt.oneOwner })
			first, second := e.sb.Changes["config"], e.sb.Changes["config2"] // alice's and bob's
			e.deploy(carolDeployer, first, second)
			ask := e.waitFor(deploy.EventNeeds)
			if got := ask.Text.String(); !strings.HasPrefix(got, "carol, alice, bob: ") {
				t.Errorf("question = %q, want the deployer and both owners mentioned", got)
			}
			if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
				t.Fatal(err)
			}
			if tt.oneOwner {
				e.waitFor(deploy.EventDone)
				return
			}
			e.waitText("Alice says " + itoa(first) + " patchset 1 works on testservers.")
			rec, _ := e.agent.Record("1")
			if !rec.Sync.Stages["testservers"].Gate.Passed.IsZero() {
				t.Fatal("the gate passed with one of two owners")
			}
			if err := e.agent.Tested(context.Background(), "", bob, true); err != nil {
				t.Fatal(err)
			}
			e.waitFor(deploy.EventDone)
			if !strings.Contains(e.history(), "Tested on testservers by Alice and Bob; going on.") {
				t.Errorf("history:\n%s", e.history())
			}
		})
	}
}

// The deployer's answer covers every change, and says so in the plural.
func TestSyncGateDeployerAnswersForAll(t *testing.T) {
	t.Parallel()
	e, _ := newSyncEnv(t, nil, func(*deploy.Options) {})
	first, second := e.sb.Changes["config"], e.sb.Changes["config2"]
	e.deploy(carolDeployer, first, second)
	e.waitFor(deploy.EventNeeds)
	if err := e.agent.Tested(context.Background(), "", carolDeployer, true); err != nil {
		t.Fatal(err)
	}
	e.waitText("Carol says " + itoa(first) + " patchset 1 and " + itoa(second) + " patchset 1 work on testservers.")
	e.waitFor(deploy.EventDone)
}

func TestSyncGateReminderTimeoutAndRestart(t *testing.T) {
	t.Parallel()
	e, _ := newSyncEnv(t, nil, func(o *deploy.Options) {
		o.Gate = deploy.TestGate{Reminder: 50 * time.Millisecond, Timeout: 100 * time.Millisecond}
	})
	e.deploy(bob, e.sb.Changes["config"])
	e.waitFor(deploy.EventNeeds) // the question
	if got := e.waitFor(deploy.EventNeeds).Text.String(); !strings.HasPrefix(got, "bob, alice: reminder, ") {
		t.Errorf("reminder = %q", got)
	}
	if got := e.waitFor(deploy.EventNeeds).Text.String(); !strings.HasPrefix(got, "bob: nobody confirmed the test on testservers within 100ms. Decide:") {
		t.Errorf("timeout = %q", got)
	}
	// After a restart the question is asked again, and still answered.
	e.restart()
	if got := e.waitFor(deploy.EventNeeds).Text.String(); !strings.Contains(got, "(asked again after a restart)") {
		t.Errorf("after restart = %q", got)
	}
	if err := e.agent.Tested(context.Background(), "", bob, true); err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventDone)
}

// carolDeployer deploys other people's changes.
var carolDeployer = deploy.Person{Name: "Carol", IRCNick: "carol", Gerrit: "carol", Deployer: true}

func TestSyncAbortAtGateRollsBack(t *testing.T) {
	t.Parallel()
	e, w := newSyncEnv(t, nil)
	e.deploy(alice, e.sb.Changes["config"])
	e.waitFor(deploy.EventNeeds)
	if err := e.agent.Abort(context.Background(), "", alice); err != nil {
		t.Fatal(err)
	}
	ev := e.waitFor(deploy.EventAborted)
	if got := ev.Text.String(); !strings.HasPrefix(got, "Deploy 1 was aborted by Alice. Rolled back because Alice aborted the deploy: 1 host holds the previous tree again, verified byte for byte.") {
		t.Errorf("got %q", got)
	}
	if d := cmp.Diff(w.before, readTree(t, w.hosts["testservers"][0].Dest)); d != "" {
		t.Errorf("testserver after the abort (-want +got):\n%s", d)
	}
}

// deployStatic uploads and deploys a config change adding a static file.
func (e *env) deployStatic(t *testing.T) int {
	t.Helper()
	n, err := e.sb.Upload(gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: gerrittest.ConfigBranch, Owner: "alice",
		Subject: "Add a stylesheet", Files: []gerrittest.File{{Path: "static/app.css", Content: "body{}"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.deploy(alice, n)
	return n
}

// A deploy started with the policy's approvals (a Friday's RelEng and SRE)
// does not wait for a second deployer, shows them in its status and names
// them in every SAL line.
func TestPolicyApprovalsInStatusAndSAL(t *testing.T) {
	t.Parallel()
	e, w := newSyncEnv(t, nil, func(o *deploy.Options) { o.RequireSecondApprover = true })
	n := e.sb.Changes["config"]
	at := time.Date(2026, 11, 27, 14, 15, 0, 0, time.UTC)
	r := e.request(bob, n)
	r.InWindow, r.Force, r.Reason = false, true, "fixes the outage"
	r.Approvals = []deploy.Approval{{By: "Rita", At: at, Rule: "Fridays and weekends"}, {By: "Sam", At: at, Rule: "Fridays and weekends"}}
	r.PatchSets = map[int]int{n: 1}
	if _, err := e.agent.Start(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventNeeds) // the testing gate, not an approval
	approved := "approved by Rita (Fridays and weekends) and Sam (Fridays and weekends)"
	if st, _ := e.agent.Status(context.Background()); !strings.Contains(st.Text().String(), "Policy: "+approved+" for 445113 at patchset 1, frozen as release ") {
		t.Errorf("status = %q", st.Text())
	}
	if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
		t.Fatal(err)
	}
	e.waitFor(deploy.EventDone)
	sal := w.sal.all()
	if len(sal) != 3 {
		t.Fatalf("SAL lines:\n%s", strings.Join(sal, "\n"))
	}
	for _, l := range sal {
		if !strings.Contains(l, "(T1001)]] ("+approved+")") {
			t.Errorf("SAL line without the approvals: %s", l)
		}
	}
	rec, _ := e.agent.Record("1")
	if len(rec.Approvals) != 2 || !rec.Approvals[0].At.Equal(at) {
		t.Errorf("record approvals = %+v", rec.Approvals)
	}
	// The policy's estimate of a deploy's length comes from this history.
	if d, from, err := e.agent.Estimate(5); err != nil || d != rec.Finished.Sub(rec.Created) || from != "the last deploy" {
		t.Errorf("Estimate = %s, %q, %v", d, from, err)
	}
}

// TestUnreachableAtRestartDeployerDecides: a canary on record as synced
// that does not answer when the deploy resumes after a restart is not
// taken for a host missing the release (which would roll back a tested
// deploy by itself): the deployer is asked, and the deploy goes on or
// rolls back as they say.
func TestUnreachableAtRestartDeployerDecides(t *testing.T) {
	for _, decision := range []string{"continue", "rollback"} {
		t.Run(decision, func(t *testing.T) {
			t.Parallel()
			gate := newHostGate(t)
			e, w := newSyncEnv(t, func(name string, _ *deploy.SyncStage, h *hostsync.Stage) {
				if name == "production" {
					gate.guard(h) // no host gets through
				}
			})
			n := e.sb.Changes["config"]
			e.deploy(alice, n)
			e.waitFor(deploy.EventNeeds)
			if err := e.agent.Tested(context.Background(), "", alice, true); err != nil {
				t.Fatal(err)
			}
			gate.waitHeld(t, e.history)
			e.stop()
			gate.open()
			canary := w.hosts["canaries"][1]
			away := canary.Dest + ".away"
			if err := os.Rename(canary.Dest, away); err != nil {
				t.Fatal(err)
			}
			// A file where the directory was: rsync cannot reach it.
			if err := os.WriteFile(canary.Dest, []byte("down\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			e.setHook(nil)
			e.start()
			ask := e.waitFor(deploy.EventNeeds)
			if got := ask.Text.String(); !strings.Contains(got, "1 host of canaries could not be checked after the restart: cana2") {
				t.Fatalf("question = %q", got)
			}
			if st, _ := e.agent.Status(context.Background()); !strings.Contains(st.Text().String(), "1 host of canaries could not be checked after a restart (cana2), waiting for retry, rollback or continue <reason>") {
				t.Errorf("status = %q", st.Text())
			}
			if err := e.agent.Decide(context.Background(), "", alice, "continue", ""); err == nil || !strings.Contains(err.Error(), "Say why it is fine to go on without checking those hosts") {
				t.Errorf("continue without a reason: %v", err)
			}
			switch decision {
			case "continue":
				if err := e.agent.Decide(context.Background(), "", alice, "continue", "cana2 is out of rotation"); err != nil {
					t.Fatal(err)
				}
				e.waitFor(deploy.EventDone)
				if h := e.history(); !strings.Contains(h, "Alice decided to go on without checking cana2: cana2 is out of rotation") ||
					!regexp.MustCompile(`Checked the canaries after the restart: 1 of 2 hosts hold release [0-9a-f]{20}; the others go on by the record, as decided\.`).MatchString(h) {
					t.Errorf("history:\n%s", e.history())
				}
			case "rollback":
				// The canary is back before the rollback reaches it.
				if err := os.Remove(canary.Dest); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(away, canary.Dest); err != nil {
					t.Fatal(err)
				}
				if err := e.agent.Decide(context.Background(), "", alice, "rollback", ""); err != nil {
					t.Fatal(err)
				}
				ev := e.waitFor(deploy.EventFailed)
				if got := ev.Text.String(); !strings.Contains(got, "Rolled back because Alice decided so when 1 host of canaries could not be checked after a restart: 8 hosts hold the previous tree again, verified byte for byte.") {
					t.Errorf("stop = %q", got)
				}
				for _, h := range w.all() {
					if d := cmp.Diff(w.before, readTree(t, h.Dest)); d != "" {
						t.Errorf("%s after the rollback (-want +got):\n%s", h.Name, d)
					}
				}
			}
		})
	}
}
