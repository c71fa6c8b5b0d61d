package web

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/sal"
	"github.com/jouncebot/jouncebot/sal/wikitext"
	"github.com/jouncebot/jouncebot/store"
)

var links = &wikitext.Renderer{Wiki: "https://wiki.example.org/wiki/$1", Interwiki: map[string]string{
	"gerrit": "https://gerrit.example.org/r/$1", "phab": "https://phab.example.org/$1", "wikitech": "https://wikitech.example.org/wiki/$1"}}

// hostile are messages that try to become markup.
var hostile = []string{
	`<script>document.title="pwned"</script>`,
	`<img src=x onerror="document.title='pwned'">`,
	`"><svg onload=alert(1)>`,
	`javascript:alert(1) and [[gerrit:1|<b onmouseover=alert(1)>x</b>]]`,
	`https://example.org/"onmouseover="alert(1) https://example.org/<script>`,
	`</textarea></title></style><iframe src=javascript:alert(1)>`,
	`&lt;script&gt; already escaped &amp; T123`,
	`'';!--"<XSS>=&{()} data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==`,
}

func newLog(t *testing.T) *sal.Log {
	t.Helper()
	cfg, err := config.Parse([]byte(`
bot: {base_url: "https://bot.example.org"}
sal:
  projects:
    - {name: production, rooms: ["console/#ops"], allow: [identified]}
    - {name: releng, rooms: ["console/#releng"], allow: [identified]}
`), "test.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "jouncebot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return sal.New(db, cfg, sal.Options{})
}

func appendAll(t *testing.T, l *sal.Log, entries ...sal.Entry) {
	t.Helper()
	for _, e := range entries {
		if _, err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func newServer(t *testing.T, l *sal.Log) *httptest.Server {
	srv := httptest.NewServer(New(Options{SAL: l, Links: links}))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, u string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func at(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, time.UTC) }

func TestListPage(t *testing.T) {
	l := newLog(t)
	appendAll(t, l,
		sal.Entry{Time: at(24, 9, 5), Nick: "alice", Project: "production", Message: "restarted apache2 on mw1001"},
		sal.Entry{Time: at(24, 23, 59), Nick: "bob", Project: "releng", Message: "scap sync-world"},
		sal.Entry{Time: at(25, 0, 1), Nick: "alice", Project: "production", Message: "depooled db1001 T123"},
	)
	srv := newServer(t, l)
	status, hdr, body := get(t, srv.URL+"/sal")
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("GET /sal: %d %v", status, hdr)
	}
	doc := parseHTML(t, body)
	if d := cmp.Diff([]string{"2026-11-25", "2026-11-24"}, texts(doc, "h2")); d != "" {
		t.Errorf("day headings (-want +got):\n%s", d)
	}
	wantItems := []string{"00:01 alice: depooled db1001 T123 production", "23:59 bob: scap sync-world releng", "09:05 alice: restarted apache2 on mw1001 production"}
	if d := cmp.Diff(wantItems, texts(doc, "li")); d != "" {
		t.Errorf("entries (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"All", "production", "releng"}, texts(doc, "nav.tabs a")); d != "" {
		t.Errorf("tabs (-want +got):\n%s", d)
	}

	_, _, body = get(t, srv.URL+"/sal?project=production&limit=1")
	doc = parseHTML(t, body)
	if d := cmp.Diff([]string{"00:01 alice: depooled db1001 T123"}, texts(doc, "li")); d != "" {
		t.Errorf("project page (-want +got):\n%s", d)
	}
	older := attrs(doc, "a[rel=next]", "href")
	if len(older) != 1 || older[0] != "/sal/production?before=3&limit=1" {
		t.Fatalf("older link: %v", older)
	}
	_, _, body = get(t, srv.URL+older[0])
	if d := cmp.Diff([]string{"09:05 alice: restarted apache2 on mw1001"}, texts(parseHTML(t, body), "li")); d != "" {
		t.Errorf("second page (-want +got):\n%s", d)
	}

	for _, tt := range []struct{ query, wantErr string }{
		{"limit=0", "limit must be a whole number from 1 to 200."},
		{"limit=201", "limit must be a whole number from 1 to 200."},
		{"from=yesterday", "from: expected a date like 2026-11-25 or a UTC time like 2026-11-25T19:00:00Z"},
		{"project=nope", `There is no project "nope"; the projects are production, releng.`},
	} {
		status, _, body := get(t, srv.URL+"/sal?"+tt.query)
		if got := texts(parseHTML(t, body), "p.error"); status != 400 || len(got) != 1 || got[0] != tt.wantErr {
			t.Errorf("/sal?%s: %d %q; want 400 %q", tt.query, status, got, tt.wantErr)
		}
	}

	status, _, body = get(t, srv.URL+"/sal/log/3")
	if status != 200 || !strings.Contains(body, `<a href="https://phab.example.org/T123">T123</a>`) {
		t.Errorf("permalink page: %d\n%s", status, body)
	}
	for _, p := range []string{"/sal/log/99", "/sal/log/x", "/sal/atom/nope", "/api/sal/99"} {
		if status, _, _ := get(t, srv.URL+p); status != 404 {
			t.Errorf("GET %s: %d, want 404", p, status)
		}
	}
}

func TestAPI(t *testing.T) {
	l := newLog(t)
	appendAll(t, l,
		sal.Entry{Time: at(23, 12, 0), Nick: "alice", Account: "alice", Network: "libera", Room: "#ops", Project: "production", Message: "restarted apache2 T1 gerrit:5"},
		sal.Entry{Time: at(24, 12, 0), Nick: "bob", Project: "releng", Message: "restarted jenkins"},
		sal.Entry{Time: at(25, 12, 0), Nick: "alice", Project: "releng", Message: "scap sync"},
		sal.Entry{Time: at(26, 12, 0), Nick: "carol", Project: "production", Message: "restarted envoy"},
	)
	srv := newServer(t, l)
	api := func(query string) (int, APIPage, string) {
		t.Helper()
		status, hdr, body := get(t, srv.URL+"/api/sal?"+query)
		if ct := hdr.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("content type %q", ct)
		}
		var p APIPage
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return status, p, body
	}
	tests := []struct {
		query string
		want  []uint64
		more  bool
	}{
		{"", []uint64{4, 3, 2, 1}, false},
		{"q=restarted", []uint64{4, 2, 1}, false},
		{"q=restarted&project=production", []uint64{4, 1}, false},
		{"nick=ALICE", []uint64{3, 1}, false},
		{"from=2026-11-24&to=2026-11-25", []uint64{3, 2}, false},
		{"to=2026-11-24T12:00:00Z", []uint64{2, 1}, false},
		{"from=2026-11-24T12:00:01Z", []uint64{4, 3}, false},
		{"limit=2", []uint64{4, 3}, true},
		{"limit=2&before=3", []uint64{2, 1}, false},
		{"q=nothing", []uint64{}, false},
	}
	for _, tt := range tests {
		status, p, body := api(tt.query)
		var got []uint64
		for _, e := range p.Entries {
			got = append(got, e.ID)
		}
		if d := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b []uint64) bool { return fmt.Sprint(a) == fmt.Sprint(b) })); status != 200 || d != "" || p.More != tt.more {
			t.Errorf("/api/sal?%s: %d, ids (-want +got):\n%s more %v\n%s", tt.query, status, d, p.More, body)
		}
	}
	_, p, _ := api("limit=2")
	if want := srv.URL + "/api/sal?before=3&limit=2"; p.Next != want {
		t.Errorf("next = %q, want %q", p.Next, want)
	}
	if _, p, _ := api("limit=1&after=2"); len(p.Entries) != 1 || p.Entries[0].ID != 3 || p.Next != srv.URL+"/api/sal?before=3&limit=1" {
		t.Errorf("after=2: %+v", p)
	}

	// Field names are a promise to API users.
	_, _, body := get(t, srv.URL+"/api/sal?limit=1&before=2")
	var raw struct {
		Entries []map[string]any `json:"entries"`
	}
	json.Unmarshal([]byte(body), &raw)
	want := map[string]any{"id": 1.0, "time": "2026-11-23T12:00:00Z", "nick": "alice", "account": "alice", "network": "libera", "room": "#ops",
		"project": "production", "message": "restarted apache2 T1 gerrit:5", "tasks": []any{"T1"}, "changes": []any{5.0}, "url": srv.URL + "/sal/log/1"}
	if len(raw.Entries) != 1 {
		t.Fatalf("got %s", body)
	}
	if d := cmp.Diff(want, raw.Entries[0]); d != "" {
		t.Errorf("entry JSON (-want +got):\n%s", d)
	}
	status, _, body := get(t, srv.URL+"/api/sal?limit=500")
	if status != 400 || !strings.Contains(body, `"error": "limit must be a whole number from 1 to 200."`) {
		t.Errorf("bad limit: %d %s", status, body)
	}
	status, _, body = get(t, srv.URL+"/api/sal/3")
	if status != 200 || !strings.Contains(body, `"message": "scap sync"`) {
		t.Errorf("/api/sal/3: %d %s", status, body)
	}
}

