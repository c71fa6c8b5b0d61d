package sal

import (
	"regexp"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jouncebot/jouncebot/sal/wikitext"
)

// Entry is one line of the Server Admin Log.
type Entry struct {
	// ID is assigned when the entry is stored: 1, 2, 3, … in the order
	// entries were logged. It never changes and is never reused.
	ID uint64 `json:"id"`
	// Time is when the entry was logged, in UTC, to the second. Entries are
	// in time order: an entry's time is never before its predecessor's.
	Time time.Time `json:"time"`
	// Nick is who logged it, as shown: the IRC nick, Matrix display name, or
	// for relayed entries the relayed user@host.
	Nick string `json:"nick"`
	// Account is the authenticated identity that logged it (IRC services
	// account or Matrix user id); for relayed entries, the relay's account.
	Account string `json:"account,omitempty"`
	// Network and Room say where it was logged.
	Network string `json:"network,omitempty"`
	Room    string `json:"room,omitempty"`
	// Project is the SAL project the entry belongs to.
	Project string `json:"project"`
	// Message is the logged text, with IRC formatting codes removed.
	Message string `json:"message"`
	// Tasks are the distinct Phabricator tasks mentioned ("T123").
	Tasks []string `json:"tasks,omitempty"`
	// Changes are the distinct Gerrit change numbers mentioned.
	Changes []int `json:"changes,omitempty"`
}

// Day is the UTC date of the entry, "2006-01-02".
func (e Entry) Day() string { return e.Time.UTC().Format("2006-01-02") }

// StripFormatting removes IRC formatting codes (bold, colours with their
// arguments, italics, underline, reverse, monospace, reset) and any other
// control characters from s.
func StripFormatting(s string) string { return wikitext.StripFormatting(s) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// taskRE finds candidate Phabricator task ids; FindTasks checks the
// characters around each match, which RE2 cannot look at.
var taskRE = regexp.MustCompile(`T[0-9]+`)

// FindTasks returns the distinct Phabricator task ids ("T123") mentioned in
// s as whole words, in order of first mention. A T inside a word or a
// timestamp ("2022-12-16T19:00", "T19:00") is not a task.
func FindTasks(s string) []string {
	var out []string
	for _, m := range taskRE.FindAllStringIndex(s, -1) {
		start, end := m[0], m[1]
		if start > 0 {
			r, _ := utf8.DecodeLastRuneInString(s[:start])
			if isWordRune(r) {
				continue
			}
		}
		if end < len(s) {
			r, _ := utf8.DecodeRuneInString(s[end:])
			if isWordRune(r) {
				continue
			}
			if r == ':' && end+1 < len(s) && isDigit(s[end+1]) {
				continue // a time of day
			}
		}
		if s[start+1] == '0' {
			continue // task numbers have no leading zeros
		}
		id := s[start:end]
		if !contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// changeRE matches the ways a Gerrit change is named in the log:
// gerrit:123, [[gerrit:123|…]], and change URLs like
// https://gerrit.example.org/r/c/repo/+/123, /r/123 and /r/#/c/123/.
var changeRE = regexp.MustCompile(`(?i)\bgerrit:([0-9]+)\b|/r/(?:#/)?c/(?:[^\s+]+/\+/)?([0-9]+)\b|/r/([0-9]+)\b`)

// FindChanges returns the distinct Gerrit change numbers mentioned in s, in
// order of first mention.
func FindChanges(s string) []int {
	var out []int
	for _, m := range changeRE.FindAllStringSubmatch(s, -1) {
		for _, g := range m[1:] {
			if g == "" {
				continue
			}
			if n, err := strconv.Atoi(g); err == nil && n > 0 && !contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}
