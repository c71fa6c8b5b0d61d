package wikitext

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// StripFormatting removes IRC formatting codes (bold, colours with their
// arguments, italics, underline, reverse, monospace, reset) and any other
// control characters from s.
func StripFormatting(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == 0x03: // colour: ^C[fg[,bg]] with 1–2 digit numbers
			i++
			i += digits(s[i:], 2)
			if i+1 < len(s) && s[i] == ',' && isDigit(s[i+1]) {
				i++
				i += digits(s[i:], 2)
			}
		case c == 0x04: // hex colour: ^D[RRGGBB[,RRGGBB]]
			i++
			i += hexRun(s[i:], 6)
			if i+1 < len(s) && s[i] == ',' && hexRun(s[i+1:], 6) == 6 {
				i += 7
			}
		case c == '\t':
			b.WriteByte(' ')
			i++
		case c < 0x20 || c == 0x7f:
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if !unicode.IsControl(r) {
				b.WriteString(s[i : i+n])
			}
			i += n
		}
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digits(s string, max int) int {
	n := 0
	for n < max && n < len(s) && isDigit(s[n]) {
		n++
	}
	return n
}

func hexRun(s string, want int) int {
	n := 0
	for n < want && n < len(s) && strings.IndexByte("0123456789abcdefABCDEF", s[n]) >= 0 {
		n++
	}
	if n != want {
		return 0
	}
	return n
}
