package check

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Errors lets traffic reach the freshly synced hosts for Wait, then asks a
// log or metrics server for the number of errors and fails at or above
// Threshold (scap fails canaries at 10 errors, production at 150).
//
// The server is either Elasticsearch (a _count query answering
// {"count": N}) or Prometheus (an instant query; the first sample's value
// is the count, and no series means no errors). URL, Query and Body may
// use {{.Window}} (the time waited, "20s") and {{.Since}} (when the wait
// began, RFC 3339 UTC).
type Errors struct {
	CheckName string
	URL       string
	Headers   map[string]string
	Wait      time.Duration
	// Format is "elasticsearch", "prometheus" or empty to recognise the
	// answer.
	Format string
	// Query is the Prometheus query, sent as the query parameter.
	Query string
	// Body, if set, is POSTed as JSON (an Elasticsearch query).
	Body      string
	Threshold float64
	Timeout   time.Duration // for the request; default 10s
	Client    *http.Client

	url, query, body *template.Template
}

// Name returns the check's name.
func (e *Errors) Name() string { return e.CheckName }

func (e *Errors) parse() error {
	var err error
	parse := func(name, text string) *template.Template {
		t, perr := template.New(name).Option("missingkey=error").Parse(text)
		if perr != nil && err == nil {
			err = fmt.Errorf("check %s: bad %s template: %w", e.CheckName, name, perr)
		}
		return t
	}
	e.url, e.query, e.body = parse("url", e.URL), parse("query", e.Query), parse("body", e.Body)
	return err
}

type window struct {
	Window string // "20s"
	Since  string // RFC 3339
}

// Run waits, then counts errors. A cancelled ctx ends the wait at once.
func (e *Errors) Run(ctx context.Context) Result {
	if e.url == nil {
		if err := e.parse(); err != nil {
			return e.fail("%s", err)
		}
	}
	since := time.Now()
	if e.Wait > 0 {
		t := time.NewTimer(e.Wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return e.fail("the wait for traffic was cancelled.")
		case <-t.C:
		}
	}
	w := window{Window: e.Wait.String(), Since: since.UTC().Format(time.RFC3339)}
	count, err := e.count(ctx, w)
	if err != nil {
		return e.fail("%s", err)
	}
	r := Result{Name: e.CheckName, Count: count}
	n := formatCount(count)
	if count >= e.Threshold {
		r.Text = fmt.Sprintf("%s failed: %s errors in %s, at or above the threshold of %s.", e.CheckName, n, e.Wait, formatCount(e.Threshold))
		return r
	}
	r.OK = true
	r.Text = fmt.Sprintf("%s: %s errors in %s, under the threshold of %s.", e.CheckName, n, e.Wait, formatCount(e.Threshold))
	return r
}

func (e *Errors) fail(format string, args ...any) Result {
	return Result{Name: e.CheckName, Text: e.CheckName + " failed: " + fmt.Sprintf(format, args...)}
}

func formatCount(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// count asks the server for the error count.
func (e *Errors) count(ctx context.Context, w window) (float64, error) {
	u, err := render(e.url, w)
	if err != nil {
		return 0, err
	}
	if e.Query != "" {
		q, err := render(e.query, w)
		if err != nil {
			return 0, err
		}
		pu, err := url.Parse(u)
		if err != nil {
			return 0, fmt.Errorf("%s is not a URL I can query", u)
		}
		vals := pu.Query()
		vals.Set("query", q)
		pu.RawQuery = vals.Encode()
		u = pu.String()
	}
	method, body := http.MethodGet, io.Reader(nil)
	if e.Body != "" {
		b, err := render(e.body, w)
		if err != nil {
			return 0, err
		}
		method, body = http.MethodPost, strings.NewReader(b)
	}
	timeout := orDefault(e.Timeout, 10*time.Second)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, fmt.Errorf("%s is not a URL I can query", u)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	setHeaders(req, e.Headers)
	resp, err := client(e.Client).Do(req)
	if err != nil {
		return 0, fmt.Errorf("the error count server at %s did not answer: %s", req.URL.Host, netReason(ctx, err, timeout))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, fmt.Errorf("the error count server at %s broke off its answer", req.URL.Host)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("the error count server at %s answered %s", req.URL.Host, resp.Status)
	}
	n, err := parseCount(data, e.Format)
	if err != nil {
		return 0, fmt.Errorf("the error count server at %s gave an answer I cannot read: %s", req.URL.Host, err)
	}
	return n, nil
}

func render(t *template.Template, w window) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, w); err != nil {
		return "", fmt.Errorf("the check's %s template failed: %w", t.Name(), err)
	}
	return b.String(), nil
}

// answer holds both answer shapes.
type answer struct {
	Count  *float64 `json:"count"` // Elasticsearch _count
	Status string   `json:"status"`
	Error  string   `json:"error"`
	Data   *struct {
		ResultType string `json:"resultType"`
		Result     json.RawMessage
	} `json:"data"` // Prometheus
}

// parseCount reads an Elasticsearch _count answer or a Prometheus instant
// query answer. format may be empty to accept either.
func parseCount(data []byte, format string) (float64, error) {
	var a answer
	if err := json.Unmarshal(data, &a); err != nil {
		return 0, fmt.Errorf("not JSON")
	}
	switch {
	case a.Count != nil && format != "prometheus":
		return *a.Count, nil
	case a.Data != nil && format != "elasticsearch":
		return promValue(a)
	case a.Status == "error":
		return 0, fmt.Errorf("the query failed: %s", a.Error)
	case format == "elasticsearch":
		return 0, fmt.Errorf(`no "count" field`)
	case format == "prometheus":
		return 0, fmt.Errorf(`no "data" field`)
	}
	return 0, fmt.Errorf(`neither an Elasticsearch "count" nor a Prometheus "data" field`)
}

func promValue(a answer) (float64, error) {
	switch a.Data.ResultType {
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(a.Data.Result, &v); err != nil {
			return 0, fmt.Errorf("a scalar result without a value")
		}
		return sampleValue(v[1])
	case "vector":
		var vs []struct {
			Value [2]any `json:"value"`
		}
		if err := json.Unmarshal(a.Data.Result, &vs); err != nil {
			return 0, fmt.Errorf("a vector result I cannot read")
		}
		if len(vs) == 0 {
			return 0, nil // no series: nothing went wrong
		}
		return sampleValue(vs[0].Value[1])
	}
	return 0, fmt.Errorf("a %q result; the query must give one number (an instant vector or scalar)", a.Data.ResultType)
}

func sampleValue(v any) (float64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("a sample value that is not a string")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) {
		// NaN comes from a ratio over no traffic, which proves nothing.
		return 0, fmt.Errorf("a sample value %q that is not a number", s)
	}
	return f, nil
}
