package canary

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Source fetches a metric's samples, host by host, over a period.
type Source interface {
	// Samples runs q for hosts over [from, to] at step and returns each
	// host's values. A host without data is absent from the map.
	Samples(ctx context.Context, q Query) (map[string][]float64, error)
}

// Query asks for one metric over one period.
type Query struct {
	// Template is the PromQL template; {{.Hosts}} is a regular
	// expression matching the hosts' instance labels, escaped for a
	// double-quoted PromQL string, e.g.
	// sum by (instance) (rate(mediawiki_exceptions_total{instance=~"{{.Hosts}}"}[1m])).
	Template string
	Hosts    []string
	From, To time.Time
	Step     time.Duration
	// Label names the series label that says the host (default
	// "instance"); its value is the host's name, optionally followed by
	// ":port".
	Label string
}

// HostsPattern is the regular expression {{.Hosts}} stands for: any of
// the hosts, with or without a port.
func HostsPattern(hosts []string) string {
	q := make([]string, len(hosts))
	for i, h := range hosts {
		q[i] = regexp.QuoteMeta(h)
	}
	return "(" + strings.Join(q, "|") + ")(:[0-9]+)?"
}

// Render fills the template in.
func (q Query) Render() (string, error) {
	t, err := template.New("query").Option("missingkey=error").Parse(q.Template)
	if err != nil {
		return "", fmt.Errorf("query template: %w", err)
	}
	var b strings.Builder
	// The pattern goes inside a double-quoted PromQL string, where a
	// backslash must itself be escaped.
	inString := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(HostsPattern(q.Hosts))
	if err := t.Execute(&b, struct{ Hosts string }{inString}); err != nil {
		return "", fmt.Errorf("query template: %w", err)
	}
	return b.String(), nil
}

// Prometheus is a Source that asks a Prometheus server's range query API.
type Prometheus struct {
	// URL is the server's base URL (http://prometheus:9090).
	URL    string
	Client *http.Client // default http.DefaultClient
	// Timeout bounds each request (default 30s).
	Timeout time.Duration
}

// maxAnswer bounds what is read of an answer.
const maxAnswer = 32 << 20

// Samples runs a range query.
func (p *Prometheus) Samples(ctx context.Context, q Query) (map[string][]float64, error) {
	expr, err := q.Render()
	if err != nil {
		return nil, err
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v := url.Values{}
	v.Set("query", expr)
	v.Set("start", strconv.FormatFloat(float64(q.From.UnixMilli())/1000, 'f', 3, 64))
	v.Set("end", strconv.FormatFloat(float64(q.To.UnixMilli())/1000, 'f', 3, 64))
	step := q.Step
	if step <= 0 {
		step = 15 * time.Second
	}
	v.Set("step", strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(p.URL, "/")+"/api/v1/query_range", strings.NewReader(v.Encode()))
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := p.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("prometheus: read answer: %w", err)
	}
	if len(body) > maxAnswer {
		return nil, fmt.Errorf("prometheus: answer larger than %d MiB", maxAnswer>>20)
	}
	var ans struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, fmt.Errorf("prometheus: answered %s with something that is not its JSON", resp.Status)
	}
	if ans.Status != "success" {
		return nil, fmt.Errorf("prometheus: query failed (%s): %s", ans.ErrorType, ans.Error)
	}
	if ans.Data.ResultType != "matrix" {
		return nil, fmt.Errorf("prometheus: a range query answered %q, not a matrix", ans.Data.ResultType)
	}
	label := q.Label
	if label == "" {
		label = "instance"
	}
	out := map[string][]float64{}
	for _, s := range ans.Data.Result {
		host, ok := hostOf(s.Metric[label], q.Hosts)
		if !ok {
			continue
		}
		for _, pair := range s.Values {
			str, _ := pair[1].(string)
			f, err := strconv.ParseFloat(str, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				continue
			}
			out[host] = append(out[host], f)
		}
	}
	return out, nil
}

// hostOf finds which host a label value names: the host itself or
// host:port.
func hostOf(v string, hosts []string) (string, bool) {
	for _, h := range hosts {
		if v == h || strings.HasPrefix(v, h+":") {
			return h, true
		}
	}
	return "", false
}
