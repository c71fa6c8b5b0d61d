package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/jouncebot/jouncebot/sal"
	"github.com/jouncebot/jouncebot/web/cdptest"
)

// withoutCSP removes the Content-Security-Policy header, so the test shows
// escaping alone keeps hostile messages inert.
type withoutCSP struct{ http.Handler }

type stripCSP struct{ http.ResponseWriter }

func (w stripCSP) WriteHeader(code int) {
	w.Header().Del("Content-Security-Policy")
	w.ResponseWriter.WriteHeader(code)
}

func (w stripCSP) Write(b []byte) (int, error) {
	w.Header().Del("Content-Security-Policy")
	return w.ResponseWriter.Write(b)
}

func (h withoutCSP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.Handler.ServeHTTP(stripCSP{w}, r)
}

// TestChromiumRendersHostileMessagesInert loads the pages in a real browser
// that would run any script that got through, and checks the DOM it built.
func TestChromiumRendersHostileMessagesInert(t *testing.T) {
	browser := cdptest.Chromium(t)
	l := newLog(t)
	msgs := append([]string{
		`<img src=x onerror="document.body.setAttribute('data-pwned','img')">`,
		`<script>document.body.setAttribute('data-pwned','script')</script>`,
	}, hostile...)
	for i, m := range msgs {
		appendAll(t, l, sal.Entry{Nick: fmt.Sprintf(`<script>document.title='pwned'</script>n%d`, i), Project: "production", Message: m})
	}
	srv := httptest.NewServer(withoutCSP{New(Options{SAL: l, Links: links})})
	t.Cleanup(srv.Close)

	search := `"><script>document.title='pwned'</script>`
	pages := []string{
		"/sal",
		"/sal/log/1",
		"/sal?" + url.Values{"q": {search}, "nick": {`'><img src=x onerror=alert(1)>`}, "from": {"2026-01-01"}}.Encode(),
	}
	c := cdptest.Start(t, browser)
	s := c.Page(t)
	for _, p := range pages {
		dom := c.Load(t, s, srv.URL+p)
		doc := parseHTML(t, dom)
		checkInert(t, "chromium "+p, doc)
		if title := texts(doc, "title"); len(title) != 1 || !strings.HasPrefix(title[0], "Server Admin Log") {
			t.Errorf("chromium %s: title is %q", p, title)
		}
		if got := attrs(doc, "body", "data-pwned"); len(got) > 0 {
			t.Errorf("chromium %s: a hostile message ran a script (%q)", p, got)
		}
		if p == "/sal" {
			shown := textOf(doc)
			for _, m := range msgs[:2] {
				if !strings.Contains(shown, m) {
					t.Errorf("chromium /sal does not show %q as text", m)
				}
			}
		}
		c.CheckNoDialogs(t)
		if p == pages[2] {
			// The search form keeps what was searched for, as text in its field.
			if got := attrs(doc, "input[name=q]", "value"); len(got) != 1 || got[0] != search {
				t.Errorf("search box holds %q, want %q", got, search)
			}
		}
	}
}
