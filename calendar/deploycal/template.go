package deploycal

import (
	"fmt"
	"strings"
	"time"
)

// Template is the wikitext of "Template:Deployment calendar event card",
// rendering one calendar entry as the deploycal-item markup Parse reads,
// from the parameters the Deployments page uses:
//
//	{{Deployment calendar event card|when=2024-01-09 06:00 SF|length=1
//	|window=[[Backport windows|UTC morning backport window]]<br/><small>'''(Max 6 patches)'''</small>
//	|who={{ircnick|alice|Alice}}|what=
//	* {{ircnick|bob|Bob}}
//	** [https://gerrit.wikimedia.org/r/c/mediawiki/core/+/123456 Fix the thing]
//	}}
//
// when is San Francisco time ("SF" stands for America/Los_Angeles), so the
// UTC times move with daylight saving time; length is in hours; id
// overrides the anchor. It needs the ParserFunctions extension with string
// functions ($wgPFEnableStringFunctions), as on Wikimedia wikis; the
// wikitest harness enables both.
const Template = `<div class="deploycal-item" id="{{{id|deploycal-item-{{#time:Ymd\THi|{{#replace:{{{when}}}|SF|America/Los_Angeles}}}}}}}" data-utcstart="{{#time:Y-m-d\TH:i:sP|{{#replace:{{{when}}}|SF|America/Los_Angeles}}}}" data-utcend="{{#time:Y-m-d\TH:i:sP|{{#replace:{{{when}}}|SF|America/Los_Angeles}} + {{{length|1}}} hours}}"><span class="deploycal-item-window">{{{window}}}</span> <span class="deploycal-item-deployer">Deployer: {{{who|}}}</span><div class="deploycal-item-changes">
{{{what|}}}
</div></div>`

// IrcnickTemplate is the wikitext of "Template:Ircnick":
// {{ircnick|nick|Real Name}}.
const IrcnickTemplate = `<span class="ircnick-container"><span class="ircnick">{{{1}}}</span>{{#if:{{{2|}}}| ({{{2}}})}}</span>`

// Template page titles.
const (
	TemplatePage        = "Template:Deployment calendar event card"
	IrcnickTemplatePage = "Template:Ircnick"
)

// Nick is an IRC nick with the person's name, as {{ircnick|nick|Name}}.
type Nick struct {
	Nick, Name string
}

func (n Nick) wikitext() string {
	if n.Name == "" {
		return "{{ircnick|" + n.Nick + "}}"
	}
	return "{{ircnick|" + n.Nick + "|" + n.Name + "}}"
}

// Link is an external link, e.g. to a Gerrit change.
type Link struct {
	URL, Title string
}

// Request is one person's entry under a window: their nick and the
// changes they want deployed.
type Request struct {
	Owner   Nick
	Changes []Link
}

// Card is one calendar entry, for PageWikitext.
type Card struct {
	// When is the start; it is written in San Francisco time.
	When time.Time
	// Hours is the length (default 1).
	Hours int
	// ID overrides the anchor, which is otherwise derived from When.
	ID string
	// Window is wikitext, e.g. "[[Backport windows|UTC morning backport window]]".
	Window     string
	MaxPatches int
	Deployers  []Nick
	Requests   []Request
	// Placeholder adds the template's empty "irc-nickname" entry, as on
	// windows nobody has signed up for yet.
	Placeholder bool
}

var sanFrancisco = mustLoad("America/Los_Angeles")

func mustLoad(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// Wikitext returns the card's template call.
func (c Card) Wikitext() string {
	var b strings.Builder
	hours := c.Hours
	if hours == 0 {
		hours = 1
	}
	fmt.Fprintf(&b, "{{Deployment calendar event card\n|when=%s SF\n|length=%d\n", c.When.In(sanFrancisco).Format("2006-01-02 15:04"), hours)
	if c.ID != "" {
		fmt.Fprintf(&b, "|id=%s\n", c.ID)
	}
	b.WriteString("|window=" + c.Window)
	if c.MaxPatches > 0 {
		fmt.Fprintf(&b, "<br/><small>'''(Max %d patches)'''</small>", c.MaxPatches)
	}
	b.WriteString("\n|who=")
	for i, d := range c.Deployers {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.wikitext())
	}
	b.WriteString("\n|what=")
	if c.Placeholder && len(c.Requests) == 0 {
		b.WriteString("Requesting Developer: <small>(use the template below)</small>\n* {{ircnick|irc-nickname|Requesting Developer}}\n** [https://gerrit.wikimedia.org/r/ Gerrit link to backport or config change]")
	}
	for _, r := range c.Requests {
		b.WriteString("\n* " + r.Owner.wikitext())
		for _, l := range r.Changes {
			fmt.Fprintf(&b, "\n** [%s %s]", l.URL, l.Title)
		}
	}
	b.WriteString("\n}}\n")
	return b.String()
}

// PageWikitext builds a Deployments page like Wikimedia's: an introduction,
// a heading per week and per day (in San Francisco time), and the cards in
// the order given (sort them by When).
func PageWikitext(cards []Card) string {
	var b strings.Builder
	b.WriteString("This page lists the '''deployment windows''' for the coming weeks. " +
		"Times are shown in UTC and San Francisco time. See [[Backport windows]] to add a patch.\n\n" +
		"__TOC__\n")
	var week, day string
	for _, c := range cards {
		sf := c.When.In(sanFrancisco)
		monday := sf.AddDate(0, 0, -((int(sf.Weekday()) + 6) % 7))
		if w := monday.Format("January 2"); w != week {
			week = w
			fmt.Fprintf(&b, "\n== Week of %s ==\n", w)
		}
		if d := sf.Format("Monday, January 2"); d != day {
			day = d
			fmt.Fprintf(&b, "\n=== %s ===\n", d)
		}
		b.WriteString(c.Wikitext())
	}
	return b.String()
}
