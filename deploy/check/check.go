// Package check runs the checks a deploy stage makes after its sync: HTTP
// smoke checks (a URL answers with the expected status, optionally through
// a debug-routing header) and an error-rate check (let traffic flow for a
// while, then ask Elasticsearch or Prometheus how many errors there were).
//
//	cs, err := check.FromConfig(stage.Checks, nil)
//	for _, c := range cs {
//		r := c.Run(ctx)
//		say(r.Text) // "errors: 3 errors in 20s, under the threshold of 10."
//		if !r.OK { offerRetryRollbackContinue() }
//	}
//
// Run never returns a Go error: every outcome, including a server that
// cannot be reached, is a Result whose Text is a sentence for the channel.
// The wait of an error-rate check ends early when ctx is cancelled.
package check

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy/canary"
)

// Check is one check.
type Check interface {
	// Name is how the check is called in chat.
	Name() string
	// Run runs the check.
	Run(ctx context.Context) Result
}

// Result is a check's outcome.
type Result struct {
	Name string
	OK   bool
	// Text says what was found, as a sentence for the channel.
	Text string
	// Count is the error count an error-rate check found.
	Count float64
	// Marginal is set when a canary analysis neither passed nor failed:
	// the deployer decides.
	Marginal bool
	// Analysis is a canary analysis's samples and judgement, for its
	// report page.
	Analysis *canary.Analysis
}

// FromConfig builds the checks of a stage. client may be nil. A canary
// check reads the Prometheus server at its URL.
func FromConfig(cs []config.Check, client *http.Client) ([]Check, error) {
	if client == nil {
		client = http.DefaultClient
	}
	var out []Check
	for _, c := range cs {
		switch c.Type {
		case config.CheckHTTP:
			out = append(out, &HTTP{CheckName: c.Name, URL: c.URL, Headers: c.Headers, Status: c.Status,
				Contains: c.Contains, Timeout: c.Timeout, Client: client})
		case config.CheckErrors:
			e := &Errors{CheckName: c.Name, URL: c.URL, Headers: c.Headers, Wait: c.Wait, Format: c.Format,
				Query: c.Query, Body: c.Body, Threshold: c.Threshold, Timeout: c.Timeout, Client: client}
			if err := e.parse(); err != nil {
				return nil, err
			}
			out = append(out, e)
		case config.CheckCanary:
			cc, err := canaryFromConfig(c, &canary.Prometheus{URL: c.URL, Client: client, Timeout: c.Timeout})
			if err != nil {
				return nil, err
			}
			out = append(out, cc)
		default:
			return nil, fmt.Errorf("check %s: unknown type %q", c.Name, c.Type)
		}
	}
	return out, nil
}

// HTTP checks that a URL answers with the expected status.
type HTTP struct {
	CheckName string
	URL       string
	// Headers are sent with the request (e.g. X-Wikimedia-Debug to reach
	// a test server).
	Headers map[string]string
	// Status is the expected status (default 200).
	Status int
	// Contains, if set, must appear in the response body.
	Contains string
	Timeout  time.Duration // default 10s
	Client   *http.Client  // default http.DefaultClient
}

// Name returns the check's name.
func (h *HTTP) Name() string { return h.CheckName }

// Run fetches the URL once.
func (h *HTTP) Run(ctx context.Context) Result {
	want := h.Status
	if want == 0 {
		want = http.StatusOK
	}
	ctx, cancel := context.WithTimeout(ctx, orDefault(h.Timeout, 10*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return h.fail("%s is not a URL I can fetch.", h.URL)
	}
	setHeaders(req, h.Headers)
	resp, err := client(h.Client).Do(req)
	if err != nil {
		return h.fail("%s did not answer: %s.", h.URL, netReason(ctx, err, h.Timeout))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return h.fail("%s answered %s, expected %d.", h.URL, resp.Status, want)
	}
	if h.Contains != "" && !strings.Contains(string(body), h.Contains) {
		return h.fail("%s answered %d but the page does not contain %q.", h.URL, resp.StatusCode, h.Contains)
	}
	return Result{Name: h.CheckName, OK: true, Text: fmt.Sprintf("%s: %s answered %d as expected.", h.CheckName, h.URL, resp.StatusCode)}
}

func (h *HTTP) fail(format string, args ...any) Result {
	return Result{Name: h.CheckName, Text: h.CheckName + " failed: " + fmt.Sprintf(format, args...)}
}

func setHeaders(req *http.Request, headers map[string]string) {
	for k, v := range headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
}

func client(c *http.Client) *http.Client {
	if c == nil {
		return http.DefaultClient
	}
	return c
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// netReason says why a request failed, without the URL again.
func netReason(ctx context.Context, err error, timeout time.Duration) string {
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Sprintf("no answer within %s", orDefault(timeout, 10*time.Second))
	}
	return lastPart(err.Error())
}

// lastPart is the last part of an error chain ("connection refused"),
// the words a person can act on.
func lastPart(msg string) string {
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}
