package app_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/config"
)

// prefixConfig is a bot with the console, two SAL projects and its web
// server published at <proxy>/jouncebot/.
const prefixConfig = `bot:
  data_dir: data
  console_person: Amir
  http: HTTP_ADDR
  base_url: BASE_URL
people:
  - name: Amir
    irc_account: amir
    roles: [deployer]
sal:
  projects:
    - {name: production, rooms: ["console/console"], allow: [identified]}
    - {name: releng, rooms: ["console/#releng"], allow: [identified]}
  links:
    wiki: https://wiki.example.org/wiki/$1
    interwiki: {gerrit: "https://gerrit.example.org/r/$1", phab: "https://phab.example.org/$1"}
`

// startBehindProxy runs the app built by app.New from a configuration
// file, its web server reached only through a reverse proxy that serves
// it at /jouncebot/ and strips that prefix, as a production proxy would.
// It returns the console and the proxy's URL of the app ("…/jouncebot").
func startBehindProxy(t *testing.T) (*consoleSession, string) {
	t.Helper()
	addr := freeAddr(t)
	backend := &url.URL{Scheme: "http", Host: addr}
	proxy := httptest.NewServer(http.StripPrefix("/jouncebot", httputil.NewSingleHostReverseProxy(backend)))
	t.Cleanup(proxy.Close)
	base := proxy.URL + "/jouncebot"

	dir := t.TempDir()
	file := filepath.Join(dir, "jouncebot.yaml")
	text := strings.NewReplacer("HTTP_ADDR", addr, "BASE_URL", base+"/").Replace(prefixConfig)
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	a, err := app.New(app.Options{Config: cfg, Log: slog.New(slog.DiscardHandler), Stdin: inR, Stdout: outW,
		Now: func() time.Time { return time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	s := &consoleSession{t: t, app: a, in: inW, lines: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() {
		inW.Close()
		cancel()
		<-done
		a.Close()
		outW.Close()
	})
	(&opsSession{consoleSession: s, app: a, base: "http://" + addr}).waitHTTP()
	return s, base
}

// Every SAL page, and the status page, served under /jouncebot/ through a
// stripping reverse proxy: each link, form action, feed and script is
// under the prefix (or an external link the wikitext asked for), and
// following each one through the proxy works.
func TestSALPagesBehindPrefix(t *testing.T) {
	t.Parallel()
	s, base := startBehindProxy(t)
	s.say("!log Backport for [[gerrit:445113|Raise $wgExampleLimit to 20 (T1001)]], see [[Deployments]]")
	permalink := strings.TrimPrefix(s.expect("Logged the message at "), "Logged the message at ")
	if permalink != base+"/sal/log/1" {
		t.Fatalf("permalink %q, want %s/sal/log/1", permalink, base)
	}

	prefix := strings.TrimPrefix(base, strings.TrimSuffix(base, "/jouncebot")) // "/jouncebot"
	external := map[string]bool{}
	seen := map[string]bool{}
	queue := []string{"/", "/sal", "/sal/production", "/sal/production?q=Backport&limit=1", "/sal/log/1"}
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		if seen[path] {
			continue
		}
		seen[path] = true
		code, body := get(t, base+path)
		if code != http.StatusOK {
			t.Errorf("GET %s%s through the proxy: %d", base, path, code)
			continue
		}
		if !strings.HasPrefix(body, "<!DOCTYPE html>") {
			continue // the feed, the script, the API
		}
		doc, err := html.Parse(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range pageURLs(doc) {
			switch {
			case strings.HasPrefix(u, "https://"):
				external[u] = true
			case strings.HasPrefix(u, prefix+"/"):
				if p, _, _ := strings.Cut(strings.TrimPrefix(u, prefix), "#"); !strings.HasPrefix(p, "/status/events") {
					queue = append(queue, p)
				}
			default:
				t.Errorf("%s links to %q, outside %s/", path, u, prefix)
			}
		}
	}
	for _, want := range []string{"/sal/atom/production", "/api/sal", "/sal/releng", "/static/status.js", "/sal/production"} {
		if !seen[want] {
			t.Errorf("no page links to %s%s; followed %v", prefix, want, keys(seen))
		}
	}
	for _, want := range []string{"https://gerrit.example.org/r/445113", "https://wiki.example.org/wiki/Deployments"} {
		if !external[want] {
			t.Errorf("no link to %s; external links: %v", want, keys(external))
		}
	}
	if _, feed := get(t, base+"/sal/atom/production"); !strings.Contains(feed, `href="`+base+`/sal/log/1"`) ||
		!strings.Contains(feed, `&lt;a href=&#34;https://gerrit.example.org/r/445113&#34;&gt;Raise $wgExampleLimit to 20 (T1001)&lt;/a&gt;`) {
		t.Errorf("the feed's links are not under the prefix, or its content is not the rendered wikitext:\n%s", feed)
	}
}

// pageURLs are the href, src and action attributes of a page.
func pageURLs(n *html.Node) []string {
	var out []string
	if n.Type == html.ElementNode {
		for _, a := range n.Attr {
			if a.Key == "href" || a.Key == "src" || a.Key == "action" || a.Key == "data-events" {
				out = append(out, a.Val)
			}
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		out = append(out, pageURLs(c)...)
	}
	return out
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
