package purge

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/config"
)

var static = []config.StaticDir{
	{Dir: "static/", URL: "https://en.wikipedia.org/static/"},
	{Dir: "w/skins", URL: "https://en.wikipedia.org/w/skins"},
}

func TestURLs(t *testing.T) {
	p := &Purger{Static: static}
	got := p.URLs([]string{
		"wmf-config/InitialiseSettings.php",
		"static/images/project-logos/enwiki.png",
		"./static/images/project-logos/enwiki.png",
		"w/skins/Vector/a b#c.css",
		"static/café.css",
		"staticx/no.png",
		"static",
	})
	want := []string{
		"https://en.wikipedia.org/static/images/project-logos/enwiki.png",
		"https://en.wikipedia.org/w/skins/Vector/a%20b%23c.css",
		"https://en.wikipedia.org/static/caf%C3%A9.css",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

type purgeLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *purgeLog) handler(name string, status int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.reqs = append(l.reqs, name+" "+r.Method+" "+r.Host+r.URL.RequestURI())
		l.mu.Unlock()
		w.WriteHeader(status)
	})
}

func TestPurge(t *testing.T) {
	log := &purgeLog{}
	c1 := httptest.NewServer(log.handler("cache1", 200))
	defer c1.Close()
	c2 := httptest.NewServer(log.handler("cache2", 204))
	defer c2.Close()
	p := &Purger{Static: static, Endpoints: []string{c1.URL, c2.URL}}
	rep := p.Purge(t.Context(), []string{"static/favicon/wikipedia.ico", "index.php", "static/images/x.svg"})
	slices.Sort(log.reqs)
	want := []string{
		"cache1 PURGE en.wikipedia.org/static/favicon/wikipedia.ico",
		"cache1 PURGE en.wikipedia.org/static/images/x.svg",
		"cache2 PURGE en.wikipedia.org/static/favicon/wikipedia.ico",
		"cache2 PURGE en.wikipedia.org/static/images/x.svg",
	}
	if diff := cmp.Diff(want, log.reqs); diff != "" {
		t.Errorf("purge requests (-want +got):\n%s", diff)
	}
	if got, want := rep.Summary(), "Purged 2 URLs from 2 CDN endpoints: https://en.wikipedia.org/static/favicon/wikipedia.ico, https://en.wikipedia.org/static/images/x.svg."; got != want {
		t.Errorf("summary\n got %q\nwant %q", got, want)
	}
}

func TestPurgeFailures(t *testing.T) {
	log := &purgeLog{}
	bad := httptest.NewServer(log.handler("cache1", http.StatusForbidden))
	defer bad.Close()
	p := &Purger{Static: static, Endpoints: []string{bad.URL, "http://127.0.0.1:1"}}
	rep := p.Purge(t.Context(), []string{"static/a.png"})
	if rep.OK() || len(rep.Failures) != 2 {
		t.Fatalf("failures = %q", rep.Failures)
	}
	slices.Sort(rep.Failures)
	host := strings.TrimPrefix(bad.URL, "http://")
	want := []string{
		"127.0.0.1:1 did not answer the purge of https://en.wikipedia.org/static/a.png",
		host + " answered 403 Forbidden to the purge of https://en.wikipedia.org/static/a.png",
	}
	if diff := cmp.Diff(want, rep.Failures); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := rep.Summary(); !strings.HasPrefix(got, "Purged 0 of 1 URL from 2 CDN endpoints. 2 purge requests failed: ") || !strings.HasSuffix(got, "(and 1 more).") {
		t.Errorf("summary = %q", got)
	}
	if got := (&Purger{Static: static}).Purge(t.Context(), []string{"index.php"}).Summary(); got != "No static files changed; nothing to purge from the CDN." {
		t.Errorf("nothing to purge: %q", got)
	}
}

func TestPurgePublicURLWithoutEndpoints(t *testing.T) {
	log := &purgeLog{}
	site := httptest.NewServer(log.handler("site", 200))
	defer site.Close()
	p := &Purger{Static: []config.StaticDir{{Dir: "static", URL: site.URL + "/static/"}}}
	rep := p.Purge(t.Context(), []string{"static/a.png"})
	host := strings.TrimPrefix(site.URL, "http://")
	if diff := cmp.Diff([]string{"site PURGE " + host + "/static/a.png"}, log.reqs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got, want := rep.Summary(), "Purged 1 URL at their public address: "+site.URL+"/static/a.png."; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
}

// TestPurgeNotFound: a 404 is not a purge. A cache answers it for an
// object it does not hold, which is what a wrong address looks like.
func TestPurgeNotFound(t *testing.T) {
	found := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.EscapedPath() != "/static/caf%C3%A9.css" {
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer found.Close()
	p := &Purger{Static: static, Endpoints: []string{found.URL}}
	rep := p.Purge(t.Context(), []string{"static/café.css", "static/gone.png"})
	if rep.OK() {
		t.Error("OK with a 404")
	}
	host := strings.TrimPrefix(found.URL, "http://")
	want := "Purged 1 of 2 URLs from 1 CDN endpoint: https://en.wikipedia.org/static/caf%C3%A9.css. 1 purge request found nothing to purge (404 Not Found: not cached, or a wrong address): " +
		host + " has no https://en.wikipedia.org/static/gone.png."
	if got := rep.Summary(); got != want {
		t.Errorf("summary\n got %q\nwant %q", got, want)
	}
}
