package matrixtest

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Proxy sits between a client and the server and injects faults a real
// homeserver shows under load or during an outage: refused connections,
// M_LIMIT_EXCEEDED answers with retry_after_ms on chosen requests, and
// answers lost after the server acted (Hold).
// Give its URL to the client under test instead of the server's.
type Proxy struct {
	URL string

	mu      sync.Mutex
	down    bool
	limits  []limit
	holds   []func(r *http.Request) bool
	records []Request
}

// Request is one request that reached the proxy.
type Request struct {
	Time    time.Time
	Method  string
	Path    string
	Limited bool // answered with M_LIMIT_EXCEEDED
}

type limit struct {
	match      func(r *http.Request) bool
	remaining  int
	retryAfter time.Duration
}

// Proxy starts a fault-injecting proxy in front of s, stopped at the end of
// the test.
func (s *Server) Proxy(t testing.TB) *Proxy {
	t.Helper()
	target, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	rp.ErrorLog = log.New(io.Discard, "", 0) // clients going away mid-request is normal here
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limited, retryAfter, down := p.decide(r)
		if down {
			// Like a homeserver that went away: the connection drops.
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		if p.holding(r) {
			// The server acts on the request, but its answer never comes
			// back: like a connection lost just after the server acted.
			rp.ServeHTTP(httptest.NewRecorder(), r)
			<-r.Context().Done()
			return
		}
		if limited {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests","retry_after_ms":` +
				strconv.FormatInt(retryAfter.Milliseconds(), 10) + `}`))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	p.URL = hs.URL
	return p
}

func (p *Proxy) decide(r *http.Request) (limited bool, retryAfter time.Duration, down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rec := Request{Time: time.Now(), Method: r.Method, Path: r.URL.Path}
	defer func() { p.records = append(p.records, rec) }()
	if p.down {
		return false, 0, true
	}
	for i := range p.limits {
		l := &p.limits[i]
		if l.remaining > 0 && l.match(r) {
			l.remaining--
			rec.Limited = true
			return true, l.retryAfter, false
		}
	}
	return false, 0, false
}

// SetDown makes every request fail as if the server were unreachable
// (true), or lets them through again (false).
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

// Limit answers the next n requests for which match is true with
// M_LIMIT_EXCEEDED and retry_after_ms.
func (p *Proxy) Limit(n int, retryAfter time.Duration, match func(r *http.Request) bool) {
	p.mu.Lock()
	p.limits = append(p.limits, limit{match: match, remaining: n, retryAfter: retryAfter})
	p.mu.Unlock()
}

// ClearLimits forgets every Limit not yet used up, and every Hold.
func (p *Proxy) ClearLimits() {
	p.mu.Lock()
	p.limits, p.holds = nil, nil
	p.mu.Unlock()
}

// Hold passes requests for which match is true on to the server but never
// answers them (until the client gives up or goes away), as if the
// connection broke just after the server acted.
func (p *Proxy) Hold(match func(r *http.Request) bool) {
	p.mu.Lock()
	p.holds = append(p.holds, match)
	p.mu.Unlock()
}

func (p *Proxy) holding(r *http.Request) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.holds {
		if m(r) {
			return true
		}
	}
	return false
}

// Requests returns the requests seen so far.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.records...)
}

// IsSend matches requests that send a room event.
func IsSend(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/send/")
}

// IsSync matches /sync requests.
func IsSync(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/sync") }
