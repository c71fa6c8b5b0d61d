package wiki

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/config"
)

// fakeAPI answers each request with the next of answers (the last repeats).
func fakeAPI(t *testing.T, answers ...func(w http.ResponseWriter)) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		answers[min(i, len(answers)-1)](w)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func jsonAnswer(status int, body string, header ...string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

const parseOK = `{"parse":{"title":"Deployments","pageid":1,"revid":7,"text":"<p>hi</p>"}}`

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		answers   []func(http.ResponseWriter)
		wantCalls int32
		wantErr   string // empty: success
		wantUnav  bool
	}{
		{"maxlag then ok", []func(http.ResponseWriter){
			jsonAnswer(200, `{"error":{"code":"maxlag","info":"Waiting for db: 7 seconds lagged."}}`, "Retry-After", "0"),
			jsonAnswer(200, parseOK)}, 2, "", false},
		{"ratelimited then ok", []func(http.ResponseWriter){
			jsonAnswer(200, `{"error":{"code":"ratelimited","info":"slow down"}}`),
			jsonAnswer(200, parseOK)}, 2, "", false},
		{"503 twice then ok", []func(http.ResponseWriter){
			jsonAnswer(503, `busy`), jsonAnswer(502, `busy`), jsonAnswer(200, parseOK)}, 3, "", false},
		{"500 forever", []func(http.ResponseWriter){jsonAnswer(500, `oops`)}, 4,
			"answered HTTP 500 Internal Server Error", true},
		{"permanent API error is not retried", []func(http.ResponseWriter){
			jsonAnswer(200, `{"error":{"code":"permissiondenied","info":"You do not have permission."}}`)}, 1,
			"permissiondenied: You do not have permission.", false},
		{"HTML instead of JSON", []func(http.ResponseWriter){func(w http.ResponseWriter) {
			fmt.Fprint(w, "<!DOCTYPE html><html><body>LocalSettings.php not found.</body></html>")
		}}, 1, "did not answer with JSON", false},
		{"404", []func(http.ResponseWriter){jsonAnswer(404, `nope`)}, 1, "is this the URL of api.php?", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := fakeAPI(t, tt.answers...)
			c, err := New(Options{API: srv.URL + "/api.php", Retries: 3, RetryDelay: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			html, revid, err := c.Parse(context.Background(), "Deployments")
			if tt.wantErr == "" {
				if err != nil || html != "<p>hi</p>" || revid != 7 {
					t.Errorf("Parse = %q, %d, %v", html, revid, err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse error = %v, want it to contain %q", err, tt.wantErr)
			}
			if got := errors.Is(err, ErrUnavailable); got != tt.wantUnav {
				t.Errorf("errors.Is(err, ErrUnavailable) = %v, want %v (err %v)", got, tt.wantUnav, err)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("%d requests, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(block); srv.Close() })
	c, _ := New(Options{API: srv.URL, Timeout: 20 * time.Millisecond, Retries: 1, RetryDelay: time.Millisecond})
	_, _, err := c.Parse(context.Background(), "X")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no answer before the timeout") {
		t.Errorf("err = %v, want a timeout wrapped in ErrUnavailable", err)
	}
}

func TestPasswordNeverInErrors(t *testing.T) {
	const pw = "0123456789abcdefghijklmnopqrstuv"
	srv, _ := fakeAPI(t,
		jsonAnswer(200, `{"query":{"tokens":{"logintoken":"abc+\\"}}}`),
		jsonAnswer(200, `{"login":{"result":"Failed","reason":"Incorrect username or password entered."}}`))
	c, _ := New(Options{API: srv.URL, User: "DeployBot@ci", Password: config.NewSecret(pw)})
	err := c.Login(context.Background())
	if err == nil || strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "Incorrect username or password") {
		t.Errorf("Login error = %v", err)
	}
	if _, err := New(Options{API: "ftp://x", User: "a"}); err == nil {
		t.Error("New accepted an ftp URL")
	}
	if _, err := New(Options{API: srv.URL, User: "a"}); err == nil {
		t.Error("New accepted a user without a password")
	}
}

// TestEditLostAnswer: the wiki saves the edit but the answer is lost (HTTP
// 502 from a proxy). Edit must not save it twice: it re-reads the page and
// sees its text already there.
func TestEditLostAnswer(t *testing.T) {
	var (
		text  = "old"
		revid = 1
		edits atomic.Int32
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Form.Get("meta") == "tokens":
			fmt.Fprint(w, `{"query":{"tokens":{"csrftoken":"abc+\\"}}}`)
		case r.Form.Get("prop") == "revisions":
			fmt.Fprintf(w, `{"curtimestamp":"2024-01-01T00:00:00Z","query":{"pages":[{"title":"P","revisions":[{"revid":%d,"slots":{"main":{"content":%q}}}]}]}}`, revid, text)
		case r.Form.Get("action") == "edit":
			edits.Add(1)
			if r.Form.Get("baserevid") != fmt.Sprint(revid) || r.Form.Get("token") != `abc+\` {
				t.Errorf("edit with baserevid %q token %q", r.Form.Get("baserevid"), r.Form.Get("token"))
			}
			text, revid = r.Form.Get("text"), revid+1
			w.WriteHeader(http.StatusBadGateway)
		default:
			t.Errorf("unexpected request %v", r.Form)
		}
	}))
	t.Cleanup(srv.Close)
	c, _ := New(Options{API: srv.URL, RetryDelay: time.Millisecond})
	calls := 0
	res, err := c.Edit(context.Background(), "P", func(old string) string { calls++; return old + " new" }, "")
	if err != nil || !res.Changed || res.RevID != 2 {
		t.Errorf("Edit = %+v, %v; want saved as revision 2", res, err)
	}
	if text != "old new" || edits.Load() != 1 || calls != 1 {
		t.Errorf("text %q after %d edit requests and %d transforms; want one of each", text, edits.Load(), calls)
	}
}
