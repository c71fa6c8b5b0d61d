package matrix

import (
	"html"
	"net/url"
	"strings"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/sal/wikitext"
)

// render turns neutral rich text into an m.notice: a plain body for clients
// without HTML, an HTML formatted_body, and m.mentions listing every person
// mentioned by Matrix id so their clients notify them. Everything from the
// text is HTML-escaped; links other than http, https and mailto are shown as
// plain text. Plain text is SAL wikitext to the HTML body (a deploy's
// "Backport for [[gerrit:N|subject (T123)]]", a logged line): links renders
// its links where the wiki shows links, and the plain body keeps it as
// written.
func render(t bot.Text, links *wikitext.Renderer) *event.MessageEventContent {
	if links == nil {
		links = &wikitext.Renderer{}
	}
	var body, formatted strings.Builder
	mentions := &event.Mentions{}
	for _, s := range t {
		switch s.Kind {
		case bot.Bold:
			body.WriteString(s.Text)
			formatted.WriteString("<b>" + escape(s.Text) + "</b>")
		case bot.Code:
			body.WriteString(s.Text)
			formatted.WriteString("<code>" + escape(s.Text) + "</code>")
		case bot.Link:
			label := s.Text
			if label == "" {
				label = s.URL
			}
			body.WriteString(label)
			if s.URL != "" && s.URL != label {
				body.WriteString(" (" + s.URL + ")")
			}
			if safeURL(s.URL) {
				formatted.WriteString(`<a href="` + html.EscapeString(s.URL) + `">` + escape(label) + "</a>")
			} else {
				formatted.WriteString(escape(label))
				if s.URL != "" && s.URL != label {
					formatted.WriteString(escape(" (" + s.URL + ")"))
				}
			}
		case bot.Mention:
			label := mentionLabel(s)
			body.WriteString(label)
			if mxid := id.UserID(s.Person.MatrixID); validUserID(mxid) {
				formatted.WriteString(`<a href="` + html.EscapeString(mxid.URI().MatrixToURL()) + `">` + escape(label) + "</a>")
				mentions.Add(mxid)
			} else {
				formatted.WriteString(escape(label))
			}
		default:
			body.WriteString(s.Text)
			for i, line := range strings.Split(s.Text, "\n") {
				if i > 0 {
					formatted.WriteString("<br>")
				}
				formatted.WriteString(string(links.HTML(line)))
			}
		}
	}
	return &event.MessageEventContent{
		MsgType:       event.MsgNotice,
		Body:          body.String(),
		Format:        event.FormatHTML,
		FormattedBody: formatted.String(),
		Mentions:      mentions,
	}
}

// mentionLabel is the visible name of a mention: what the handler wrote,
// else the person's name, else their Matrix id.
func mentionLabel(s bot.Span) string {
	switch {
	case s.Text != "":
		return s.Text
	case s.Person.Name != "":
		return s.Person.Name
	case s.Person.IRCNick != "":
		return s.Person.IRCNick
	}
	return s.Person.MatrixID
}

// escape HTML-escapes s and keeps its line breaks.
func escape(s string) string {
	return strings.ReplaceAll(html.EscapeString(s), "\n", "<br>")
}

func safeURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	switch strings.ToLower(p.Scheme) {
	case "http", "https", "mailto":
		return true
	}
	return false
}

func validUserID(u id.UserID) bool {
	s := string(u)
	return strings.HasPrefix(s, "@") && strings.Contains(s, ":") && !strings.ContainsAny(s, " \"<>")
}
