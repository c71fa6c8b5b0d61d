package deploy

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Ref is a change as a person named it.
type Ref struct {
	Number   int
	PatchSet int    // 0 when not given
	Project  string // "" when not given
}

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
