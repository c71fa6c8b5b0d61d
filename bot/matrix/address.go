package matrix

import (
	"cmp"
	"html"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"maunium.net/go/mautrix/id"
)

// addressing knows the names people use for the bot in a room, so that
// every way of addressing it reaches the commands package in the one form
// it parses, "<nick>: command", as on IRC.
type addressing struct {
	nick   string    // the form delivered, the bot's configured nick
	userID id.UserID // the bot's Matrix id, for mention pills
	names  []string  // other prefixes: localpart, display names, full id
}

// normalise rewrites a message that starts by addressing the bot — a
// mention pill in formattedBody, or one of the bot's names followed by ":"
// or "," in body — to "<nick>: rest". Any other body is returned unchanged.
func (a addressing) normalise(body, formattedBody string) string {
	if label, ok := a.leadingPill(formattedBody); ok {
		rest, ok := cutPrefixFold(strings.TrimLeft(body, " "), label)
		if ok && (rest == "" || strings.ContainsRune(":, ", rune(rest[0]))) {
			return a.nick + ": " + trimSeparator(rest)
		}
	}
	names := append([]string{a.nick, string(a.userID)}, a.names...)
	slices.SortStableFunc(names, func(x, y string) int { return cmp.Compare(len(y), len(x)) })
	trimmed := strings.TrimLeft(body, " ")
	for _, n := range names {
		if n == "" {
			continue
		}
		rest, ok := cutPrefixFold(trimmed, n)
		if !ok || rest == "" || (rest[0] != ':' && rest[0] != ',') {
			continue
		}
		return a.nick + ": " + trimSeparator(rest)
	}
	return body
}

var pillRE = regexp.MustCompile(`(?is)^\s*<a\s[^>]*href\s*=\s*["']([^"']*)["'][^>]*>(.*?)</a>`)
var tagRE = regexp.MustCompile(`<[^>]*>`)

// leadingPill reports whether formattedBody begins with a mention pill of
// the bot, and returns the pill's visible label.
func (a addressing) leadingPill(formattedBody string) (string, bool) {
	m := pillRE.FindStringSubmatch(formattedBody)
	if m == nil {
		return "", false
	}
	href := html.UnescapeString(m[1])
	var target string
	if frag, ok := strings.CutPrefix(href, "https://matrix.to/#/"); ok {
		target, _, _ = strings.Cut(frag, "?")
	} else if u, ok := strings.CutPrefix(href, "matrix:u/"); ok {
		target, _, _ = strings.Cut(u, "?")
		target = "@" + target
	} else {
		return "", false
	}
	if t, err := url.PathUnescape(target); err == nil {
		target = t
	}
	if target != string(a.userID) {
		return "", false
	}
	label := strings.TrimSpace(html.UnescapeString(tagRE.ReplaceAllString(m[2], "")))
	return label, label != ""
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// trimSeparator removes the ":" or "," and spaces between a name and the
// command.
func trimSeparator(s string) string {
	s = strings.TrimLeft(s, " ")
	s = strings.TrimPrefix(s, ":")
	s = strings.TrimPrefix(s, ",")
	return strings.TrimSpace(s)
}
