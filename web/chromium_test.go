package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

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

// Unwrap lets http.ResponseController flush the status page's event stream.
func (w stripCSP) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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

// TestChromiumRendersWikitext loads a SAL page and the status page, each
// with a wikitext line and hostile labels, behind a prefix-stripping
// reverse proxy and without the CSP (escaping alone must keep them inert),
// at desktop and phone width. The links go where the wiki's would, no
// script, handler or javascript: link reaches the DOM, and nothing scrolls
// sideways on a phone. Screenshots go to $JOUNCEBOT_TEST_ARTIFACTS (or a
// temporary directory, logged).
func TestChromiumRendersWikitext(t *testing.T) {
	browser := cdptest.Chromium(t)
	l := newLog(t)
	line := "Backport for [[gerrit:445113|Raise $wgExampleLimit to 20 (T1001)]], see [[wikitech:Deployments#Train|the train]] and T1002"
	hostileLine := `[[gerrit:1|<script>document.body.setAttribute('data-pwned','label')</script>]] [[javascript:alert(1)|click]] ` +
		`[javascript:alert(2) me] [[gerrit:2|<img src=x onerror="document.body.setAttribute('data-pwned','img')">]]`
	appendAll(t, l, sal.Entry{Time: at(25, 14, 20), Nick: "amir", Project: "production", Message: line},
		sal.Entry{Time: at(25, 14, 21), Nick: "mallory", Project: "production", Message: hostileLine})
	for i := range 3 {
		appendAll(t, l, sal.Entry{Time: at(24, 9, i), Nick: "bob", Project: "releng", Message: fmt.Sprintf("restarted jenkins %d, a long line that has to wrap on a phone: https://example.org/a/very/long/path/that/does/not/break/by/itself/%d", i, i)})
	}
	status := StatusPage{Now: at(25, 14, 22),
		Deploy: &DeployView{ID: "7", By: "Amir", State: "running", Stage: "canaries", Started: at(25, 14, 0), Elapsed: 22 * time.Minute,
			Reason: "[[phab:T1001|the limit task]]", Last: "Synchronized wmf-config/InitialiseSettings.php: " + line + " " + hostileLine,
			Changes: []ChangeView{{Number: 445113, Subject: "Raise $wgExampleLimit to 20", URL: "https://gerrit.example.org/r/c/445113"}},
			Stages:  []StageView{{Name: "canaries", Total: 2, Synced: 1, Current: true}}}}

	proxy := httptest.NewUnstartedServer(nil)
	base := "http://" + proxy.Listener.Addr().String() + "/jouncebot"
	app := httptest.NewServer(withoutCSP{New(Options{SAL: l, Links: links, BaseURL: base, Status: fixedStatus{status}})})
	t.Cleanup(app.Close)
	backend, _ := url.Parse(app.URL)
	proxy.Config.Handler = http.StripPrefix("/jouncebot", httputil.NewSingleHostReverseProxy(backend))
	proxy.Start()
	t.Cleanup(proxy.Close)

	c := cdptest.Start(t, browser)
	tab := c.Page(t)
	dir := cdptest.ArtifactDir(t)
	wantLinks := map[string]string{
		"Raise $wgExampleLimit to 20 (T1001)": "https://gerrit.example.org/r/445113",
		"the train":                           "https://wikitech.example.org/wiki/Deployments#Train",
		"T1002":                               "https://phab.example.org/T1002",
		"click":                               "https://wiki.example.org/wiki/javascript:alert(1)",
		"<script>document.body.setAttribute('data-pwned','label')</script>": "https://gerrit.example.org/r/1",
	}
	for _, p := range []struct{ name, path, scope string }{
		{"sal", "/sal/production", "span.msg"},
		{"status", "/", "#last"},
	} {
		for _, vp := range []struct {
			name          string
			width, height int
			mobile        bool
		}{{"desktop", 1280, 900, false}, {"phone", 390, 844, true}} {
			c.Viewport(t, tab, vp.width, vp.height, vp.mobile)
			c.Load(t, tab, base+p.path)
			if p.name == "status" { // and its live updates came through the proxy
				c.WaitJS(t, tab, "the live stream", `document.getElementById("liveness").textContent === "Live."`)
			}
			var page struct {
				Links              [][2]string
				Pwned              string
				Scripts, Handlers  int
				JSLinks, Overflows int
			}
			err := c.Eval(t, tab, `JSON.parse(JSON.stringify({
				Links: [...document.querySelectorAll(`+strconv.Quote(p.scope+" a")+`)].map(a => [a.textContent, a.href]),
				Pwned: document.body.getAttribute("data-pwned") || "",
				Scripts: [...document.scripts].filter(s => !s.src.endsWith("/jouncebot/static/status.js")).length,
				Handlers: [...document.querySelectorAll("*")].filter(e => [...e.attributes].some(a => a.name.startsWith("on"))).length,
				JSLinks: [...document.querySelectorAll("a, img, iframe, form")].filter(e => /^\s*javascript:/i.test(e.getAttribute("href") || e.getAttribute("src") || e.getAttribute("action") || "")).length,
				Overflows: document.documentElement.scrollWidth > window.innerWidth + 1 ? 1 : 0,
			}))`, &page)
			if err != nil {
				t.Fatal(err)
			}
			where := p.name + " at " + vp.name + " width"
			got := map[string]string{}
			for _, l := range page.Links {
				got[l[0]] = l[1]
			}
			for label, href := range wantLinks {
				if got[label] != href {
					t.Errorf("%s: the link %q goes to %q, want %q (links: %q)", where, label, got[label], href, page.Links)
				}
			}
			if page.Pwned != "" || page.Scripts != 0 || page.Handlers != 0 || page.JSLinks != 0 {
				t.Errorf("%s: something hostile reached the DOM: pwned %q, %d scripts, %d elements with handlers, %d javascript: links",
					where, page.Pwned, page.Scripts, page.Handlers, page.JSLinks)
			}
			if page.Overflows != 0 {
				t.Errorf("%s: the page scrolls sideways", where)
			}
			c.Screenshot(t, tab, dir, fmt.Sprintf("wikitext-%s-%s.png", p.name, vp.name))
		}
	}
	c.CheckNoDialogs(t)
	t.Logf("screenshots in %s", dir)
}
