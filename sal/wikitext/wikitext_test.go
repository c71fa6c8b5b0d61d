package wikitext

import (
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/jouncebot/jouncebot/config"
)

var test = &Renderer{
	Wiki: "https://wiki.example.org/wiki/$1",
	Interwiki: map[string]string{
		"gerrit":   "https://gerrit.example.org/r/$1",
		"phab":     "https://phab.example.org/$1",
		"wikitech": "https://wikitech.example.org/wiki/$1",
		"bad":      "javascript:$1",
	},
}

func TestHTML(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "plain <b> & \"q\"", "plain &lt;b&gt; &amp; &#34;q&#34;"},
		{"gerrit with label", "Backport for [[gerrit:445113|Raise $wgExampleLimit to 20 (T1001)]]",
			`Backport for <a href="https://gerrit.example.org/r/445113">Raise $wgExampleLimit to 20 (T1001)</a>`},
		{"gerrit without label", "see [[gerrit:42]].", `see <a href="https://gerrit.example.org/r/42">gerrit:42</a>.`},
		{"prefix case and spaces", "[[ Gerrit:42 |x]]", `<a href="https://gerrit.example.org/r/42">x</a>`},
		{"phab", "[[phab:T123|the task]]", `<a href="https://phab.example.org/T123">the task</a>`},
		{"wikitech page with spaces and section", "[[wikitech:Deployments/Train#Who does it|train]]",
			`<a href="https://wikitech.example.org/wiki/Deployments/Train#Who_does_it">train</a>`},
		{"wiki page", "read [[Server Admin Log]]", `read <a href="https://wiki.example.org/wiki/Server_Admin_Log">Server Admin Log</a>`},
		{"wiki page with label", "[[Help:Foo (bar)|help]]", `<a href="https://wiki.example.org/wiki/Help:Foo_(bar)">help</a>`},
		{"leading colon", "[[:Category:X]]", `<a href="https://wiki.example.org/wiki/Category:X">Category:X</a>`},
		{"title is encoded", `[[A?b=c&d"e]]`, `<a href="https://wiki.example.org/wiki/A%3Fb%3Dc%26d%22e">A?b=c&amp;d&#34;e</a>`},
		{"unknown prefix is a page", "[[javascript:alert(1)|x]]", `<a href="https://wiki.example.org/wiki/javascript:alert(1)">x</a>`},
		{"non-http pattern is text", "[[bad:x|label]]", "label"},
		{"hostile label", `[[gerrit:1|<script>alert(1)</script>]]`, `<a href="https://gerrit.example.org/r/1">&lt;script&gt;alert(1)&lt;/script&gt;</a>`},
		{"empty target", "[[|x]] [[]]", "[[|x]] [[]]"},
		{"empty interwiki target", "[[gerrit:|x]]", "[[gerrit:|x]]"},
		{"unclosed", "[[gerrit:1|x", `[[<a href="https://gerrit.example.org/r/1">gerrit:1</a>|x`},
		{"nested is the inner link", "[[a [[B]] c]]", `[[a <a href="https://wiki.example.org/wiki/B">B</a> c]]`},
		{"markup in target", "[[<b>]]", "[[&lt;b&gt;]]"},
		{"label with brackets", "[[gerrit:1|a]b]]", `<a href="https://gerrit.example.org/r/1">a]b</a>`},
		{"two links", "[[gerrit:1|a]], [[gerrit:2|b]]",
			`<a href="https://gerrit.example.org/r/1">a</a>, <a href="https://gerrit.example.org/r/2">b</a>`},
		{"external link", "[https://example.org/x?a=1&b=2 the docs]", `<a href="https://example.org/x?a=1&amp;b=2">the docs</a>`},
		{"external link without label", "[https://example.org/]", `<a href="https://example.org/">https://example.org/</a>`},
		{"external javascript is text", "[javascript:alert(1) x]", "[javascript:alert(1) x]"},
		{"bare task", "see T123, not 2022-12-16T19:00 or T19:00 or T0123 or xT1 or T1x",
			`see <a href="https://phab.example.org/T123">T123</a>, not 2022-12-16T19:00 or T19:00 or T0123 or xT1 or T1x`},
		{"task in a label is not linked again", "[[gerrit:9|Fix (T7)]] T8",
			`<a href="https://gerrit.example.org/r/9">Fix (T7)</a> <a href="https://phab.example.org/T8">T8</a>`},
		{"bare gerrit", "gerrit:42.", `<a href="https://gerrit.example.org/r/42">gerrit:42</a>.`},
		{"bare url trimmed", "(see https://example.org/a_(b)?x=1&y=2).",
			`(see <a href="https://example.org/a_(b)?x=1&amp;y=2">https://example.org/a_(b)?x=1&amp;y=2</a>).`},
		{"url ends at a quote", "https://example.org/x\"onclick=y", `<a href="https://example.org/x">https://example.org/x</a>&#34;onclick=y`},
		{"url scheme only", "https:// and http://.", "https:// and http://."},
		{"not http", "javascript:alert(1) ftp://example.org data:text/html,x", "javascript:alert(1) ftp://example.org data:text/html,x"},
		{"hashes", "reverted 1a2b3c4d5e and deadbeef and 12345678",
			`reverted <a href="https://gerrit.example.org/r/q/1a2b3c4d5e">1a2b3c4d5e</a> and deadbeef and 12345678`},
		{"irc codes stripped", "\x02bold\x02 \x0304,01red\x03 [[gerrit:1|\x1fx\x1f]]", `bold red <a href="https://gerrit.example.org/r/1">x</a>`},
		{"already escaped stays text", "&lt;script&gt;", "&amp;lt;script&amp;gt;"},
		{"unicode", "déployé T5 ünd", `déployé <a href="https://phab.example.org/T5">T5</a> ünd`},
		{"empty page after the colon", "[[:]] [[ : |x]] [[::]]", "[[:]] [[ : |x]] [[::]]"},
		{"scheme in capitals", "HTTPS://Example.org/A [Http://x.org/B b]",
			`<a href="https://Example.org/A">HTTPS://Example.org/A</a> <a href="http://x.org/B">b</a>`},
		{"not a URL, but a task inside", "https://T12,https://", `https://<a href="https://phab.example.org/T12">T12</a>,https://`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(test.HTML(tt.in)); got != tt.want {
				t.Errorf("HTML(%q)\n got %s\nwant %s", tt.in, got, tt.want)
			}
		})
	}
}

