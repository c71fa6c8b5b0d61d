package web

import (
	"html"
	"html/template"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jouncebot/jouncebot/config"
)

// Linker turns references in log messages into links.
type Linker struct {
	// GerritURL is Gerrit's base URL; empty means no Gerrit links.
	GerritURL string
	// PhabricatorURL is Phabricator's base URL; empty means no task links.
	PhabricatorURL string
}

// linkRE finds the references, most specific first. Groups: 1–2
// [[gerrit:N|label]], 3 a URL, 4 gerrit:N, 5 a task, 6 a git hash.
var linkRE = regexp.MustCompile(`\[\[gerrit:([0-9]+)\|([^\]]*)\]\]` +
	`|(https?://[^\s<>"'\x60]+)` +
	`|\bgerrit:([0-9]+)\b` +
	`|\b(T[1-9][0-9]*)\b` +
	`|\b([0-9a-f]{7,40})\b`)

// Linkify renders a message as HTML: the text is escaped first, and only
// then are links added around references, so nothing in a message can
// become markup. URLs must be http or https.
func (l Linker) Linkify(msg string) template.HTML {
	var b strings.Builder
	last := 0
	for _, m := range linkRE.FindAllStringSubmatchIndex(msg, -1) {
		label, href := l.link(msg, m)
		if href == "" {
			continue
		}
		end := m[1]
		if m[6] >= 0 { // a URL: leave trailing punctuation outside the link
			end = m[6] + len(trimURL(msg[m[6]:m[7]]))
			label = msg[m[0]:end]
			href = label
		}
		b.WriteString(html.EscapeString(msg[last:m[0]]))
		b.WriteString(`<a href="` + html.EscapeString(href) + `">` + html.EscapeString(label) + `</a>`)
		last = end
	}
	b.WriteString(html.EscapeString(msg[last:]))
	return template.HTML(b.String())
}

// link returns the label and destination of a match, or "" to leave it as
// text.
func (l Linker) link(s string, m []int) (label, href string) {
	group := func(i int) string {
		if m[2*i] < 0 {
			return ""
		}
		return s[m[2*i]:m[2*i+1]]
	}
	gerrit := strings.TrimRight(l.GerritURL, "/")
	switch {
	case group(1) != "" && gerrit != "":
		return group(2), gerrit + "/r/c/" + group(1)
	case group(3) != "":
		return group(3), group(3)
	case group(4) != "" && gerrit != "":
		return group(0), gerrit + "/r/c/" + group(4)
	case group(5) != "" && l.PhabricatorURL != "" && isTask(s, m[10], m[11]):
		return group(5), strings.TrimRight(l.PhabricatorURL, "/") + "/" + group(5)
	case group(6) != "" && gerrit != "" && isHash(group(6)):
		return group(6), gerrit + "/r/q/" + group(6)
	}
	return "", ""
}

// isTask rejects the T in timestamps: 2022-12-16T19:00 (a digit before it,
// which \b does not see across '-' … but does across '6') and T19:00.
func isTask(s string, start, end int) bool {
	if start > 0 {
		r, _ := utf8.DecodeLastRuneInString(s[:start])
		if r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) {
			return false
		}
	}
	return !(end+1 < len(s) && s[end] == ':' && s[end+1] >= '0' && s[end+1] <= '9')
}

// isHash accepts hex words with both a digit and a letter, so neither
// numbers nor words like "deadbeef" or "facade" are taken for hashes.
func isHash(s string) bool {
	return strings.ContainsAny(s, "0123456789") && strings.ContainsAny(s, "abcdef")
}

// trimURL drops punctuation that ends a sentence rather than the URL, and a
// closing parenthesis that has no opening one in the URL.
func trimURL(u string) string {
	for len(u) > 0 {
		c := u[len(u)-1]
		switch {
		case strings.IndexByte(".,;:!?'\"", c) >= 0:
			u = u[:len(u)-1]
		case c == ')' && strings.Count(u, "(") < strings.Count(u, ")"):
			u = u[:len(u)-1]
		case c == ']' && strings.Count(u, "[") < strings.Count(u, "]"):
			u = u[:len(u)-1]
		default:
			return u
		}
	}
	return u
}

// LinksFromConfig points references at the configured Gerrit and
// Phabricator.
func LinksFromConfig(cfg *config.Config) Linker {
	l := Linker{GerritURL: cfg.Deploy.Gerrit.URL}
	if cfg.SAL.Phabricator != nil {
		l.PhabricatorURL = cfg.SAL.Phabricator.URL
	}
	return l
}
