package irc

import (
	"strings"
	"unicode/utf8"

	"github.com/jouncebot/jouncebot/bot"
)

// IRC formatting control bytes.
const (
	ctrlBold      = '\x02'
	ctrlColor     = '\x03'
	ctrlHexColor  = '\x04'
	ctrlReset     = '\x0f'
	ctrlMonospace = '\x11'
	ctrlReverse   = '\x16'
	ctrlItalic    = '\x1d'
	ctrlStrike    = '\x1e'
	ctrlUnderline = '\x1f'
)

// StripControl removes IRC formatting (bold, colours with their numbers,
// italics, …) and every other control byte from s, so that what people
// typed reaches commands as plain text and nothing they typed can smuggle
// control bytes (CTCP, CR, LF) into what the bot sends. Tabs become spaces.
// Invalid UTF-8 is replaced with U+FFFD.
func StripControl(s string) string {
	if !hasControl(s) && utf8.ValidString(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ctrlColor:
			i += colorLen(s[i+1:], isDigit, 2)
		case c == ctrlHexColor:
			i += colorLen(s[i+1:], isHex, 6)
		case c == '\t':
			b.WriteByte(' ')
		case c < 0x20 || c == 0x7f:
			// other formatting and control bytes are dropped
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// colorLen returns how many bytes after a colour code belong to it:
// "fg" or "fg,bg", each up to max characters accepted by ok.
func colorLen(s string, ok func(byte) bool, max int) int {
	n := digits(s, ok, max)
	if n == 0 {
		return 0
	}
	if n < len(s) && s[n] == ',' {
		if m := digits(s[n+1:], ok, max); m > 0 {
			return n + 1 + m
		}
	}
	return n
}

func digits(s string, ok func(byte) bool, max int) int {
	n := 0
	for n < len(s) && n < max && ok(s[n]) {
		n++
	}
	return n
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || (c|0x20) >= 'a' && (c|0x20) <= 'f' }

// Render turns rich text into IRC lines, one per line of t. Bold is ^B only
// when formatting is enabled; links are "label (url)", or the bare URL when
// the label adds nothing; mentions are the person's IRC nick, and a line that
// starts with mentions gets a ":" after them so clients highlight it. Control
// bytes inside span texts (which may come from users) are removed.
func Render(t bot.Text, formatting bool) []string {
	var out []string
	for _, line := range t.Lines() {
		out = append(out, renderLine(line, formatting))
	}
	return out
}

func renderLine(line bot.Text, formatting bool) string {
	var b strings.Builder
	leading := true // still in the run of mentions that opens the line
	for i, s := range line {
		text := StripControl(s.Text)
		switch s.Kind {
		case bot.Bold:
			if formatting && text != "" {
				text = string(ctrlBold) + text + string(ctrlBold)
			}
		case bot.Link:
			url := StripControl(s.URL)
			switch {
			case url == "" || url == text:
			case text == "":
				text = url
			default:
				text += " (" + url + ")"
			}
		case bot.Mention:
			if nick := StripControl(s.Person.IRCNick); nick != "" {
				text = nick
			}
		}
		if leading && s.Kind != bot.Mention && !isMentionSeparator(text) {
			leading = false
			if i > 0 && line[i-1].Kind == bot.Mention && text != "" && text[0] != ':' && text[0] != ',' {
				b.WriteString(":")
				if text[0] != ' ' {
					b.WriteString(" ")
				}
			}
		}
		b.WriteString(text)
	}
	return b.String()
}

// isMentionSeparator reports whether text joins a list of mentions
// ("a, b and c") rather than starting the message after them.
func isMentionSeparator(text string) bool {
	switch strings.TrimSpace(text) {
	case ",", "and", ", and", "&":
		return true
	}
	return false
}

// Split cuts line into pieces of at most max bytes, at spaces where it can
// and otherwise between UTF-8 characters. Bold that is open at a cut is
// closed at the end of the piece and reopened at the start of the next, so
// every piece renders on its own; max must leave room for those two bytes.
func Split(line string, max int) []string {
	if max < 8 {
		max = 8
	}
	var out []string
	bold := false
	for {
		prefix := ""
		if bold {
			prefix = string(ctrlBold)
		}
		if len(prefix)+len(line) <= max {
			out = append(out, prefix+line)
			return out
		}
		room := max - len(prefix) - 1 // keep a byte to close bold
		cut := cutPoint(line, room)
		piece := strings.TrimRight(line[:cut], " ")
		if strings.Count(prefix+piece, string(ctrlBold))%2 == 1 {
			bold = true
			piece += string(ctrlBold)
		} else {
			bold = false
		}
		out = append(out, prefix+piece)
		line = strings.TrimLeft(line[cut:], " ")
		if line == "" {
			return out
		}
	}
}

// cutPoint finds where to cut s so the first part is at most room bytes:
// after the last space within room, or else at a character boundary.
func cutPoint(s string, room int) int {
	if i := strings.LastIndexByte(s[:room+1], ' '); i > 0 {
		return i
	}
	cut := room
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	if cut == 0 {
		_, size := utf8.DecodeRuneInString(s)
		cut = size
	}
	return cut
}

// cutNote is the line that ends a message too long for IRC, in place of
// what was left out.
const cutNote = "… (the rest was too long for IRC and is left out)"

// Fit splits every line to fit in max bytes and keeps at most maxLines
// pieces; when it has to leave some out, the last line kept is a note
// saying so, so that no line is cut in the middle.
func Fit(lines []string, max, maxLines int) []string {
	var out []string
	for _, l := range lines {
		if l == "" {
			continue // IRC cannot send an empty line
		}
		out = append(out, Split(l, max)...)
	}
	if maxLines > 1 && len(out) > maxLines {
		out = append(out[:maxLines-1], cutNote)
	}
	return out
}
