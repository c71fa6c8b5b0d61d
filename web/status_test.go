package web

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type fixedStatus struct{ p StatusPage }

func (f fixedStatus) StatusPage(context.Context) (*StatusPage, error) { p := f.p; return &p, nil }

func statusServer(t *testing.T, base string) *httptest.Server {
	t.Helper()
	p := StatusPage{Now: time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC),
		Deploy: &DeployView{ID: "7", By: "Amir", State: "running", Stage: "canaries", Started: time.Now(),
			Changes: []ChangeView{{Number: 445113, Subject: `<script>alert(1)</script>`, URL: "https://gerrit.example.org/r/c/445113"}},
			Stages:  []StageView{{Name: "canaries", Total: 2, Synced: 1, Failed: 1, Failures: []string{`mw1: <b>refused</b>`}, Current: true}}},
		Windows: []WindowView{{Day: "Today", Name: "UTC afternoon backport window", Start: time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC),
			End: time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC), Open: true, Claimed: "Amir", Queue: []string{"445113 by Alice"},
			Readiness: "1 ready, 0 blocked, checked 13:40 UTC", ReadinessID: "utc-afternoon-20261125T1400"}},
		Networks: []NetworkView{{Name: "libera", Connected: true, Status: "connected"}}}
	srv := httptest.NewServer(New(Options{BaseURL: base, Status: fixedStatus{p},
		Ready: []Check{{Name: "database", Func: func(context.Context) error { return nil }},
			{Name: "network libera", Func: func(context.Context) error { return errors.New("reconnecting in 4s") }}}}))
	t.Cleanup(srv.Close)
	return srv
}

func fetch(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// Behind a reverse proxy at a path prefix, the page's script and event
// stream are under the prefix of bot.base_url; the page may run only its
// own script, and hostile text is escaped.
func TestStatusPageBehindPrefix(t *testing.T) {
	srv := statusServer(t, "https://ops.example.org/jouncebot/")
	resp, body := fetch(t, srv.URL+"/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %s", resp.Status)
	}
	for _, want := range []string{`<script src="/jouncebot/static/status.js">`, `data-events="/jouncebot/status/events"`,
		`href="/jouncebot/sal"`, `<a href="/jouncebot/windows/utc-afternoon-20261125T1400">1 ready, 0 blocked, checked 13:40 UTC</a>`, "Claimed by Amir.", `&lt;script&gt;alert(1)&lt;/script&gt;`, `mw1: &lt;b&gt;refused&lt;/b&gt;`, "1/2 synced", "1 failed"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src 'unsafe-inline'") {
		t.Errorf("CSP of /: %q", csp)
	}
	resp, js := fetch(t, srv.URL+"/static/status.js")
	if resp.StatusCode != http.StatusOK || !strings.Contains(js, "EventSource") {
		t.Errorf("GET /static/status.js: %s", resp.Status)
	}
}

// The event stream sends the live part of the page at once.
func TestStatusEvents(t *testing.T) {
	srv := statusServer(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/status/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var event []string
	for sc.Scan() && sc.Text() != "" {
		event = append(event, sc.Text())
	}
	got := strings.Join(event, "\n")
	if !strings.HasPrefix(got, `data: <main id="live"`) || !strings.Contains(got, "data-stage=\"canaries\"") {
		t.Errorf("first event:\n%s", got)
	}
}

// /livez is 200 while serving; /readyz is 503 with a failing check, which
// ?verbose names.
func TestHealthEndpoints(t *testing.T) {
	srv := statusServer(t, "")
	resp, body := fetch(t, srv.URL+"/livez")
	if resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Errorf("/livez: %s %q", resp.Status, body)
	}
	resp, body = fetch(t, srv.URL+"/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable || body != "readyz check failed\n" {
		t.Errorf("/readyz: %s %q", resp.Status, body)
	}
	_, body = fetch(t, srv.URL+"/readyz?verbose")
	want := "[+]database ok\n[-]network libera failed: reconnecting in 4s\nreadyz check failed\n"
	if body != want {
		t.Errorf("/readyz?verbose:\n%s\nwant:\n%s", body, want)
	}
}

// The server refuses oversized headers and bodies.
func TestServerLimits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{})
	s.Handle("POST /echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		}
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + ln.Addr().String()

	req, _ := http.NewRequest("GET", base+"/livez", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 64 KiB header: %s", resp.Status)
	}
	resp, err = http.Post(base+"/echo", "text/plain", strings.NewReader(strings.Repeat("a", 1<<20)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a 1 MiB body: %s", resp.Status)
	}
}
