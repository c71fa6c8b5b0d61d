package check

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/config"
)

func TestHTTPCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/slow":
			<-r.Context().Done()
		case r.Header.Get("X-Wikimedia-Debug") == "backend=mwdebug1001":
			io.WriteString(w, "<title>Main Page - Wikipedia</title>")
		default:
			http.Error(w, "fatal error", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	debug := map[string]string{"X-Wikimedia-Debug": "backend=mwdebug1001"}
	tests := []struct {
		name  string
		check HTTP
		want  Result
	}{
		{"ok through the debug header", HTTP{CheckName: "smoke", URL: srv.URL + "/wiki/Main_Page", Headers: debug, Contains: "Main Page"},
			Result{Name: "smoke", OK: true, Text: "smoke: " + srv.URL + "/wiki/Main_Page answered 200 as expected."}},
		{"wrong status", HTTP{CheckName: "smoke", URL: srv.URL + "/wiki/Main_Page"},
			Result{Name: "smoke", Text: "smoke failed: " + srv.URL + "/wiki/Main_Page answered 500 Internal Server Error, expected 200."}},
		{"expected status", HTTP{CheckName: "smoke", URL: srv.URL + "/", Status: 500},
			Result{Name: "smoke", OK: true, Text: "smoke: " + srv.URL + "/ answered 500 as expected."}},
		{"missing text", HTTP{CheckName: "smoke", URL: srv.URL + "/", Headers: debug, Contains: "Special:Version"},
			Result{Name: "smoke", Text: "smoke failed: " + srv.URL + `/ answered 200 but the page does not contain "Special:Version".`}},
		{"timeout", HTTP{CheckName: "smoke", URL: srv.URL + "/slow", Timeout: 50 * time.Millisecond},
			Result{Name: "smoke", Text: "smoke failed: " + srv.URL + "/slow did not answer: no answer within 50ms."}},
		{"refused", HTTP{CheckName: "smoke", URL: "http://127.0.0.1:1/"},
			Result{Name: "smoke", Text: "smoke failed: http://127.0.0.1:1/ did not answer: connection refused."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.check.Run(t.Context())); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrorsCheckAnswers(t *testing.T) {
	answer := ""
	var got *http.Request
	var gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		if answer == "500" {
			http.Error(w, "oops", 500)
			return
		}
		io.WriteString(w, answer)
	}))
	defer srv.Close()
	es := func() *Errors {
		return &Errors{CheckName: "canary errors", URL: srv.URL + "/logstash-*/_count", Body: `{"query":{"range":{"@timestamp":{"gte":"now-{{.Window}}"}}}}`, Threshold: 10}
	}
	prom := func() *Errors {
		return &Errors{CheckName: "canary errors", URL: srv.URL + "/api/v1/query", Format: "prometheus", Query: `sum(increase(mediawiki_errors_total[{{.Window}}]))`, Threshold: 10}
	}
	tests := []struct {
		name   string
		check  *Errors
		answer string
		want   Result
	}{
		{"elasticsearch under", es(), `{"count":3,"_shards":{"total":5}}`,
			Result{Name: "canary errors", OK: true, Count: 3, Text: "canary errors: 3 errors in 0s, under the threshold of 10."}},
		{"elasticsearch at threshold", es(), `{"count":10}`,
			Result{Name: "canary errors", Count: 10, Text: "canary errors failed: 10 errors in 0s, at or above the threshold of 10."}},
		{"prometheus vector", prom(), `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1435781451.781,"42"]}]}}`,
			Result{Name: "canary errors", Count: 42, Text: "canary errors failed: 42 errors in 0s, at or above the threshold of 10."}},
		{"prometheus no series", prom(), `{"status":"success","data":{"resultType":"vector","result":[]}}`,
			Result{Name: "canary errors", OK: true, Text: "canary errors: 0 errors in 0s, under the threshold of 10."}},
		{"prometheus scalar", prom(), `{"status":"success","data":{"resultType":"scalar","result":[1435781451.781,"2.5"]}}`,
			Result{Name: "canary errors", OK: true, Count: 2.5, Text: "canary errors: 2.5 errors in 0s, under the threshold of 10."}},
		{"prometheus NaN", prom(), `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}`,
			Result{Name: "canary errors", Text: `canary errors failed: the error count server at ` + strings.TrimPrefix(srv.URL, "http://") + ` gave an answer I cannot read: a sample value "NaN" that is not a number`}},
		{"prometheus error", prom(), `{"status":"error","errorType":"bad_data","error":"parse error at char 5"}`,
			Result{Name: "canary errors", Text: `canary errors failed: the error count server at ` + strings.TrimPrefix(srv.URL, "http://") + ` gave an answer I cannot read: the query failed: parse error at char 5`}},
		{"server error", es(), "500",
			Result{Name: "canary errors", Text: `canary errors failed: the error count server at ` + strings.TrimPrefix(srv.URL, "http://") + ` answered 500 Internal Server Error`}},
		{"not JSON", es(), "<html>",
			Result{Name: "canary errors", Text: `canary errors failed: the error count server at ` + strings.TrimPrefix(srv.URL, "http://") + ` gave an answer I cannot read: not JSON`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answer = tt.answer
			if diff := cmp.Diff(tt.want, tt.check.Run(t.Context())); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// What was sent: Elasticsearch gets the query POSTed as JSON,
	// Prometheus gets it as the query parameter.
	answer = `{"count":0}`
	es().Run(t.Context())
	if got.Method != "POST" || got.Header.Get("Content-Type") != "application/json" || gotBody != `{"query":{"range":{"@timestamp":{"gte":"now-0s"}}}}` {
		t.Errorf("elasticsearch request: %s %s %q", got.Method, got.Header.Get("Content-Type"), gotBody)
	}
	answer = `{"status":"success","data":{"resultType":"vector","result":[]}}`
	prom().Run(t.Context())
	if got.Method != "GET" || got.URL.Query().Get("query") != "sum(increase(mediawiki_errors_total[0s]))" {
		t.Errorf("prometheus request: %s %s", got.Method, got.URL)
	}
}

func TestErrorsCheckWaitsForTraffic(t *testing.T) {
	var requests atomic.Int32
	var query atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		query.Store(r.URL.Query().Get("query"))
		io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[{"value":[0,"4"]}]}}`)
	}))
	defer srv.Close()
	// A fresh client per bubble: keep-alive connections would outlive it.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	synctest.Test(t, func(t *testing.T) {
		c := &Errors{CheckName: "errors", URL: srv.URL + "/api/v1/query", Format: "prometheus", Client: client,
			Query: `sum(increase(errors_total{since="{{.Since}}"}[{{.Window}}]))`, Wait: 20 * time.Second, Threshold: 10}
		done := make(chan Result)
		go func() { done <- c.Run(t.Context()) }()
		time.Sleep(19 * time.Second)
		synctest.Wait()
		if n := requests.Load(); n != 0 {
			t.Fatalf("%d queries after 19s, want none before the 20s wait is over", n)
		}
		time.Sleep(time.Second)
		r := <-done
		if !r.OK || r.Text != "errors: 4 errors in 20s, under the threshold of 10." {
			t.Errorf("result = %+v", r)
		}
		if got, want := query.Load(), `sum(increase(errors_total{since="2000-01-01T00:00:00Z"}[20s]))`; got != want {
			t.Errorf("query = %q, want %q", got, want)
		}

		// Cancelled during the wait: no query, and a clear answer.
		ctx, cancel := context.WithCancel(t.Context())
		go func() { done <- c.Run(ctx) }()
		time.Sleep(5 * time.Second)
		cancel()
		r = <-done
		if r.OK || r.Text != "errors failed: the wait for traffic was cancelled." || requests.Load() != 1 {
			t.Errorf("cancelled: %+v after %d queries", r, requests.Load())
		}
	})
}

func TestFromConfig(t *testing.T) {
	cs, err := FromConfig([]config.Check{
		{Name: "smoke", Type: config.CheckHTTP, URL: "http://x/", Status: 200},
		{Name: "errors", Type: config.CheckErrors, URL: "http://x/_count", Threshold: 10, Wait: time.Second},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Name() != "smoke" || cs[1].Name() != "errors" {
		t.Errorf("checks = %v", cs)
	}
	if _, err := FromConfig([]config.Check{{Name: "bad", Type: config.CheckErrors, Body: "{{"}}, nil); err == nil {
		t.Error("a bad body template was accepted")
	}
}
