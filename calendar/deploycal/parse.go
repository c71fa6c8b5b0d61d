// Package deploycal reads the deployment calendar that a wiki page (on
// Wikimedia's wikis, "Deployments") publishes as deploycal-item HTML.
//
// Fetch renders the page through the MediaWiki API and parses it; Parse
// does the parsing alone, for HTML obtained elsewhere:
//
//	events, warnings, err := deploycal.Fetch(ctx, wikiClient, "Deployments")
//
// Each element with the class deploycal-item is one Event: its id is the
// URL anchor, data-utcstart and data-utcend its times, .deploycal-item-window
// its name (with "(Max N patches)" taken out into MaxPatches), the .ircnick
// elements under .deploycal-item-deployer its deployers and those under
// .deploycal-item-changes the owners of the changes listed under it, with
// the Gerrit links among them. An event that cannot be read is skipped with
// a Warning saying what is wrong with it; the rest of the page still counts.
// A page without any deploycal-item is an error, because it means the page
// was moved or rewritten and an empty calendar would be a lie.
//
// Template and PageWikitext build such a page for tests.
package deploycal

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/html"
)

// Event is one deployment window read from the page.
type Event struct {
	// ID is the element's id, usable as a URL fragment.
	ID string
	// Start and End are in UTC.
	Start, End time.Time
	// Window is the window's name without "(Max N patches)".
	Window string
	// MaxPatches is the N of "(Max N patches)", or 0 when there is none.
	MaxPatches int
	// Deployers are IRC nicks, in page order, without duplicates.
	Deployers []string
	// Owners are the IRC nicks of people with changes listed, in page order,
	// without duplicates and without the placeholder "irc-nickname".
	Owners []string
	// Changes are the Gerrit changes linked under the window.
	Changes []Change
}

// Change is a Gerrit change listed under a window.
type Change struct {
	Number int
	URL    string
	// Title is the link's text.
	Title string
	// Owner is the nick listed above the link, if any.
	Owner string
}

// Warning says why an event on the page was skipped.
type Warning struct {
	// Event names the event by its id (`event "deploycal-item-x"`), or by
	// its position ("the 3rd deploycal-item") when it has none.
	Event    string
	Problems []string
}

func (w Warning) String() string {
	return w.Event + " was skipped: " + strings.Join(w.Problems, "; ")
}

// Placeholder is the nick the page's template shows before someone fills
// in their own.
const Placeholder = "irc-nickname"

// ErrNoEvents is returned for a page without any deploycal-item.
var ErrNoEvents = errors.New("the page has no deploycal-item entries; was it moved?")

// Parse reads the events from a rendered calendar page. Events that
// cannot be read are left out and described in warnings. It fails only
// when the HTML holds no deploycal-item at all, or when none of them
// could be read.
func Parse(r io.Reader) ([]Event, []Warning, error) {
	doc, err := html.Parse(r)
	if err != nil {
		return nil, nil, fmt.Errorf("deploycal: reading the page's HTML: %w", err)
	}
	items := findAll(doc, "deploycal-item", false)
	if len(items) == 0 {
		return nil, nil, fmt.Errorf("deploycal: %w", ErrNoEvents)
	}
	var (
		events   []Event
		warnings []Warning
		seen     = map[string]bool{}
	)
	for i, n := range items {
		e, problems := parseItem(n)
		name := fmt.Sprintf("event %q", e.ID)
		if e.ID == "" {
			name = "the " + ordinal(i+1) + " deploycal-item"
		} else if seen[e.ID] {
			problems = append(problems, "another event before it has the same id")
		}
		if len(problems) > 0 {
			warnings = append(warnings, Warning{Event: name, Problems: problems})
			continue
		}
		seen[e.ID] = true
		events = append(events, e)
	}
	if len(events) == 0 {
		return nil, warnings, fmt.Errorf("deploycal: none of the %d deploycal-item entries on the page could be read", len(items))
	}
	return events, warnings, nil
}

var maxPatches = regexp.MustCompile(`(?i)\(\s*max\.?\s+(\d+)\s+patch(?:es)?\s*\)`)

func parseItem(n *html.Node) (Event, []string) {
	var (
		e        Event
		problems []string
	)
	e.ID = strings.TrimSpace(attr(n, "id"))
	if e.ID == "" {
		problems = append(problems, "it has no id attribute")
	}
	var startErr, endErr bool
	e.Start, startErr = parseTime(n, "data-utcstart", &problems)
	e.End, endErr = parseTime(n, "data-utcend", &problems)
	if !startErr && !endErr && !e.End.After(e.Start) {
		problems = append(problems, fmt.Sprintf("it ends at %s, which is not after its start at %s",
			e.End.Format(time.RFC3339), e.Start.Format(time.RFC3339)))
	}

	if w := findAll(n, "deploycal-item-window", true); len(w) > 0 {
		name := text(w[0])
		if m := maxPatches.FindStringSubmatch(name); m != nil {
			e.MaxPatches, _ = strconv.Atoi(m[1])
			name = clean(maxPatches.ReplaceAllString(name, " "))
		}
		e.Window = name
	}
	if e.Window == "" {
		problems = append(problems, "it has no window name (.deploycal-item-window)")
	}
	if e.MaxPatches == 0 { // some pages put the limit beside the name
		if m := maxPatches.FindStringSubmatch(text(n)); m != nil {
			e.MaxPatches, _ = strconv.Atoi(m[1])
		}
	}
	for _, d := range findAll(n, "deploycal-item-deployer", true) {
		for _, nick := range findAll(d, "ircnick", true) {
			e.Deployers = appendNick(e.Deployers, text(nick))
		}
	}
	for _, c := range findAll(n, "deploycal-item-changes", true) {
		e.readChanges(c)
	}
	return e, problems
}