func TestAtom(t *testing.T) {
	l := newLog(t)
	for i := range 60 {
		appendAll(t, l, sal.Entry{Time: at(1, 0, 0).Add(time.Duration(i) * time.Hour), Nick: "alice", Project: "production", Message: fmt.Sprintf("entry %d <b>&", i)})
	}
	appendAll(t, l, sal.Entry{Nick: "bob", Project: "releng", Message: "other project"})
	srv := newServer(t, l)
	status, hdr, body := get(t, srv.URL+"/sal/atom/production")
	if status != 200 || hdr.Get("Content-Type") != "application/atom+xml; charset=utf-8" {
		t.Fatalf("%d %v", status, hdr)
	}
	var feed Atom
	if err := xml.Unmarshal([]byte(body), &feed); err != nil {
		t.Fatalf("the feed is not XML: %v\n%s", err, body)
	}
	if feed.XMLName.Space != "http://www.w3.org/2005/Atom" || feed.XMLName.Local != "feed" {
		t.Errorf("root element %v", feed.XMLName)
	}
	rfc3339 := func(what, s string) {
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("%s: updated %q is not an RFC 3339 date", what, s)
		}
	}
	if feed.ID == "" || feed.Title == "" || feed.Author == nil {
		t.Errorf("feed lacks id, title or author: %+v", feed)
	}
	rfc3339("feed", feed.Updated)
	if feed.Updated != "2026-11-03T11:00:00Z" {
		t.Errorf("feed updated %s, want the newest entry's time", feed.Updated)
	}
	if len(feed.Entries) != FeedSize {
		t.Fatalf("%d entries, want %d", len(feed.Entries), FeedSize)
	}
	ids := map[string]bool{}
	for _, e := range feed.Entries {
		if e.ID == "" || e.Title == "" || len(e.Links) == 0 || ids[e.ID] {
			t.Errorf("entry lacks id/title/link or repeats an id: %+v", e)
		}
		if u, err := url.Parse(e.ID); err != nil || !u.IsAbs() {
			t.Errorf("entry id %q is not an absolute IRI", e.ID)
		}
		ids[e.ID] = true
		rfc3339("entry", e.Updated)
	}
	if e := feed.Entries[0]; e.Title != "alice: entry 59 <b>&" || e.Content.Type != "html" || e.Content.Body != "entry 59 &lt;b&gt;&amp;" || e.ID != srv.URL+"/sal/log/60" {
		t.Errorf("newest entry: %+v", e)
	}
}

