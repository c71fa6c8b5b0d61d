// Package web is jouncebot's HTTP server: the Server Admin Log pages, its
// Atom feeds and JSON API, and whatever other handlers the app adds (the
// calendar feed). Pages are plain server-rendered HTML with no external
// assets, readable on a phone.
//
//	srv := web.New(web.Options{SAL: log, BaseURL: cfg.Bot.BaseURL, …})
//	srv.Handle("GET /calendar.ics", calendarHandler)
//	err := srv.ListenAndServe(ctx, cfg.Bot.HTTP) // until ctx is done
package web

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/sal"
	"github.com/jouncebot/jouncebot/sal/wikitext"
)

// SAL is what the pages read from the Server Admin Log; *sal.Log has it.
type SAL interface {
	Search(ctx context.Context, q sal.Query) (sal.Result, error)
	Get(ctx context.Context, id uint64) (sal.Entry, error)
	Projects() []string
}

// Options configure the server.
type Options struct {
	// SAL, when set, serves /sal, /sal/<project>, /sal/log/<id>,
	// /sal/atom/<project> and /api/sal.
	SAL SAL
	// BaseURL is the public URL of the server, for absolute links (feeds,
	// the API). Empty means the URL the request came to.
	BaseURL string
	// Readiness, when set, serves /windows/<id>, the full readiness report.
	Readiness Readiness
	// Links render the wikitext of log lines and deploy messages; nil
	// links bare URLs only.
	Links *wikitext.Renderer
	// Logger receives request errors; nil discards them.
	Logger *slog.Logger
	// Status, when set, serves the status page at / with its live
	// updates at /status/events, looked at every StatusEvery (default 1s).
	Status      StatusSource
	StatusEvery time.Duration
	// Metrics, when set, serves /metrics.
	Metrics http.Handler
	// Ready are the checks of /readyz; /livez needs none.
	Ready []Check
	// Canary, when set, serves /deploys/<id>/canary, the report of a
	// deploy's canary analyses.
	Canary CanaryReports
}

// Limits of the HTTP server. Only small GET requests are expected; the
// status page's event stream extends its own write deadline.
const (
	readTimeout    = 10 * time.Second
	writeTimeout   = 30 * time.Second
	idleTimeout    = 2 * time.Minute
	maxHeaderBytes = 16 << 10
	maxBodyBytes   = 64 << 10
)

// Server is the HTTP server. Add handlers with Handle before serving.
type Server struct {
	mux    *patternMux
	opts   Options
	log    *slog.Logger
	prefix string // the path of BaseURL, for links behind a reverse proxy
}

// New returns a server with the SAL pages (when opts.SAL is set).
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	if opts.Links == nil {
		opts.Links = &wikitext.Renderer{}
	}
	s := &Server{mux: &patternMux{ServeMux: http.NewServeMux()}, opts: opts, log: opts.Logger.With("component", "web")}
	if u, err := url.Parse(opts.BaseURL); err == nil {
		// One leading slash: "//host/…" in a link is another host.
		if p := strings.Trim(u.Path, "/"); p != "" {
			s.prefix = path.Clean("/" + p)
		}
	}
	s.healthRoutes()
	if opts.Metrics != nil {
		s.mux.Handle("GET /metrics", opts.Metrics)
	}
	if opts.Status != nil {
		s.statusRoutes()
	}
	if opts.SAL != nil {
		s.mux.HandleFunc("GET /sal", s.salList)
		s.mux.HandleFunc("GET /sal/{$}", s.salList)
		s.mux.HandleFunc("GET /sal/{project}", s.salProject)
		s.mux.HandleFunc("GET /sal/log/{id}", s.salEntry)
		s.mux.HandleFunc("GET /sal/atom/{project}", s.salAtom)
		s.mux.HandleFunc("GET /api/sal", s.salAPI)
		s.mux.HandleFunc("GET /api/sal/{id}", s.salAPIEntry)
	}
	if opts.Readiness != nil {
		s.mux.HandleFunc("GET /windows/{id}", s.windowReport)
	}
	if opts.Canary != nil {
		s.mux.HandleFunc("GET /deploys/{id}/canary", s.canaryReport)
	}
	return s
}

// LinksFromConfig is the renderer of the configured links (sal.links,
// deploy.gerrit.url, sal.phabricator.url).
func LinksFromConfig(cfg *config.Config) *wikitext.Renderer { return wikitext.FromConfig(cfg) }

// Handle adds a handler, with a net/http ServeMux pattern like
// "GET /calendar.ics".
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Patterns lists every pattern served, in the order added: what a test
// that must search every page (the leak test) walks, so a page added
// later cannot be missed.
func (s *Server) Patterns() []string { return append([]string(nil), s.mux.patterns...) }

// patternMux is a ServeMux that remembers its patterns.
type patternMux struct {
	*http.ServeMux
	patterns []string
}

func (m *patternMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

func (m *patternMux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(f))
}

// ServeHTTP serves a request, with security headers that keep the browser
// from running anything a page might contain.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	s.mux.ServeHTTP(w, r)
}

// Serve serves on ln until ctx is done, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: readTimeout, ReadTimeout: readTimeout, WriteTimeout: writeTimeout,
		IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	done, stop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			hs.Shutdown(sctx)
		case <-stop:
		}
	}()
	err := hs.Serve(ln)
	close(stop)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// ListenAndServe listens on addr ("127.0.0.1:8080") and serves until ctx is
// done.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// base is the server's public URL for absolute links.
func (s *Server) base(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return s.opts.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