// parseTime reads a data-utc* attribute; failed reports a problem added.
func parseTime(n *html.Node, name string, problems *[]string) (t time.Time, failed bool) {
	v, ok := attrOK(n, name)
	v = strings.TrimSpace(v)
	if !ok || v == "" {
		*problems = append(*problems, "it has no "+name+" attribute")
		return time.Time{}, true
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05Z0700", "2006-01-02 15:04:05Z07:00"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), false
		}
	}
	*problems = append(*problems, fmt.Sprintf("its %s %q is not an ISO 8601 time like 2024-05-01T13:00:00+00:00", name, v))
	return time.Time{}, true
}

// readChanges collects owners and Gerrit links in document order; a link
// belongs to the nick most recently listed before it.
func (e *Event) readChanges(n *html.Node) {
	owner := ""
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if hasClass(n, "deploycal-item") {
				return // a nested event lists its own changes
			}
			if hasClass(n, "ircnick") {
				owner = text(n)
				if owner == Placeholder {
					owner = ""
				}
				e.Owners = appendNick(e.Owners, owner)
				return
			}
			if n.DataAtom.String() == "a" {
				href := attr(n, "href")
				if num, ok := GerritChange(href); ok && !slices.ContainsFunc(e.Changes, func(c Change) bool { return c.Number == num }) {
					e.Changes = append(e.Changes, Change{Number: num, URL: href, Title: text(n), Owner: owner})
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
}

func appendNick(list []string, nick string) []string {
	if nick == "" || nick == Placeholder || slices.Contains(list, nick) {
		return list
	}
	return append(list, nick)
}

// gerritPath matches the change number in Gerrit URL paths (after any
// "/r" prefix): /123456, /c/123456, /c/project/name/+/123456[/3],
// /#/c/123456 (old UI, from the fragment).
var gerritPath = regexp.MustCompile(`^/(?:#/)?(?:c/(?:[^+#]+/\+/)?)?(\d+)(?:/\d+)?/?$`)

// GerritChange returns the change number a Gerrit link points at, for
// links like https://gerrit.wikimedia.org/r/c/mediawiki/core/+/123456,
// …/r/123456 and …/r/#/c/123456/.
func GerritChange(href string) (int, bool) {
	u, err := url.Parse(strings.TrimSpace(href))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return 0, false
	}
	p := u.Path
	if strings.HasPrefix(u.Fragment, "/") {
		p = strings.TrimSuffix(p, "/") + "/#" + u.Fragment
	}
	if strings.HasPrefix(p, "/r/") {
		p = p[2:]
	} else if !strings.Contains(u.Hostname(), "gerrit") {
		return 0, false
	}
	m := gerritPath.FindStringSubmatch(p)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil && n > 0
}

// findAll returns the elements below n (and n itself unless below is set)
// whose class list contains class. It does not look inside a nested
// deploycal-item when searching within one.
func findAll(n *html.Node, class string, below bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node, bool)
	walk = func(n *html.Node, self bool) {
		if n.Type == html.ElementNode && self {
			if hasClass(n, class) {
				out = append(out, n)
			}
			if below && hasClass(n, "deploycal-item") {
				return // a nested item's content is not the outer one's
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, true)
		}
	}
	walk(n, !below)
	return out
}

func hasClass(n *html.Node, class string) bool {
	return slices.Contains(strings.Fields(attr(n, "class")), class)
}

func attr(n *html.Node, name string) string {
	v, _ := attrOK(n, name)
	return v
}

func attrOK(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

// text is n's text content with whitespace collapsed.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			b.WriteString(n.Data)
		case html.ElementNode:
			if n.Data == "br" {
				b.WriteByte(' ')
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return clean(b.String())
}

func clean(s string) string { return strings.Join(strings.Fields(s), " ") }

func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}

// Kind guesses the window's kind from its name, in the terms of the
// config's windows: "backport", "train", "puppet" or "other".
func (e Event) Kind() string {
	name := strings.ToLower(e.Window)
	for _, k := range []string{"backport", "train", "puppet"} {
		if strings.Contains(name, k) {
			return k
		}
	}
	return "other"
}

// Link returns the URL of the event on the page whose public URL is
// pageURL (e.g. https://wikitech.wikimedia.org/wiki/Deployments).
func (e Event) Link(pageURL string) string {
	return pageURL + "#" + (&url.URL{Fragment: e.ID}).EscapedFragment()
}
