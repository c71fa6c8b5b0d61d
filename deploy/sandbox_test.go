package deploy_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/internal/testenv"
	"github.com/jouncebot/jouncebot/store"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestSandboxSession is the newcomer's session from the README: plan,
// summary and deploy of a config change in the embedded sandbox. The
// transcript is compared with testdata/sandbox_session.golden.
func TestSandboxSession(t *testing.T) {
	t.Parallel()
	gerrittest.RequireGit(t)
	requireRsync(t)
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var lines []string
	add := func(s string) { lines = append(lines, s) }
	end := make(chan struct{})
	gate := make(chan struct{}, 1)
	// Throttled progress lines ("production: 3/5 hosts, 1 s") appear only
	// on a slow machine; the transcript leaves them out.
	progress := regexp.MustCompile(`^\w+: \d+/\d+ hosts( \(\d+ failed\))?, `)
	n := deploy.NotifierFunc(func(_ context.Context, ev deploy.Event) {
		if progress.MatchString(ev.Text.String()) {
			return
		}
		add("<jouncebot> " + ev.Text.String())
		switch ev.Kind {
		case deploy.EventNeeds:
			gate <- struct{}{}
		case deploy.EventDone, deploy.EventPrepared, deploy.EventFailed:
			close(end)
		}
	})
	sb, err := deploy.NewSandbox(filepath.Join(dir, "sandbox"), db, n, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	sb.SetGate(gerrittest.Gate{Delay: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sb.Engine.Run(ctx) }()
	defer func() { cancel(); <-done }()

	add(sb.Welcome().String())
	num := itoa(sb.Changes["config"])
	add("<alice> jouncebot: plan " + num)
	plan, err := sb.Engine.Plan(ctx, []string{num})
	if err != nil {
		t.Fatal(err)
	}
	add("<jouncebot> " + plan.String())
	add("<alice> jouncebot: summary " + num)
	sum, err := sb.Engine.Summary(ctx, []string{num})
	if err != nil {
		t.Fatal(err)
	}
	add("<jouncebot> " + sum)
	add("<alice> jouncebot: deploy " + num)
	if _, err := sb.Engine.Start(ctx, deploy.Request{Changes: []string{num}, By: alice, InWindow: true, Window: "sandbox window"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gate:
	case <-end:
		t.Fatal("the deploy ended without asking for a test")
	case <-time.After(testenv.Scale(15 * time.Second)):
		t.Fatal("the deploy did not ask for a test")
	}
	add("<alice> jouncebot: tested ok")
	if err := sb.Engine.Tested(ctx, "", alice, true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-end:
	case <-time.After(testenv.Scale(15 * time.Second)):
		t.Fatal("the deploy did not finish")
	}
	// Every server holds the change.
	for _, st := range deploy.SandboxStages {
		for _, h := range st.Hosts {
			b, err := os.ReadFile(filepath.Join(sb.Servers, h, "wmf-config/InitialiseSettings.php"))
			if err != nil || !strings.Contains(string(b), "$wgExampleLimit = 20;") {
				t.Errorf("%s does not hold the change: %v\n%s", h, err, b)
			}
		}
	}
	add("<alice> jouncebot: status")
	st, _ := sb.Engine.Status(ctx)
	add("<jouncebot> " + st.Text().String())

	got := strings.Join(lines, "\n") + "\n"
	got = strings.ReplaceAll(got, sb.URL, "http://127.0.0.1:PORT/")
	got = strings.ReplaceAll(got, sb.Staging, "/tmp/sandbox/staging")
	got = strings.ReplaceAll(got, sb.Servers, "/tmp/sandbox/servers")
	got = regexp.MustCompile(`\b\d\dm \d\ds\b`).ReplaceAllString(got, "00m 00s")
	got = regexp.MustCompile(`\b[0-9a-f]{20}\b`).ReplaceAllString(got, "<release>")
	got = regexp.MustCompile(`\b[0-9a-f]{10}\b`).ReplaceAllString(got, "<sha>")
	got = regexp.MustCompile(`\bI[0-9a-f]{40}\b`).ReplaceAllString(got, "I<change-id>")
	golden := filepath.Join("testdata", "sandbox_session.golden")
	if *update {
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, _ := os.ReadFile(golden)
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("session differs from %s (-want +got); run go test -update to accept:\n%s", golden, d)
	}
}
