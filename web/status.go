package web

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/sal/wikitext"
)

// StatusPage is what the status page at / shows: plain values the app
// fills in, so that the page knows nothing of the engine or the calendar.
type StatusPage struct {
	Now      time.Time
	Deploy   *DeployView // the deploy holding the lock; nil when none
	Recent   []RecentDeploy
	Windows  []WindowView // today's and tomorrow's
	Freezes  []string
	Networks []NetworkView
	Outboxes []OutboxView
	// Problems are parts that could not be read, as sentences.
	Problems []string
}

// DeployView is the running deploy.
type DeployView struct {
	ID      string
	By      string
	Reason  string
	State   string // running, paused, approval, done, failed, aborted
	Stage   string // the step it is at
	Doing   string // a sentence: what it waits for, if anything
	Changes []ChangeView
	Stages  []StageView
	Started time.Time
	Elapsed time.Duration
	Last    string // the last line it said
	Lock    string // who holds the lock, since when, why
}

// ChangeView is one change of a deploy.
type ChangeView struct {
	Number  int
	Subject string
	URL     string
}

// StageView is one sync stage of the running deploy.
type StageView struct {
	Name     string
	Total    int
	Synced   int
	Failed   int
	Failures []string // "host: error", the first few
	Current  bool
	Checks   string // "passed", "failed: …", "" when not run
	Gate     string // "waiting for …", "passed", ""
}

// RecentDeploy is a line of the last deploys.
type RecentDeploy struct {
	ID       string
	By       string
	Outcome  string
	Changes  string
	Started  time.Time
	Duration time.Duration
}

// WindowView is a window of today or tomorrow.
type WindowView struct {
	Day       string // "Today", "Tomorrow"
	Name      string
	URL       string
	Start     time.Time
	End       time.Time
	Open      bool
	Ended     bool
	Deployers []string
	Claimed   string // who claimed it
	Queue     []string
	// Readiness sums up the window's readiness check, if one ran
	// ("3 ready, 1 blocked, checked 13:40 UTC"); ReadinessID names its
	// report at /windows/<id>.
	Readiness   string
	ReadinessID string
}

// NetworkView is a chat network's state.
type NetworkView struct {
	Name      string
	Connected bool
	Status    string
}

// OutboxView is an outbox route's backlog.
type OutboxView struct {
	Route       string
	Description string
	Pending     int
	Oldest      time.Time
}

// StatusSource builds the status page's content.
type StatusSource interface {
	StatusPage(ctx context.Context) (*StatusPage, error)
}

//go:embed static/status.js
var statusJS []byte

// statusCSP lets the status page run its own script (same origin, no
// inline code) and open its event stream; everything else stays as strict
// as on the SAL pages.
const statusCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func (s *Server) statusRoutes() {
	s.mux.HandleFunc("GET /{$}", s.statusPage)
	s.mux.HandleFunc("GET /status/events", s.statusEvents)
	s.mux.HandleFunc("GET /static/status.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(statusJS)
	})
}

// renderStatus renders the template name ("status" or "status-live").
func (s *Server) renderStatus(ctx context.Context, name string) ([]byte, error) {
	p, err := s.opts.Status.StatusPage(ctx)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, statusData{StatusPage: p, Base: s.prefix, links: s.opts.Links}); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

type statusData struct {
	*StatusPage
	Base  string // the public URL's path prefix comes from here
	links *wikitext.Renderer
}

// Wiki renders a line the deploy said (wikitext, like its SAL lines).
func (d statusData) Wiki(s string) template.HTML { return d.links.HTML(s) }

func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) {
	b, err := s.renderStatus(r.Context(), "status")
	if err != nil {
		s.log.Error("status page", "err", err)
		http.Error(w, "The status could not be read; the details are in the bot's log.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Security-Policy", statusCSP)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

// statusEvents streams the live part of the status page as Server-Sent
// Events: once at once, then whenever it changes (looked at every
// Options.StatusEvery), until the client goes away.
func (s *Server) statusEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	every := s.opts.StatusEvery
	if every <= 0 {
		every = time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var last []byte
	sent := time.Now()
	for {
		b, err := s.renderStatus(r.Context(), "status-live")
		if err != nil && r.Context().Err() == nil {
			s.log.Warn("status events", "err", err)
		}
		var out []byte
		switch {
		case err == nil && !bytes.Equal(b, last):
			last, out = b, eventBytes(b)
		case time.Since(sent) > keepAlive:
			out = []byte(": keep-alive\n\n") // proxies close streams that stay silent
		}
		if out != nil {
			rc.SetWriteDeadline(time.Now().Add(writeTimeout))
			if _, err := w.Write(out); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			sent = time.Now()
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

var statusFuncs = template.FuncMap{
	"chart": chart,
	"dur":   fmtDur,
	"join":  func(s []string) string { return strings.Join(s, ", ") },
	"pct": func(n, total int) int {
		if total <= 0 {
			return 0
		}
		return min(100, n*100/total)
	},
}

// fmtDur is "42s", "3m05s" or "1h02m".
func fmtDur(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// keepAlive is the longest the event stream stays silent.
const keepAlive = 15 * time.Second

// eventBytes is one SSE message whose data is b, line by line.
func eventBytes(b []byte) []byte {
	var sb strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		sb.WriteString("data: ")
		sb.WriteString(strings.TrimSuffix(l, "\r"))
		sb.WriteString("\n")
	}
	sb.WriteString("\n")
	return []byte(sb.String())
}
