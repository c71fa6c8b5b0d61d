package commands

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Parsed is a chat line understood as a command.
type Parsed struct {
	// Name is the command word, lower-cased.
	Name string
	// Args are the words after it; double quotes group words.
	Args []string
	// Rest is the text after the command word, trimmed.
	Rest string
	// Phrase is the customary phrase a Trigger matched, "" otherwise.
	Phrase string
}

// MaxLine is the longest line the parser reads; the rest is ignored.
const MaxLine = 4096

// Parse reads text as a command addressed to the bot called nick. In a
// room the line must start with the nick followed by ':', ',' or a space
// ("jouncebot: next", "JounceBot, next"); privately the prefix is optional.
// A bare "jouncebot next" is not addressed: people say the bot's name in
// passing far more often than they mean to command it.
// It reports false when the line is not addressed to the bot or is empty.
// Parse is pure: it has no side effects and depends only on its arguments.
func Parse(text, nick string, private bool) (Parsed, bool) {
	text = Clean(text)
	if len(text) > MaxLine {
		text = text[:MaxLine]
	}
	text = strings.TrimSpace(text)
	rest, addressed := stripAddress(text, nick)
	if !addressed && !private {
		return Parsed{}, false
	}
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return Parsed{}, false
	}
	name, after, _ := strings.Cut(rest, " ")
	return Parsed{
		Name: strings.ToLower(name),
		Args: Fields(after),
		Rest: strings.TrimSpace(after),
	}, true
}

// stripAddress removes a leading "nick:" or "nick," (also "@nick:").
func stripAddress(text, nick string) (string, bool) {
	t := strings.TrimPrefix(text, "@")
	if nick == "" || len(t) < len(nick) || !strings.EqualFold(t[:len(nick)], nick) {
		return text, false
	}
	rest := t[len(nick):]
	if rest == "" {
		return "", true
	}
	switch rest[0] {
	case ':', ',':
		return rest[1:], true
	}
	return text, false
}

// Fields splits s into words; double-quoted text is one word.
func Fields(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for _, r := range s {
		switch {
		case r == '"' || r == '“' || r == '”':
			inQuote = !inQuote
			have = true
		case unicode.IsSpace(r) && !inQuote:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

// Clean makes text safe to parse and to echo: invalid UTF-8 becomes U+FFFD
// and control characters (IRC formatting codes among them) are removed;
// tabs become spaces.
func Clean(s string) string {
	if !strings.ContainsFunc(s, needsCleaning) && utf8.ValidString(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = stripColours(s)
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n':
			return ' '
		case needsCleaning(r):
			return -1
		}
		return r
	}, s)
}

// stripColours removes IRC colour codes with their arguments: ^C followed
// by up to two digits and optionally a comma and two more, and ^D followed
// by a hex colour. Other formatting codes are single control bytes that
// Clean drops anyway.
func stripColours(s string) string {
	if !strings.ContainsAny(s, "\x03\x04") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 0x03:
			i += digits(s[i+1:], 2, isDigit)
			if i+2 < len(s) && s[i+1] == ',' && isDigit(s[i+2]) {
				i += 1 + digits(s[i+2:], 2, isDigit)
			}
		case 0x04:
			i += digits(s[i+1:], 6, isHex)
			if i+2 < len(s) && s[i+1] == ',' && isHex(s[i+2]) {
				i += 1 + digits(s[i+2:], 6, isHex)
			}
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func digits(s string, max int, ok func(byte) bool) int {
	n := 0
	for n < max && n < len(s) && ok(s[n]) {
		n++
	}
	return n
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func needsCleaning(r rune) bool {
	return unicode.IsControl(r) || r == '\u200b' || r == '\ufeff'
}

// Quote shortens and cleans user text for echoing in a reply.
func Quote(s string) string {
	s = Clean(s)
	const max = 40
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return `"` + s + `"`
}
