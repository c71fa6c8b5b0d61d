package web

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/readiness"
)

type fakeReports map[string]readiness.Result

func (f fakeReports) Report(_ context.Context, id string) (readiness.Result, bool, error) {
	r, ok := f[id]
	return r, ok, nil
}

// The report page shows every patch with its verdict and findings, and
// what people wrote (subjects, owners) stays text.
func TestWindowReportPage(t *testing.T) {
	start := time.Date(2026, 11, 27, 23, 0, 0, 0, time.UTC)
	res := readiness.Result{WindowID: "w1", WindowName: "UTC late backport window", Start: start, End: start.Add(time.Hour),
		CheckedAt: start.Add(-10 * time.Minute), Estimate: 20 * time.Minute, EstimateFrom: "the default",
		Patches: []readiness.PatchResult{
			{Change: 445113, Owner: "alice", Subject: `Fix <script>alert(1)</script> (T1001)`, Status: readiness.Ready, Estimate: 10 * time.Minute},
			{Change: 445117, Owner: `bob"><img src=x onerror=alert(1)>`, Subject: "Setup", Status: readiness.Blocked, Estimate: 10 * time.Minute,
				Findings: []readiness.Finding{{Kind: readiness.KindSecurity, Blocking: true, Text: "merge conflict with a local security patch",
					Action: "ask the deployers", Private: "the local security patch SECRET"}}},
		}}
	srv := httptest.NewServer(New(Options{Readiness: fakeReports{"w1": res}, Links: links}))
	defer srv.Close()
	status, _, body := get(t, srv.URL+"/windows/w1")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	doc := parseHTML(t, body)
	checkInert(t, "/windows/w1", doc)
	text := textOf(doc)
	for _, want := range []string{"UTC late backport window", "1 ready, 1 blocked", "Estimated 20 min of 60 min",
		"445113 ready", "Fix <script>alert(1)</script> (T1001)", "445117 blocked", "merge conflict with a local security patch — ask the deployers"} {
		if !strings.Contains(text, want) {
			t.Errorf("page lacks %q:\n%s", want, text)
		}
	}
	if got := attrs(doc, "p a", "href"); len(got) != 1 || got[0] != "https://phab.example.org/T1001" {
		t.Errorf("the subject's task links to %q", got)
	}
	if strings.Contains(body, "SECRET") {
		t.Error("the page shows private security details")
	}
	if status, _, _ := get(t, srv.URL+"/windows/nope"); status != 404 {
		t.Errorf("unknown window: %d", status)
	}
}
