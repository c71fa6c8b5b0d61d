// Package wikitext renders the wikitext people write in Server Admin Log
// lines as HTML, with links where the wiki's SAL page shows links. It is the
// one renderer of SAL text: the SAL pages, the Atom feed, the status page,
// the readiness page and Matrix's HTML bodies all use it;
// plain text (IRC, the console) keeps the wikitext as written.
//
//	r := wikitext.FromConfig(cfg) // or wikitext.Wikimedia()
//	html := r.HTML("Backport for [[gerrit:445113|Raise the limit (T1001)]]")
//
// It recognises [[prefix:target|label]] for the prefixes of its interwiki
// map, [[Page|label]] for pages of its wiki, [https://… label], bare http
// and https URLs, bare task ids (T123), bare gerrit:N and git hashes. IRC
// formatting codes are removed. Everything else is escaped, so nothing in a
// message can become markup, and every link it writes is http or https.
package wikitext

import (
	"html"
	"html/template"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Renderer says where links point. The zero value links bare URLs only.
type Renderer struct {
	// Wiki is the URL of a page of the wiki [[Page]] links go to, with $1
	// standing for the title: https://wikitech.wikimedia.org/wiki/$1. Empty
	// shows such links as their label.
	Wiki string
	// Interwiki maps lower-case prefixes to URLs with $1 standing for the
	// rest of the target: "phab" → https://phabricator.wikimedia.org/$1.
	// "gerrit" also serves bare gerrit:N and git hashes (as q/<hash>),
	// "phab" bare task ids.
	Interwiki map[string]string
}

// WikimediaInterwiki are the interwiki prefixes of Wikimedia's wikis that
// SAL lines use.
var WikimediaInterwiki = map[string]string{
	"gerrit":        "https://gerrit.wikimedia.org/r/$1",
	"phab":          "https://phabricator.wikimedia.org/$1",
	"phabricator":   "https://phabricator.wikimedia.org/$1",
	"wikitech":      "https://wikitech.wikimedia.org/wiki/$1",
	"mw":            "https://www.mediawiki.org/wiki/$1",
	"mediawikiwiki": "https://www.mediawiki.org/wiki/$1",
	"meta":          "https://meta.wikimedia.org/wiki/$1",
	"m":             "https://meta.wikimedia.org/wiki/$1",
	"w":             "https://en.wikipedia.org/wiki/$1",
	"wikipedia":     "https://en.wikipedia.org/wiki/$1",
	"commons":       "https://commons.wikimedia.org/wiki/$1",
	"d":             "https://www.wikidata.org/wiki/$1",
	"wikidata":      "https://www.wikidata.org/wiki/$1",
	"wmf":           "https://foundation.wikimedia.org/wiki/$1",
	"foundation":    "https://foundation.wikimedia.org/wiki/$1",
	"gitlab":        "https://gitlab.wikimedia.org/$1",
	"toolforge":     "https://toolsadmin.wikimedia.org/tools/id/$1",
}

// WikimediaWiki is where [[Page]] links go by default: Wikimedia's SAL
// lives on wikitech.
const WikimediaWiki = "https://wikitech.wikimedia.org/wiki/$1"

// Wikimedia is the renderer for Wikimedia's SAL.
func Wikimedia() *Renderer {
	m := make(map[string]string, len(WikimediaInterwiki))
	for k, v := range WikimediaInterwiki {
		m[k] = v
	}
	return &Renderer{Wiki: WikimediaWiki, Interwiki: m}
}

// HTML renders s, one line of SAL text, as HTML.
func (r *Renderer) HTML(s string) template.HTML {
	var b strings.Builder
	r.write(&b, StripFormatting(s))
	return template.HTML(b.String())
}

// write renders s into b: text is escaped a piece at a time, and links are
// written only around what the scanner recognised.
func (r *Renderer) write(b *strings.Builder, s string) {
	text := 0 // start of the text not yet written
	// noURL is the end of the last bare URL that came to nothing. A URL
	// starting inside it would end at the same place and come to nothing
	// too (but for parentheses balanced differently, which stay text), so
	// none is looked for there: each byte is scanned for URLs once.
	noURL := 0
	for i := 0; i < len(s); {
		label, href, end := r.at(s, i)
		if end == 0 && i >= noURL && (s[i] == 'h' || s[i] == 'H') && hasScheme(s[i:]) && !wordBefore(s, i) {
			var scanned int
			if label, href, end, scanned = bareURL(s, i); end == 0 {
				noURL = i + scanned
			}
		}
		if end == 0 {
			_, n := utf8.DecodeRuneInString(s[i:])
			i += n
			continue
		}
		if href == "" { // recognised, but nowhere to link to: its label
			b.WriteString(html.EscapeString(s[text:i]))
			b.WriteString(html.EscapeString(label))
		} else {
			b.WriteString(html.EscapeString(s[text:i]))
			b.WriteString(`<a href="` + html.EscapeString(href) + `">` + html.EscapeString(label) + `</a>`)
		}
		i, text = end, end
	}
	b.WriteString(html.EscapeString(s[text:]))
}

// at looks for a link starting at s[i], other than a bare URL (see
// bareURL). It returns its label, its destination ("" for a wiki link with
// nowhere to go) and the end of its source, or end 0 when nothing starts
// there.
func (r *Renderer) at(s string, i int) (label, href string, end int) {
	switch {
	case strings.HasPrefix(s[i:], "[["):
		return r.wikiLink(s, i)
	case s[i] == '[' && hasScheme(s[i+1:]):
		return externalLink(s, i)
	case s[i] == 'T' && !wordBefore(s, i):
		n := digitRun(s[i+1:])
		end := i + 1 + n
		if n == 0 || s[i+1] == '0' || wordAt(s, end) || (end+1 < len(s) && s[end] == ':' && isDigit(s[end+1])) {
			return "", "", 0
		}
		if href = r.interwiki("phab", s[i:end]); href == "" {
			return "", "", 0
		}
		return s[i:end], href, end
	case (s[i] == 'g' || s[i] == 'G') && !wordBefore(s, i) && len(s) > i+7 && strings.EqualFold(s[i:i+7], "gerrit:"):
		n := digitRun(s[i+7:])
		end := i + 7 + n
		if n == 0 || wordAt(s, end) {
			return "", "", 0
		}
		if href = r.interwiki("gerrit", s[i+7:end]); href == "" {
			return "", "", 0
		}
		return s[i:end], href, end
	case isHexDigit(s[i]) && !wordBefore(s, i):
		n := hexLower(s[i:])
		end := i + n
		h := s[i:end]
		if n < 7 || n > 40 || wordAt(s, end) || !strings.ContainsAny(h, "0123456789") || !strings.ContainsAny(h, "abcdef") {
			return "", "", 0
		}
		if href = r.interwiki("gerrit", "q/"+h); href == "" {
			return "", "", 0
		}
		return h, href, end
	}
	return "", "", 0
}

// wikiLink reads [[target]] or [[target|label]] at s[i].
func (r *Renderer) wikiLink(s string, i int) (label, href string, end int) {
	close := strings.Index(window(s, i+2), "]]")
	if close < 0 {
		return "", "", 0
	}
	inner := s[i+2 : i+2+close]
	if strings.Contains(inner, "[[") || strings.ContainsAny(inner, "\n\r") {
		return "", "", 0
	}
	target, label, piped := strings.Cut(inner, "|")
	target = strings.TrimSpace(target)
	if target == "" || strings.ContainsAny(target, "<>[]{}") {
		return "", "", 0
	}
	page := strings.TrimPrefix(target, ":")
	if strings.Trim(page, " :") == "" { // [[:]] is no page
		return "", "", 0
	}
	if !piped || strings.TrimSpace(label) == "" {
		label = page
	}
	end = i + 2 + close + 2
	if prefix, rest, ok := strings.Cut(page, ":"); ok {
		if _, known := r.Interwiki[strings.ToLower(strings.TrimSpace(prefix))]; known {
			rest = strings.TrimSpace(rest)
			if rest == "" {
				return "", "", 0
			}
			return label, r.interwiki(strings.ToLower(strings.TrimSpace(prefix)), rest), end
		}
	}
	return label, expand(r.Wiki, page), end
}

// externalLink reads [https://… label] at s[i].
func externalLink(s string, i int) (label, href string, end int) {
	n := urlLen(s[i+1:])
	u := s[i+1 : i+1+n]
	if len(u) <= len("https://") || strings.HasSuffix(u, "://") {
		return "", "", 0
	}
	rest := s[i+1+n:]
	close := strings.IndexAny(window(rest, 0), "]\n")
	if close < 0 || rest[close] != ']' || (close > 0 && rest[0] != ' ') {
		return "", "", 0
	}
	label = strings.TrimSpace(rest[:close])
	if label == "" {
		label = u
	}
	return label, lowerScheme(u), i + 1 + n + close + 1
}

// bareURL reads the http(s) URL at s[i]: its label, its destination and
// its end, or end 0 when it is no URL. scanned is how far it looked.
func bareURL(s string, i int) (label, href string, end, scanned int) {
	scanned = urlLen(s[i:])
	u := trimURL(s[i : i+scanned])
	if len(u) <= len("https://") || strings.HasSuffix(u, "://") {
		return "", "", 0, scanned
	}
	return u, lowerScheme(u), i + len(u), scanned
}

// lowerScheme writes u's scheme in lower case, as links are checked for.
func lowerScheme(u string) string {
	scheme, rest, _ := strings.Cut(u, "://")
	return strings.ToLower(scheme) + "://" + rest
}

// maxLink is the longest a link's target and label may be together. It
// keeps the search for a link's end short, so text full of "[[" renders in
// linear time.
const maxLink = 1024

// window is s from i, at most maxLink bytes and the two closing brackets.
func window(s string, i int) string { return s[i:min(len(s), i+maxLink+2)] }

// interwiki is the URL of target under prefix, or "" when the prefix is
// not in the map.
func (r *Renderer) interwiki(prefix, target string) string {
	return expand(r.Interwiki[prefix], target)
}

// expand puts the title into pattern as MediaWiki does: spaces become
// underscores and the rest is percent-encoded, keeping '/' and ':'. Only
// http and https patterns are used.
func expand(pattern, title string) string {
	if !hasScheme(pattern) || !strings.Contains(pattern, "$1") {
		return ""
	}
	title, frag, hasFrag := strings.Cut(title, "#")
	t := encodeTitle(strings.TrimSpace(title))
	if hasFrag {
		t += "#" + encodeTitle(strings.TrimSpace(frag))
	}
	return strings.Replace(pattern, "$1", t, 1)
}

// encodeTitle percent-encodes a title like MediaWiki's wfUrlencode.
func encodeTitle(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			b.WriteByte('_')
		case c < 0x80 && (unicode.IsLetter(rune(c)) || isDigit(c) || strings.IndexByte("-_.~;@$!*(),/:", c) >= 0):
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// hasScheme reports whether s starts with http:// or https://.
func hasScheme(s string) bool {
	return len(s) >= 7 && strings.EqualFold(s[:7], "http://") || len(s) >= 8 && strings.EqualFold(s[:8], "https://")
}

// urlLen is the length of the URL at the start of s: up to a space, a
// control character or a character that cannot be part of a bare URL.
func urlLen(s string) int {
	for i, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("<>\"'`[]{}|", r) || r == utf8.RuneError {
			return i
		}
	}
	return len(s)
}

// trimURL drops punctuation that ends a sentence rather than the URL, and a
// closing parenthesis that has no opening one in the URL.
func trimURL(u string) string {
	open, close := strings.Count(u, "("), strings.Count(u, ")")
	for len(u) > 0 {
		switch c := u[len(u)-1]; {
		case strings.IndexByte(".,;:!?", c) >= 0:
		case c == ')' && open < close:
			close--
		default:
			return u
		}
		u = u[:len(u)-1]
	}
	return u
}

// wordBefore reports whether a letter, digit or '_' comes just before s[i].
func wordBefore(s string, i int) bool {
	if i == 0 {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return isWordRune(r)
}

// wordAt reports whether a letter, digit or '_' is at s[i].
func wordAt(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return isWordRune(r)
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

func digitRun(s string) int {
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	return n
}

func hexLower(s string) int {
	n := 0
	for n < len(s) && (isDigit(s[n]) || s[n] >= 'a' && s[n] <= 'f') {
		n++
	}
	return n
}

func isHexDigit(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' }