// Text full of link openings renders in linear time: each looks only a
// bounded way ahead for its end.
func TestManyOpeningsAreCheap(t *testing.T) {
	s := strings.Repeat("[[a", 50_000) + "]]"
	out := string(test.HTML(s))
	if !strings.HasSuffix(out, `<a href="https://wiki.example.org/wiki/a">a</a>`) || strings.Count(out, "<a ") != 1 {
		t.Errorf("got …%s", out[max(0, len(out)-200):])
	}
	// Bare URLs that come to nothing, and closing parentheses a URL
	// drops one at a time: each is looked at once (a megabyte of them would
	// take hours if every URL start scanned the rest of the text again).
	for name, s := range map[string]string{
		"URL starts":  strings.Repeat("https://.", 1<<20/9),
		"parentheses": "https://x" + strings.Repeat(")", 1<<20),
	} {
		if out := string(test.HTML(s)); strings.Count(out, "<a ") > 1 {
			t.Errorf("%s: %d links", name, strings.Count(out, "<a "))
		}
	}
	long := "[[gerrit:1|" + strings.Repeat("x", 2000) + "]]"
	if out := string(test.HTML(long)); strings.Contains(out, "x</a>") {
		t.Errorf("a label longer than %d bytes became a link", maxLink)
	}
}

