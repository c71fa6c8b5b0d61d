package hostsync

import (
	"path"
	"strings"
)

// pathFilter returns the NUL-separated include rules that limit a
// recursive rsync --delete of the whole tree to paths: each path's parent
// directories, the path itself and, if it is a directory, everything in
// it. Everything else is excluded by the "--exclude=*" that follows, and
// excluded files are neither sent nor deleted. A path missing from the
// source is included but not sent, so --delete removes it from the host.
//
// This replaces --files-from with --delete-missing-args, which rsync
// 3.2.7-1+deb12u5 (Debian 12's security update of May 2026) rejects with
// "invalid file mode 00 … [Receiver]". Include rules and "***" work the
// same in every rsync since 2.6.7. They cost about a fifth more CPU than
// --files-from (each included directory is listed on both sides), so
// Rsync uses them only when a path is missing or a directory. Paths must
// be clean (cleanPaths).
func pathFilter(paths []string) string {
	var b strings.Builder
	rule := func(r string) {
		b.WriteString(r)
		b.WriteByte(0)
	}
	dirs := map[string]bool{}
	for _, p := range paths {
		var parents []string
		for d := path.Dir(p); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			parents = append(parents, d)
		}
		for i := len(parents) - 1; i >= 0; i-- {
			rule(literalPattern("/" + parents[i] + "/"))
		}
		rule(literalPattern("/" + p))
		rule("/" + escapeWildcards(p) + "/***")
	}
	return b.String()
}

// literalPattern returns an rsync pattern matching exactly s. rsync
// treats a backslash as an escape only in a pattern with a wildcard in
// it, so s is escaped only when it holds one.
func literalPattern(s string) string {
	if strings.ContainsAny(s, "*?[") {
		return escapeWildcards(s)
	}
	return s
}

var wildcardEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)

// escapeWildcards escapes s for use in an rsync pattern with wildcards.
func escapeWildcards(s string) string { return wildcardEscaper.Replace(s) }
