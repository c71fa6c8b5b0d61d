package web

import (
	"embed"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/sal"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.New("").Funcs(statusFuncs).ParseFS(templateFS, "templates/*.html"))

// FeedSize is how many entries an Atom feed holds.
const FeedSize = 50

// queryError is a problem with the request's parameters, written for the
// person who made it.
type queryError string

func (e queryError) Error() string { return string(e) }

// parseQuery reads the SAL filters from URL parameters: q, project, nick,
// from, to (dates like 2026-11-25, inclusive, or RFC 3339 times), limit
// (1–200), and before or after (an entry id, for paging).
func parseQuery(v url.Values, projects []string) (sal.Query, error) {
	q := sal.Query{
		Text:    strings.TrimSpace(v.Get("q")),
		Project: strings.TrimSpace(v.Get("project")),
		Nick:    strings.TrimSpace(v.Get("nick")),
	}
	if q.Project != "" && !slices.Contains(projects, q.Project) {
		return q, queryError(fmt.Sprintf("There is no project %q; the projects are %s.", q.Project, strings.Join(projects, ", ")))
	}
	var err error
	if q.From, err = parseTime(v.Get("from"), false); err != nil {
		return q, queryError("from: " + err.Error())
	}
	if q.To, err = parseTime(v.Get("to"), true); err != nil {
		return q, queryError("to: " + err.Error())
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return q, queryError(fmt.Sprintf("from (%s) is later than to (%s); nothing can match.", strings.TrimSpace(v.Get("from")), strings.TrimSpace(v.Get("to"))))
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > sal.MaxLimit {
			return q, queryError(fmt.Sprintf("limit must be a whole number from 1 to %d.", sal.MaxLimit))
		}
		q.Limit = n
	}
	for _, c := range []struct {
		name string
		to   *uint64
	}{{"before", &q.Before}, {"after", &q.After}} {
		if s := v.Get(c.name); s != "" {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil || n == 0 {
				return q, queryError(c.name + " must be an entry id, a whole number above 0.")
			}
			*c.to = n
		}
	}
	if q.Before != 0 && q.After != 0 {
		return q, queryError("Give before or after, not both.")
	}
	return q, nil
}

// parseTime reads a date or a time. An end date means the end of that day.
func parseTime(s string, end bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errors.New("expected a date like 2026-11-25 or a UTC time like 2026-11-25T19:00:00Z")
	}
	if end {
		t = t.Add(time.Second) // the given second is included
	}
	return t.UTC(), nil
}

// page is what every SAL page's head and foot need.
type page struct {
	Title, Feed string
	Base        string // the public URL's path prefix; every link starts with it
}

type listPage struct {
	page
	Tabs     []tab
	Q        sal.Query
	Action   string // where the search form goes
	From, To string
	Limit    int
	Error    string
	Days     []day
	Count    string // "12 entries", "3 matches"
	Filtered bool
	Newer    string
	Older    string
}

type tab struct {
	Name, URL string
	Current   bool
}

type day struct {
	Day     string
	Entries []viewEntry
}

type viewEntry struct {
	ID            uint64
	Time          string
	Nick, Account string
	Project, Room string
	Network       string
	Message       template.HTML
	URL           string
	ProjectURL    string
	Context       string
	ShowProject   bool
}

// projectURL is the page of a project, "" for all of them, with the
// parameters in v.
func (s *Server) projectURL(project string, v url.Values) string {
	u := s.prefix + "/sal"
	if project != "" {
		u += "/" + url.PathEscape(project)
	}
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	return u
}

func (s *Server) view(e sal.Entry, timeFormat string) viewEntry {
	id := strconv.FormatUint(e.ID, 10)
	return viewEntry{
		ID: e.ID, Time: e.Time.UTC().Format(timeFormat), Nick: e.Nick, Account: e.Account,
		Project: e.Project, Room: e.Room, Network: e.Network,
		Message:    s.opts.Links.HTML(e.Message),
		URL:        s.prefix + "/sal/log/" + id,
		ProjectURL: s.projectURL(e.Project, nil),
		Context:    s.projectURL(e.Project, url.Values{"before": {strconv.FormatUint(e.ID+10, 10)}}) + "#e" + id,
	}
}

// salProject serves /sal/<project>, the project's own log.
func (s *Server) salProject(w http.ResponseWriter, r *http.Request) {
	project := r.PathValue("project")
	if !slices.Contains(s.opts.SAL.Projects(), project) {
		s.render(w, http.StatusNotFound, "list", listPage{page: page{Title: "Server Admin Log", Base: s.prefix},
			Action: s.projectURL("", nil), Tabs: s.tabs(""),
			Error: fmt.Sprintf("There is no project %q; the projects are %s.", project, strings.Join(s.opts.SAL.Projects(), ", "))})
		return
	}
	s.list(w, r, project)
}

func (s *Server) salList(w http.ResponseWriter, r *http.Request) { s.list(w, r, "") }

// tabs are the links to the projects' pages.
func (s *Server) tabs(current string) []tab {
	out := []tab{{Name: "All", URL: s.projectURL("", nil), Current: current == ""}}
	for _, name := range s.opts.SAL.Projects() {
		out = append(out, tab{Name: name, URL: s.projectURL(name, nil), Current: name == current})
	}
	return out
}

// list serves a page of the log: project's, or /sal?project=… and /sal
// (every project) when project is "".
func (s *Server) list(w http.ResponseWriter, r *http.Request, project string) {
	v := r.URL.Query()
	if project != "" {
		v.Set("project", project)
	}
	p := listPage{page: page{Title: "Server Admin Log", Base: s.prefix}, From: v.Get("from"), To: v.Get("to")}
	q, err := parseQuery(v, s.opts.SAL.Projects())
	q.Count = true
	p.Q, p.Limit = q, q.Limit
	p.Filtered = q.Text != "" || q.Nick != "" || !q.From.IsZero() || !q.To.IsZero()
	p.Tabs = s.tabs(q.Project)
	p.Action = s.projectURL(q.Project, nil)
	if q.Project != "" && err == nil {
		p.Title += ": " + q.Project
		p.Feed = s.prefix + "/sal/atom/" + url.PathEscape(q.Project)
	}
	status := http.StatusOK
	var res sal.Result
	if err == nil {
		res, err = s.opts.SAL.Search(r.Context(), q)
	}
	if err != nil {
		status, p.Error = s.errorText(err)
	} else {
		p.Count = countText(res.Total, p.Filtered)
	}
	for _, e := range res.Entries {
		ve := s.view(e, "15:04")
		ve.ShowProject = q.Project == ""
		if n := len(p.Days); n == 0 || p.Days[n-1].Day != e.Day() {
			p.Days = append(p.Days, day{Day: e.Day()})
		}
		d := &p.Days[len(p.Days)-1]
		d.Entries = append(d.Entries, ve)
	}
	// The pager keeps every filter; only the cursor changes.
	keep := url.Values{}
	for _, k := range []string{"q", "nick", "from", "to", "limit"} {
		if x := strings.TrimSpace(v.Get(k)); x != "" {
			keep.Set(k, x)
		}
	}
	cursor := func(name string, id uint64) string {
		u := maps.Clone(keep)
		if id != 0 {
			u.Set(name, strconv.FormatUint(id, 10))
		}
		return s.projectURL(q.Project, u)
	}
	if n := len(res.Entries); n > 0 {
		if res.Newer {
			p.Newer = cursor("after", res.Entries[0].ID)
		}
		if res.More {
			p.Older = cursor("before", res.Entries[n-1].ID)
		}
	} else if q.Before != 0 || q.After != 0 {
		p.Newer = cursor("", 0) // paged past the end: back to the newest
	}
	s.render(w, status, "list", p)
}

// countText says how many entries there are, or match.
func countText(n int, filtered bool) string {
	switch {
	case filtered && n == 1:
		return "1 match"
	case filtered:
		return fmt.Sprintf("%s matches", thousands(n))
	case n == 1:
		return "1 entry"
	}
	return fmt.Sprintf("%s entries", thousands(n))
}

// thousands writes n with commas: 12,345.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// errorText turns a search error into a status and a sentence.
func (s *Server) errorText(err error) (int, string) {
	var qe queryError
	switch {
	case errors.As(err, &qe):
		return http.StatusBadRequest, qe.Error()
	case errors.Is(err, sal.ErrInvalid):
		return http.StatusBadRequest, "The search is not valid: check the limit and dates."
	}
	s.log.Error("SAL search failed", "err", err)
	return http.StatusInternalServerError, "The log could not be searched just now; please try again."
}

func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		s.log.Error("render page", "page", name, "err", err)
	}
}

type entryPage struct {
	page
	E viewEntry
}

// entry reads the entry named in the path, or answers the error with fail:
// a page answers in text, the API in JSON.
func (s *Server) entry(r *http.Request, fail func(status int, msg string)) (sal.Entry, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		fail(http.StatusBadRequest, "The entry id must be a whole number above 0, like /api/sal/1.")
		return sal.Entry{}, false
	}
	e, err := s.opts.SAL.Get(r.Context(), id)
	if errors.Is(err, sal.ErrNotFound) {
		fail(http.StatusNotFound, "No such log entry.")
		return e, false
	}
	if err != nil {
		s.log.Error("SAL get failed", "id", id, "err", err)
		fail(http.StatusInternalServerError, "The log could not be read just now; please try again.")
		return e, false
	}
	return e, true
}

func (s *Server) salEntry(w http.ResponseWriter, r *http.Request) {
	e, ok := s.entry(r, func(status int, msg string) {
		if status == http.StatusBadRequest { // a page that cannot exist
			status, msg = http.StatusNotFound, "No such log entry: the id must be a number."
		}
		http.Error(w, msg, status)
	})
	if !ok {
		return
	}
	s.render(w, http.StatusOK, "entry", entryPage{
		page: page{Title: fmt.Sprintf("Server Admin Log: %s %s", e.Project, e.Time.UTC().Format("2006-01-02 15:04")),
			Feed: s.prefix + "/sal/atom/" + url.PathEscape(e.Project), Base: s.prefix},
		E: s.view(e, "2006-01-02 15:04:05 UTC"),
	})
}

// APIEntry is an entry as the JSON API gives it. The field names are
// stable: new fields may be added, none renamed or removed.
type APIEntry struct {
	ID      uint64    `json:"id"`
	Time    time.Time `json:"time"`
	Nick    string    `json:"nick"`
	Account string    `json:"account"`
	Network string    `json:"network"`
	Room    string    `json:"room"`
	Project string    `json:"project"`
	Message string    `json:"message"`
	Tasks   []string  `json:"tasks"`
	Changes []int     `json:"changes"`
	URL     string    `json:"url"`
}

// APIPage is the answer of /api/sal.
type APIPage struct {
	Entries []APIEntry `json:"entries"`
	// More says there are older matches; Next is the URL of the next page.
	More bool   `json:"more"`
	Next string `json:"next,omitempty"`
}

func (s *Server) apiEntry(r *http.Request, e sal.Entry) APIEntry {
	a := APIEntry{ID: e.ID, Time: e.Time.UTC(), Nick: e.Nick, Account: e.Account, Network: e.Network, Room: e.Room,
		Project: e.Project, Message: e.Message, Tasks: e.Tasks, Changes: e.Changes,
		URL: s.base(r) + "/sal/log/" + strconv.FormatUint(e.ID, 10)}
	if a.Tasks == nil {
		a.Tasks = []string{}
	}
	if a.Changes == nil {
		a.Changes = []int{}
	}
	return a
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	enc.Encode(v)
}

func (s *Server) salAPI(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q, err := parseQuery(v, s.opts.SAL.Projects())
	var res sal.Result
	if err == nil {
		res, err = s.opts.SAL.Search(r.Context(), q)
	}
	if err != nil {
		status, msg := s.errorText(err)
		writeJSON(w, status, map[string]string{"error": msg})
		return
	}
	page := APIPage{Entries: []APIEntry{}, More: res.More}
	for _, e := range res.Entries {
		page.Entries = append(page.Entries, s.apiEntry(r, e))
	}
	if res.More {
		v.Del("after")
		v.Set("before", strconv.FormatUint(res.Entries[len(res.Entries)-1].ID, 10))
		page.Next = s.base(r) + "/api/sal?" + v.Encode()
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) salAPIEntry(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg string) { writeJSON(w, status, map[string]string{"error": msg}) }
	if e, ok := s.entry(r, fail); ok {
		writeJSON(w, http.StatusOK, s.apiEntry(r, e))
	}
}

// Atom is an Atom 1.0 feed (RFC 4287), as much of it as the feeds use.
type Atom struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Links   []AtomLink  `xml:"link"`
	Author  *AtomPerson `xml:"author,omitempty"`
	Entries []AtomEntry `xml:"entry"`
}

// AtomLink is an atom:link.
type AtomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

// AtomPerson is an atom:author.
type AtomPerson struct {
	Name string `xml:"name"`
}

// AtomEntry is an atom:entry.
type AtomEntry struct {
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Links   []AtomLink  `xml:"link"`
	Author  *AtomPerson `xml:"author,omitempty"`
	Content AtomText    `xml:"content"`
}

// AtomText is an atom text construct.
type AtomText struct {
	Type string `xml:"type,attr,omitempty"`
	Body string `xml:",chardata"`
}

func (s *Server) salAtom(w http.ResponseWriter, r *http.Request) {
	project := r.PathValue("project")
	if !slices.Contains(s.opts.SAL.Projects(), project) {
		http.Error(w, fmt.Sprintf("There is no project %q.", project), http.StatusNotFound)
		return
	}
	res, err := s.opts.SAL.Search(r.Context(), sal.Query{Project: project, Limit: FeedSize})
	if err != nil {
		s.log.Error("SAL feed failed", "project", project, "err", err)
		http.Error(w, "The log could not be read just now; please try again.", http.StatusInternalServerError)
		return
	}
	base := s.base(r)
	self := base + "/sal/atom/" + url.PathEscape(project)
	feed := Atom{
		ID: self, Title: "Server Admin Log: " + project,
		Updated: time.Unix(0, 0).UTC().Format(time.RFC3339),
		Links: []AtomLink{{Rel: "self", Type: "application/atom+xml", Href: self},
			{Rel: "alternate", Type: "text/html", Href: base + "/sal/" + url.PathEscape(project)}},
		Author: &AtomPerson{Name: "Server Admin Log"},
	}
	for i, e := range res.Entries {
		when := e.Time.UTC().Format(time.RFC3339)
		if i == 0 {
			feed.Updated = when
		}
		link := base + "/sal/log/" + strconv.FormatUint(e.ID, 10)
		feed.Entries = append(feed.Entries, AtomEntry{
			ID: link, Title: title(e.Nick + ": " + e.Message), Updated: when,
			Links:   []AtomLink{{Rel: "alternate", Type: "text/html", Href: link}},
			Author:  &AtomPerson{Name: e.Nick},
			Content: AtomText{Type: "html", Body: string(s.opts.Links.HTML(e.Message))},
		})
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	w.Write([]byte(xml.Header))
	enc := xml.NewEncoder(w)
	enc.Indent("", " ")
	if err := enc.Encode(feed); err != nil {
		s.log.Error("write feed", "err", err)
	}
}

// title shortens a feed entry title to 100 characters.
func title(s string) string {
	if r := []rune(s); len(r) > 100 {
		return string(r[:99]) + "…"
	}
	return s
}