// TestXSS renders hostile messages, nicks and queries on every page and
// checks that none of them became markup.
func TestXSS(t *testing.T) {
	l := newLog(t)
	for i, m := range hostile {
		appendAll(t, l, sal.Entry{Nick: `<i>nick` + fmt.Sprint(i), Project: "production", Message: m})
	}
	srv := newServer(t, l)
	for _, p := range xssPages() {
		status, _, body := get(t, srv.URL+p)
		if status != 200 && status != 400 {
			t.Fatalf("GET %s: %d", p, status)
		}
		checkInert(t, p, parseHTML(t, body))
	}
	_, _, body := get(t, srv.URL+"/sal")
	gerritLink := regexp.MustCompile(`\[\[gerrit:[0-9]+\|([^\]]*)\]\]`)
	for _, m := range hostile {
		m = gerritLink.ReplaceAllString(m, "$1") // shown as the link's label
		if !strings.Contains(textOf(parseHTML(t, body)), m) {
			t.Errorf("the page does not show %q as text", m)
		}
	}
	_, _, body = get(t, srv.URL+"/sal/atom/production")
	var feed Atom
	if err := xml.Unmarshal([]byte(body), &feed); err != nil {
		t.Fatal(err)
	}
	for _, e := range feed.Entries {
		checkInert(t, "feed content", parseHTML(t, e.Content.Body))
	}
}

