package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/app"
)

// The built-in default shows a canary analysis without Prometheus: the
// sandbox's canaries report simulated metrics, the deploy says the
// verdict in one line, the SAL line links the report page, and the page
// shows each metric's row with its chart.
func TestSandboxCanaryAnalysisAndReport(t *testing.T) {
	t.Parallel()
	s := runConsole(t, time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC), "127.0.0.1:0", nil, app.Options{})
	s.expect("Try `jouncebot: plan")
	s.say("jouncebot: deploy 445113")
	s.expect("Deploy 1 started by amir")
	s.expect("amir, alice: Backport for")
	s.say("tested ok")
	line := s.expect("canaries checks: canary analysis: 2/2 metrics pass (errors ")
	if !strings.HasSuffix(line, "score 100: pass.") {
		t.Errorf("analysis line %q does not end with the score and verdict", line)
	}
	s.expect("amir: deploy 1 is done: 445113.")

	base := "http://" + s.app.HTTPAddr()
	code, page := get(t, base+"/deploys/1/canary")
	if code != http.StatusOK {
		t.Fatalf("report page: %d %s", code, page)
	}
	for _, want := range []string{"Canary analysis of deploy 1", "canaries: canary analysis", `class="pass">pass`,
		"errors <span", "p95 latency <span", "<polyline", "the later stages&#39; hosts over the same period", "28 / 70"} {
		if !strings.Contains(page, want) {
			t.Errorf("report page lacks %q:\n%s", want, page)
		}
	}
	if code, _ := get(t, base+"/deploys/2/canary"); code != http.StatusNotFound {
		t.Errorf("a deploy without analysis answers %d, want 404", code)
	}
	// Ids that are no deploy's: not numbers, beyond any int, markup.
	for _, id := range []string{"abc", "99999999999999999999999", "-1", "%3Cb%3Ex", "0"} {
		if code, page := get(t, base+"/deploys/"+id+"/canary"); code != http.StatusNotFound || strings.Contains(page, "<b>") {
			t.Errorf("/deploys/%s/canary answers %d %q, want 404", id, code, page)
		}
	}
	_, sal := get(t, base+"/sal?q=canary")
	if !strings.Contains(sal, "Canary analysis of canaries for Backport for") || !strings.Contains(sal, "/deploys/1/canary") {
		t.Errorf("SAL page lacks the analysis line with its link:\n%s", sal)
	}
}
