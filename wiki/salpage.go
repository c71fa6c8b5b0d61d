package wiki

import (
	"context"
	"regexp"
	"strings"
	"time"
)

// SALEntry is one Server Admin Log line to write to a wiki page.
type SALEntry struct {
	Time    time.Time // converted to UTC
	Nick    string
	Message string
}

// SALLine formats e as the page shows it: "* HH:MM nick: message", with
// the text escaped by EscapeWikitext.
func SALLine(e SALEntry) string {
	t := e.Time.UTC()
	return "* " + t.Format("15:04") + " " + EscapeWikitext(e.Nick) + ": " + EscapeWikitext(e.Message)
}

// dayHeading matches "== 2024-05-01 ==" lines; group 1 is the date.
var dayHeading = regexp.MustCompile(`^==\s*(\d{4}-\d{2}-\d{2})\s*==\s*$`)

// AddSALEntry returns page with e inserted newest first, as the Server Admin
// Log pages are kept: the line goes right under the heading of its UTC day
// ("== 2024-05-01 =="), and a missing day heading is created above the
// newest older day (so at the top for a new day), after any text that
// precedes the first day heading.
func AddSALEntry(page string, e SALEntry) string {
	day := e.Time.UTC().Format(time.DateOnly)
	line := SALLine(e)
	lines := strings.Split(page, "\n")
	insertAt := -1 // index of the first older day heading
	for i, l := range lines {
		m := dayHeading.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if m[1] == day {
			return join(lines[:i+1], []string{line}, lines[i+1:])
		}
		if m[1] < day {
			insertAt = i
			break
		}
	}
	heading := "== " + day + " =="
	if insertAt >= 0 {
		return join(lines[:insertAt], []string{heading, line}, lines[insertAt:])
	}
	body := strings.TrimRight(page, "\n")
	if strings.TrimSpace(body) == "" {
		return heading + "\n" + line + "\n"
	}
	return body + "\n" + heading + "\n" + line + "\n"
}

func join(parts ...[]string) string {
	var all []string
	for _, p := range parts {
		all = append(all, p...)
	}
	return strings.Join(all, "\n")
}

// wikiLink matches an internal link "[[target|label]]" whose pipe must stay.
var wikiLink = regexp.MustCompile(`\[\[[^\[\]{}|<>\n]+\|[^\[\]{}|<>\n]*\]\]`)

// EscapeWikitext makes text safe to put on one wikitext list line: it can
// neither call templates, break the surrounding markup, sign with ~~~~
// nor start new lines. `{`, `}` and `|` become HTML entities, except the
// pipe of a well-formed internal link such as [[gerrit:123|subject]],
// which keeps working; `<` becomes &lt; (so no HTML comment or tag can
// hide the rest of the page); line breaks become spaces.
func EscapeWikitext(s string) string {
	var b strings.Builder
	last := 0
	for _, loc := range wikiLink.FindAllStringIndex(s, -1) {
		b.WriteString(escapeText(s[last:loc[0]]))
		link := s[loc[0]:loc[1]]
		pipe := strings.IndexByte(link, '|')
		b.WriteString(escapeText(link[:pipe]) + "|" + escapeText(link[pipe+1:]))
		last = loc[1]
	}
	b.WriteString(escapeText(s[last:]))
	return b.String()
}

var textEscaper = strings.NewReplacer(
	"{", "&#123;",
	"}", "&#125;",
	"|", "&#124;",
	"<", "&lt;",
	"\r\n", " ",
	"\n", " ",
	"\r", " ",
	"\t", " ",
)

func escapeText(s string) string {
	s = textEscaper.Replace(s)
	if strings.Contains(s, "~~~") { // a signature; any run of tildes is escaped whole
		s = strings.ReplaceAll(s, "~", "&#126;")
	}
	return s
}

// WriteSALEntry adds e to the log page with AddSALEntry, retrying through
// edit conflicts (see Edit). The edit summary is "nick: message", as the
// Server Admin Log bot writes it.
func (c *Client) WriteSALEntry(ctx context.Context, page string, e SALEntry) (EditResult, error) {
	summary := strings.Join(strings.Fields(e.Nick+": "+e.Message), " ")
	if r := []rune(summary); len(r) > 250 {
		summary = string(r[:249]) + "…"
	}
	return c.Edit(ctx, page, func(old string) string { return AddSALEntry(old, e) }, summary)
}