func xssPages() []string {
	q := url.Values{"q": {`"><script>alert(1)</script>`}, "nick": {`'><img src=x onerror=alert(1)>`}}
	return []string{"/sal", "/sal?project=production", "/sal/log/1", "/sal/log/2", "/sal/log/4", "/sal?" + q.Encode(), "/sal?from=%22%3E%3Cscript%3E"}
}

// checkInert fails if the document has active content: scripts, frames,
// images, event handler attributes, or links that are not http(s) or
// relative.
func checkInert(t *testing.T, where string, doc *html.Node) {
	t.Helper()
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch n.Data {
		case "script", "iframe", "img", "svg", "object", "embed", "b", "i", "xss", "textarea":
			t.Errorf("%s: injected <%s> element", where, n.Data)
		}
		for _, a := range n.Attr {
			v := strings.ToLower(strings.TrimSpace(a.Val))
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("%s: <%s> has an event handler %s=%q", where, n.Data, a.Key, a.Val)
			}
			if (a.Key == "href" || a.Key == "src" || a.Key == "action") && !(strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "/") || strings.HasPrefix(v, "#")) {
				t.Errorf("%s: <%s %s=%q> is not an http(s) or local link", where, n.Data, a.Key, a.Val)
			}
		}
	}
}

func parseHTML(t *testing.T, s string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// matches is a tiny selector: "tag", "tag.class" or "tag[attr=value]",
// optionally preceded by an ancestor "tag.class ".
func matches(n *html.Node, sel string) bool {
	if anc, rest, ok := strings.Cut(sel, " "); ok {
		if !matches(n, rest) {
			return false
		}
		for p := n.Parent; p != nil; p = p.Parent {
			if matches(p, anc) {
				return true
			}
		}
		return false
	}
	if n.Type != html.ElementNode {
		return false
	}
	tag, cond := sel, ""
	if i := strings.IndexAny(sel, ".["); i >= 0 {
		tag, cond = sel[:i], sel[i:]
	}
	if n.Data != tag {
		return false
	}
	attr := func(k string) string {
		for _, a := range n.Attr {
			if a.Key == k {
				return a.Val
			}
		}
		return ""
	}
	switch {
	case strings.HasPrefix(cond, "."):
		return strings.Contains(" "+attr("class")+" ", " "+cond[1:]+" ")
	case strings.HasPrefix(cond, "["):
		k, v, _ := strings.Cut(strings.Trim(cond, "[]"), "=")
		return attr(k) == v
	}
	return true
}

func textOf(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode && (d.Parent == nil || d.Parent.Data != "style") {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

func texts(doc *html.Node, sel string) []string {
	var out []string
	for n := range doc.Descendants() {
		if matches(n, sel) {
			out = append(out, strings.Join(strings.Fields(textOf(n)), " "))
		}
	}
	return out
}

func attrs(doc *html.Node, sel, key string) []string {
	var out []string
	for n := range doc.Descendants() {
		if matches(n, sel) {
			for _, a := range n.Attr {
				if a.Key == key {
					out = append(out, a.Val)
				}
			}
		}
	}
	return out
}

// The JSON API answers every error in JSON, as documented: a bad id, a
// missing entry, and a date range that ends before it starts.
func TestAPIErrorsAreJSON(t *testing.T) {
	l := newLog(t)
	appendAll(t, l, sal.Entry{Time: at(23, 12, 0), Nick: "alice", Project: "production", Message: "restarted apache2"})
	srv := newServer(t, l)
	tests := []struct {
		path   string
		status int
		err    string
	}{
		{"/api/sal/notanumber", 400, "The entry id must be a whole number above 0, like /api/sal/1."},
		{"/api/sal/99", 404, "No such log entry."},
		{"/api/sal?from=2026-11-26&to=2026-11-25", 400, "from (2026-11-26) is later than to (2026-11-25); nothing can match."},
		{"/api/sal?from=2026-11-25T12:00:01Z&to=2026-11-25T12:00:00Z", 400, "from (2026-11-25T12:00:01Z) is later than to (2026-11-25T12:00:00Z); nothing can match."},
	}
	for _, tt := range tests {
		status, hdr, body := get(t, srv.URL+tt.path)
		var got struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil || status != tt.status || got.Error != tt.err ||
			hdr.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("GET %s: %d %s %q; want %d JSON error %q", tt.path, status, hdr.Get("Content-Type"), body, tt.status, tt.err)
		}
	}
	// The same range on the page is a 400 with the same sentence, and a
	// one-day range is fine.
	status, _, body := get(t, srv.URL+"/sal?from=2026-11-26&to=2026-11-25")
	if got := texts(parseHTML(t, body), "p.error"); status != 400 || len(got) != 1 || !strings.HasPrefix(got[0], "from (2026-11-26) is later than to") {
		t.Errorf("/sal with from > to: %d %q", status, got)
	}
	if status, _, body := get(t, srv.URL+"/api/sal?from=2026-11-23&to=2026-11-23"); status != 200 || !strings.Contains(body, "restarted apache2") {
		t.Errorf("one-day range: %d %s", status, body)
	}
}

// A person pages older and newer through a filtered project log: every
// page keeps the filters, says how many entries match, and the entries'
// permalinks and project links lead where they say.
func TestSALPagingKeepsFilters(t *testing.T) {
	l := newLog(t)
	for i := range 7 {
		appendAll(t, l, sal.Entry{Time: at(20, i, 0), Nick: "alice", Project: "production", Message: fmt.Sprintf("restarted apache %d", i)}, // odd ids
			sal.Entry{Time: at(20, i, 1), Nick: "bob", Project: "releng", Message: fmt.Sprintf("restarted jenkins %d", i)}) // even ids
	}
	srv := newServer(t, l)
	load := func(path string) *html.Node {
		t.Helper()
		status, _, body := get(t, srv.URL+path)
		if status != 200 {
			t.Fatalf("GET %s: %d\n%s", path, status, body)
		}
		return parseHTML(t, body)
	}
	one := func(doc *html.Node, sel, key string) string {
		t.Helper()
		got := attrs(doc, sel, key)
		if len(got) > 1 {
			t.Fatalf("%d %s", len(got), sel)
		}
		if len(got) == 0 {
			return ""
		}
		return got[0]
	}
	msgs := func(doc *html.Node) []string { return texts(doc, "span.msg") }

	doc := load("/sal/production?q=restarted&limit=3")
	if d := cmp.Diff([]string{"restarted apache 6", "restarted apache 5", "restarted apache 4"}, msgs(doc)); d != "" {
		t.Errorf("first page (-want +got):\n%s", d)
	}
	if got := texts(doc, "p.count"); len(got) != 1 || got[0] != "7 matches" {
		t.Errorf("count %q, want 7 matches", got)
	}
	if got := one(doc, "a[rel=prev]", "href"); got != "" {
		t.Errorf("the newest page has a newer link %q", got)
	}
	if got := one(doc, "form.search", "action"); got != "/sal/production" {
		t.Errorf("form action %q", got)
	}
	older := one(doc, "a[rel=next]", "href")
	if older != "/sal/production?before=9&limit=3&q=restarted" {
		t.Fatalf("older link %q", older)
	}
	doc = load(older)
	if d := cmp.Diff([]string{"restarted apache 3", "restarted apache 2", "restarted apache 1"}, msgs(doc)); d != "" {
		t.Errorf("second page (-want +got):\n%s", d)
	}
	doc = load(one(doc, "a[rel=next]", "href"))
	if d := cmp.Diff([]string{"restarted apache 0"}, msgs(doc)); d != "" || one(doc, "a[rel=next]", "href") != "" {
		t.Errorf("last page (-want +got):\n%s", d)
	}
	newer := one(doc, "a[rel=prev]", "href")
	if newer != "/sal/production?after=1&limit=3&q=restarted" {
		t.Fatalf("newer link %q", newer)
	}
	doc = load(newer)
	if d := cmp.Diff([]string{"restarted apache 3", "restarted apache 2", "restarted apache 1"}, msgs(doc)); d != "" {
		t.Errorf("newer page (-want +got):\n%s", d)
	}
	doc = load(one(doc, "a[rel=prev]", "href"))
	if d := cmp.Diff([]string{"restarted apache 6", "restarted apache 5", "restarted apache 4"}, msgs(doc)); d != "" || one(doc, "a[rel=prev]", "href") != "" {
		t.Errorf("back at the newest (-want +got):\n%s", d)
	}

	doc = load("/sal")
	if got := texts(doc, "p.count"); len(got) != 1 || got[0] != "14 entries" {
		t.Errorf("count %q, want 14 entries", got)
	}
	if d := cmp.Diff([]string{"/sal", "/sal/production", "/sal/releng"}, attrs(doc, "nav.tabs a", "href")); d != "" {
		t.Errorf("tabs (-want +got):\n%s", d)
	}
	if got := attrs(doc, "a.proj", "href"); len(got) == 0 || got[0] != "/sal/releng" {
		t.Errorf("project links %q", got)
	}
	if got := one(doc, "li[id=e14] a.time", "href"); got != "/sal/log/14" {
		t.Errorf("permalink %q", got)
	}
	doc = load("/sal/log/14")
	if got := one(doc, "dl.entry a", "href"); got != "/sal/releng" {
		t.Errorf("entry's project link %q", got)
	}
	if status, _, body := get(t, srv.URL+"/sal/nope"); status != 404 || !strings.Contains(body, `There is no project &#34;nope&#34;`) {
		t.Errorf("/sal/nope: %d\n%s", status, body)
	}
	if status, _, _ := get(t, srv.URL+"/sal/production?before=3&after=1"); status != 400 {
		t.Errorf("before and after: %d, want 400", status)
	}
}

// Cursors past either end of the log, up to the largest id a URL can
// carry, page to nothing (after) or to the newest page (before), and never
// offer a "newer" page that is not there.
func TestSALPagingPastTheEnds(t *testing.T) {
	l := newLog(t)
	for i := range 5 {
		appendAll(t, l, sal.Entry{Time: at(20, i, 0), Nick: "alice", Project: "production", Message: fmt.Sprintf("restarted apache %d", i)})
	}
	srv := newServer(t, l)
	for _, tt := range []struct {
		path, newer string
		msgs        []string
	}{
		{"/sal/production?after=18446744073709551615&limit=2", "/sal/production?limit=2", nil},
		{"/sal/production?after=5&limit=2", "/sal/production?limit=2", nil},
		{"/sal?after=18446744073709551615&q=restarted", "/sal?q=restarted", nil},
		{"/sal/production?before=18446744073709551615&limit=2", "", []string{"restarted apache 4", "restarted apache 3"}},
		{"/sal/production?before=6&limit=2", "", []string{"restarted apache 4", "restarted apache 3"}},
		{"/sal?before=5&q=restarted&limit=2", "/sal?after=4&limit=2&q=restarted", []string{"restarted apache 3", "restarted apache 2"}},
	} {
		status, _, body := get(t, srv.URL+tt.path)
		if status != 200 {
			t.Errorf("GET %s: %d", tt.path, status)
			continue
		}
		doc := parseHTML(t, body)
		if d := cmp.Diff(tt.msgs, texts(doc, "span.msg")); d != "" {
			t.Errorf("GET %s: entries (-want +got):\n%s", tt.path, d)
		}
		if got := strings.Join(attrs(doc, "a[rel=prev]", "href"), " "); got != tt.newer {
			t.Errorf("GET %s: newer link %q, want %q", tt.path, got, tt.newer)
		}
	}
	for _, bad := range []string{"after=-1", "after=0", "before=18446744073709551616", "after=1e3", "before=+3", "after=%203"} {
		if status, _, _ := get(t, srv.URL+"/sal?"+bad); status != 400 {
			t.Errorf("/sal?%s: %d, want 400", bad, status)
		}
	}
}

// A base_url whose path starts with "//" must not make the pages' links
// protocol-relative (//evil.example/sal is another host to a browser).
func TestPrefixNeverProtocolRelative(t *testing.T) {
	l := newLog(t)
	appendAll(t, l, sal.Entry{Time: at(20, 1, 0), Nick: "alice", Project: "production", Message: "restarted apache"})
	for _, base := range []string{"https://ops.example.org//evil.example/", "https://ops.example.org///evil.example//jb//", `https://ops.example.org/\evil.example/`} {
		srv := httptest.NewServer(New(Options{SAL: l, Links: links, BaseURL: base}))
		t.Cleanup(srv.Close)
		for _, p := range []string{"/sal", "/sal/production", "/sal/log/1"} {
			_, _, body := get(t, srv.URL+p)
			for _, sel := range []string{"a", "form", "link"} {
				for _, key := range []string{"href", "action"} {
					for _, u := range attrs(parseHTML(t, body), sel, key) {
						if strings.HasPrefix(u, "//") || strings.HasPrefix(u, `/\`) {
							t.Errorf("base_url %s: %s links to %q, another host", base, p, u)
						}
					}
				}
			}
		}
	}
}
