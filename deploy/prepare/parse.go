package prepare

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Ref is a change as a person named it.
type Ref struct {
	Number   int
	PatchSet int    // 0 when not given
	Project  string // "" when not given
	// Host is the link's host in lower case, with its port unless that is
	// the scheme's default; "" for a number.
	Host string
}

// OtherGerrit returns the sentence refusing r when it links to another
// Gerrit than the one whose change page is changeURL (any change's), or
// "" when r is a number or links to that Gerrit. A link names its change
// by number only, so 445113 on gerrit.evil.example would otherwise deploy
// 445113 from ours.
func (r Ref) OtherGerrit(link, changeURL string) string {
	if r.Host == "" {
		return ""
	}
	ours, err := url.Parse(changeURL)
	if err != nil || r.Host == hostOf(ours) {
		return ""
	}
	return fmt.Sprintf("%s links to %s, but I deploy only from the Gerrit at %s; give the change number or a link to %s.",
		strings.TrimSpace(link), r.Host, hostOf(ours), hostOf(ours))
}

// hostOf is u's host in lower case, without the scheme's default port.
func hostOf(u *url.URL) string {
	h := strings.ToLower(u.Host)
	switch u.Scheme {
	case "https":
		return strings.TrimSuffix(h, ":443")
	case "http":
		return strings.TrimSuffix(h, ":80")
	}
	return h
}

// changeIDPattern is Gerrit's Change-Id: "I" and 40 hex digits.
var changeIDPattern = regexp.MustCompile(`^I[0-9a-f]{40}$`)

// isChangeID reports whether s is a Change-Id, and so safe to put in a
// Gerrit query ("change:" + s).
func isChangeID(s string) bool { return changeIDPattern.MatchString(s) }

// ParseChange reads a change number or a Gerrit URL: 445113, …/r/445113,
// …/r/c/445113, …/r/c/<project>/+/445113[/<patchset>], …/r/#/c/445113/.
func ParseChange(s string) (Ref, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("%q is not a valid change number or URL; give a number like 445113 or a Gerrit link", s)
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 {
			return Ref{}, bad
		}
		return Ref{Number: n}, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Ref{}, bad
	}
	r, err := parseChangePath(u)
	if err != nil {
		return Ref{}, bad
	}
	r.Host = hostOf(u)
	return r, nil
}

// parseChangePath reads the change from a Gerrit link's path.
func parseChangePath(u *url.URL) (Ref, error) {
	bad := errors.New("not a change link")
	p := u.Path
	if strings.HasPrefix(u.Fragment, "/") { // old UI: /r/#/c/445113/
		p = u.Fragment
	}
	parts := strings.Split(strings.Trim(p, "/"), "/")
	// …/+/N[/PS][/file…]
	for i, x := range parts {
		if x != "+" || i+1 >= len(parts) {
			continue
		}
		n, err := strconv.Atoi(parts[i+1])
		if err != nil || n <= 0 {
			return Ref{}, bad
		}
		r := Ref{Number: n, Project: strings.Join(trimC(parts[:i]), "/")}
		if i+2 < len(parts) {
			if ps, err := strconv.Atoi(parts[i+2]); err == nil && ps > 0 {
				r.PatchSet = ps
			}
		}
		return r, nil
	}
	// …/N, …/c/N, …/c/N/PS
	for i := len(parts) - 1; i >= 0; i-- {
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			continue
		}
		if i > 0 && (parts[i-1] == "c" || parts[i-1] == "r") {
			return Ref{Number: n}, nil
		}
		if c, err := strconv.Atoi(parts[max(i-1, 0)]); err == nil && c > 0 && i > 1 && parts[i-2] == "c" {
			return Ref{Number: c, PatchSet: n}, nil
		}
	}
	return Ref{}, bad
}

// trimC drops the leading "r" and "c" of a /r/c/<project> path.
func trimC(parts []string) []string {
	for len(parts) > 0 && (parts[0] == "r" || parts[0] == "c") {
		parts = parts[1:]
	}
	return parts
}
