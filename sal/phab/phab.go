// Package phab talks to Phabricator's Conduit API and comments on the tasks
// Server Admin Log entries mention, never on security tasks.
//
//	c := phab.New(cfg.SAL.Phabricator.URL, cfg.SAL.Phabricator.Token.Value(), nil)
//	w := phab.NewWriter(c, cfg.SAL.Phabricator.SecurityProjects, logger)
//	route := phab.Route(w, cfg) // give it to sal.Options.Routes
//
// Conduit calls are POSTs to <url>/api/<method> with form-encoded fields:
// params (the JSON-encoded parameters, with the token in __conduit__),
// api.token, output=json. Answers are {"result", "error_code", "error_info"}.
package phab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/sal"
)

// Client calls Conduit methods.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client for the Phabricator at baseURL. A nil httpClient
// means one with a 30-second timeout.
func New(baseURL, token string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, http: httpClient}
}

// Error is an error Conduit answered with.
type Error struct {
	Method string
	Code   string // e.g. ERR-CONDUIT-CORE, ERR-INVALID-AUTH
	Info   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("phabricator: %s: %s: %s", e.Method, e.Code, e.Info)
}

// Call calls a Conduit method with params and decodes its result into
// result (when not nil).
func (c *Client) Call(ctx context.Context, method string, params map[string]any, result any) error {
	p := map[string]any{"__conduit__": map[string]any{"token": c.token}}
	for k, v := range params {
		p[k] = v
	}
	pj, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("phabricator: %s: encode params: %w", method, err)
	}
	form := url.Values{"params": {string(pj)}, "api.token": {c.token}, "output": {"json"}, "__conduit__": {"1"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/"+method, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("phabricator: %s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("phabricator: %s: %w", method, c.redactErr(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("phabricator: %s: read answer: %w", method, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("phabricator: %s: HTTP %s", method, resp.Status)
	}
	var out struct {
		Result    json.RawMessage `json:"result"`
		ErrorCode *string         `json:"error_code"`
		ErrorInfo *string         `json:"error_info"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("phabricator: %s: the answer is not Conduit JSON (HTTP %d, %d bytes)", method, resp.StatusCode, len(body))
	}
	if out.ErrorCode != nil && *out.ErrorCode != "" {
		info := ""
		if out.ErrorInfo != nil {
			info = c.redact(*out.ErrorInfo)
		}
		return &Error{Method: method, Code: *out.ErrorCode, Info: info}
	}
	if result != nil {
		if err := json.Unmarshal(out.Result, result); err != nil {
			return fmt.Errorf("phabricator: %s: decode result: %w", method, err)
		}
	}
	return nil
}

// redact keeps the token out of errors (Conduit echoes bad tokens).
func (c *Client) redact(s string) string {
	if c.token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.token, "[redacted]")
}

func (c *Client) redactErr(err error) error {
	if c.token != "" && strings.Contains(err.Error(), c.token) {
		return errors.New(c.redact(err.Error()))
	}
	return err
}

// Task is what the writer needs to know about a task.
type Task struct {
	ID         int
	PHID       string
	Subtype    string
	ViewPolicy string
	Projects   []string // PHIDs
}

// ErrNoTask is returned by Task for a task that does not exist or that the
// bot cannot see.
var ErrNoTask = errors.New("phabricator: no such task, or the bot cannot see it")

// Task looks a task up with maniphest.search.
func (c *Client) Task(ctx context.Context, id int) (*Task, error) {
	var res struct {
		Data []struct {
			ID     int    `json:"id"`
			PHID   string `json:"phid"`
			Fields struct {
				Subtype string `json:"subtype"`
				Policy  struct {
					View string `json:"view"`
				} `json:"policy"`
			} `json:"fields"`
			Attachments struct {
				Projects struct {
					ProjectPHIDs []string `json:"projectPHIDs"`
				} `json:"projects"`
			} `json:"attachments"`
		} `json:"data"`
	}
	err := c.Call(ctx, "maniphest.search", map[string]any{
		"constraints": map[string]any{"ids": []int{id}},
		"attachments": map[string]any{"projects": true},
	}, &res)
	if err != nil {
		return nil, err
	}
	for _, d := range res.Data {
		if d.ID == id {
			return &Task{ID: d.ID, PHID: d.PHID, Subtype: d.Fields.Subtype, ViewPolicy: d.Fields.Policy.View, Projects: d.Attachments.Projects.ProjectPHIDs}, nil
		}
	}
	return nil, ErrNoTask
}

// Comment adds a comment to a task ("T123") with maniphest.edit.
func (c *Client) Comment(ctx context.Context, task, text string) error {
	return c.Call(ctx, "maniphest.edit", map[string]any{
		"objectIdentifier": task,
		"transactions":     []map[string]any{{"type": "comment", "value": text}},
	}, nil)
}

// ProjectPHIDs resolves project tags (slugs) to PHIDs with project.search.
func (c *Client) ProjectPHIDs(ctx context.Context, slugs []string) (map[string]string, error) {
	var res struct {
		Data []struct {
			PHID   string `json:"phid"`
			Fields struct {
				Slug string `json:"slug"`
			} `json:"fields"`
		} `json:"data"`
	}
	if err := c.Call(ctx, "project.search", map[string]any{"constraints": map[string]any{"slugs": slugs}}, &res); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, d := range res.Data {
		out[d.Fields.Slug] = d.PHID
	}
	return out, nil
}

// Writer comments on the tasks SAL entries mention. It implements
// sal.Writer for items whose Part is a task id ("T123").
type Writer struct {
	c   *Client
	log *slog.Logger

	mu       sync.Mutex
	security map[string]bool // project PHIDs
	slugs    []string        // still to resolve
}

// NewWriter returns a writer that never comments on tasks tagged with the
// security projects (PHIDs or tags).
func NewWriter(c *Client, securityProjects []string, log *slog.Logger) *Writer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Writer{c: c, log: log.With("component", "phabricator"), security: map[string]bool{}}
	for _, p := range securityProjects {
		if strings.HasPrefix(p, "PHID-PROJ-") {
			w.security[p] = true
		} else {
			w.slugs = append(w.slugs, strings.TrimPrefix(p, "#"))
		}
	}
	return w
}

// Route is the outbox route for Phabricator comments: one item per distinct
// task of each entry whose project has comments enabled.
func Route(w *Writer, cfg *config.Config) sal.Route {
	return sal.Route{
		Name:        "phabricator",
		Description: "Phabricator",
		Writer:      w,
		Parts: func(e sal.Entry) []string {
			if p := cfg.SAL.SALProjectByName(e.Project); p != nil && cfg.SAL.PhabricatorEnabled(p) {
				return e.Tasks
			}
			return nil
		},
	}
}

// publicViews are view policies of tasks anyone (or any user) can see.
// Security tasks have custom or restricted policies.
var publicViews = map[string]bool{"public": true, "users": true}

// Write comments on the task it.Part, unless it is a security task.
func (w *Writer) Write(ctx context.Context, it sal.Item) error {
	id, err := strconv.Atoi(strings.TrimPrefix(it.Part, "T"))
	if err != nil || !strings.HasPrefix(it.Part, "T") {
		return sal.PermanentError(fmt.Errorf("phabricator: %q is not a task id", it.Part))
	}
	sec, err := w.securityProjects(ctx)
	if err != nil {
		return err
	}
	task, err := w.c.Task(ctx, id)
	if errors.Is(err, ErrNoTask) {
		return sal.PermanentError(fmt.Errorf("phabricator: T%d: %w", id, err))
	}
	if err != nil {
		return err
	}
	if why := securityReason(task, sec); why != "" {
		w.log.Info("not commenting on a security task", "task", it.Part, "entry", it.Entry.ID, "why", why)
		return nil
	}
	err = w.c.Comment(ctx, it.Part, CommentText(it))
	var ce *Error
	if errors.As(err, &ce) && ce.Code == "ERR-CONDUIT-CORE" {
		return sal.PermanentError(err)
	}
	return err
}

func securityReason(t *Task, security map[string]bool) string {
	switch {
	case strings.EqualFold(t.Subtype, "security"):
		return "security subtype"
	case !publicViews[t.ViewPolicy]:
		return "restricted view policy " + t.ViewPolicy
	}
	for _, p := range t.Projects {
		if security[p] {
			return "tagged with security project " + p
		}
	}
	return ""
}

// securityProjects returns the security project PHIDs, resolving tags the
// first time they are needed.
func (w *Writer) securityProjects(ctx context.Context) (map[string]bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.slugs) > 0 {
		m, err := w.c.ProjectPHIDs(ctx, w.slugs)
		if err != nil {
			return nil, err
		}
		for _, s := range w.slugs {
			phid, ok := m[s]
			if !ok {
				return nil, fmt.Errorf("phabricator: security project %q does not exist; fix sal.phabricator.security_projects", s)
			}
			w.security[phid] = true
		}
		w.slugs = nil
	}
	return w.security, nil
}

// CommentText is the comment for an item, as the SAL bots have always
// written it: Mentioned in SAL (#channel) [time] <nick> message.
func CommentText(it sal.Item) string {
	e := it.Entry
	where := e.Room
	if where == "" {
		where = e.Project
	}
	s := fmt.Sprintf("Mentioned in SAL (%s) [%s] <%s> %s", where, e.Time.UTC().Format(time.RFC3339), e.Nick, e.Message)
	if it.Permalink != "" {
		s += " (" + it.Permalink + ")"
	}
	return s
}