func TestZeroRendererLinksURLsOnly(t *testing.T) {
	got := string((&Renderer{}).HTML("T1 gerrit:2 abc1234 [[Page]] [[gerrit:3|x]] https://x.org"))
	want := `T1 gerrit:2 abc1234 Page x <a href="https://x.org">https://x.org</a>`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestFromConfig(t *testing.T) {
	t.Setenv("WIKITEXT_TEST_SECRET", "s3cret")
	cfg, err := config.Parse([]byte(`
deploy:
  gerrit: {url: "https://gerrit.example.org/r/", username: bot, password: {env: WIKITEXT_TEST_SECRET}}
sal:
  phabricator: {url: "https://phab.example.org/", token: {env: WIKITEXT_TEST_SECRET}}
  links:
    wiki: "https://wiki.example.org/wiki/$1"
    interwiki: {wikitech: "https://wt.example.org/wiki/$1"}
`), "test.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := FromConfig(cfg)
	got := string(r.HTML("[[gerrit:1|a]] T2 [[wikitech:P]] [[mw:Q]] [[R]]"))
	want := `<a href="https://gerrit.example.org/r/1">a</a> <a href="https://phab.example.org/T2">T2</a> ` +
		`<a href="https://wt.example.org/wiki/P">wikitech:P</a> <a href="https://www.mediawiki.org/wiki/Q">mw:Q</a> ` +
		`<a href="https://wiki.example.org/wiki/R">R</a>`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if def := string(Wikimedia().HTML("[[gerrit:1|a]] T2 [[Foo]]")); def != `<a href="https://gerrit.wikimedia.org/r/1">a</a> <a href="https://phabricator.wikimedia.org/T2">T2</a> <a href="https://wikitech.wikimedia.org/wiki/Foo">Foo</a>` {
		t.Errorf("Wikimedia defaults: %s", def)
	}
}

// FuzzHTML checks that no input becomes markup: the output parses as text
// and <a href> elements only, every href is http or https, and all text is
// escaped (no raw <, >, " or ', and & only in the entities html.EscapeString
// writes). Run it longer with go test ./sal/wikitext -fuzz FuzzHTML.
func FuzzHTML(f *testing.F) {
	for _, s := range []string{
		"Backport for [[gerrit:445113|Raise $wgExampleLimit to 20 (T1001)]]",
		`<script>alert(1)</script>`, `[[gerrit:1|<b onmouseover=alert(1)>x</b>]]`,
		`https://example.org/"onmouseover="alert(1)`, "[https://x.org/ a] [[wikitech:A#b|c]] T1 abc1234 gerrit:5",
		"[[javascript:alert(1)|x]] [javascript:x y]", "\x03" + "04red\x02 &amp;",
		"HTTP://example.org/ [Https://x.org/ y] [[:]]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := string(test.HTML(s))
		checkOutput(t, s, out)
	})
}

func checkOutput(t *testing.T, in, out string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(out))
	depth := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			if depth != 0 {
				t.Fatalf("HTML(%q) = %q: an <a> is not closed", in, out)
			}
			return
		case html.TextToken:
			raw := string(z.Raw())
			for _, e := range []string{"&amp;", "&lt;", "&gt;", "&#34;", "&#39;"} {
				raw = strings.ReplaceAll(raw, e, "")
			}
			if strings.ContainsAny(raw, "<>\"'&") {
				t.Fatalf("HTML(%q) = %q: unescaped text %q", in, out, z.Raw())
			}
		case html.StartTagToken:
			name, more := z.TagName()
			if string(name) != "a" || !more || depth != 0 {
				t.Fatalf("HTML(%q) = %q: unexpected <%s>", in, out, name)
			}
			k, v, more := z.TagAttr()
			href := string(v)
			if string(k) != "href" || more || !(strings.HasPrefix(href, "http://") || strings.HasPrefix(href, "https://")) {
				t.Fatalf("HTML(%q) = %q: bad link %s=%q", in, out, k, href)
			}
			depth++
		case html.EndTagToken:
			if name, _ := z.TagName(); string(name) != "a" || depth != 1 {
				t.Fatalf("HTML(%q) = %q: unexpected </%s>", in, out, name)
			}
			depth--
		default:
			t.Fatalf("HTML(%q) = %q: unexpected %s", in, out, z.Token().Type)
		}
	}
}
