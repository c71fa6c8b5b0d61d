package gerrittest

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/cgi"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

const timeLayout = "2006-01-02 15:04:05.000000000"

func ts(t time.Time) string { return t.UTC().Format(timeLayout) }

// JSON shapes as Gerrit writes them (only the fields jouncebot reads, plus
// a few for realism). Booleans Gerrit omits when false keep omitempty;
// mergeable does not, because Gerrit writes mergeable:false.
type accountInfo struct {
	ID       int    `json:"_account_id"`
	Name     string `json:"name,omitempty"`
	Email    string `json:"email,omitempty"`
	Username string `json:"username,omitempty"`
}

type approvalInfo struct {
	accountInfo
	Value int    `json:"value"`
	Date  string `json:"date,omitempty"`
}

type labelInfo struct {
	Approved *accountInfo      `json:"approved,omitempty"`
	Rejected *accountInfo      `json:"rejected,omitempty"`
	All      []approvalInfo    `json:"all,omitempty"`
	Values   map[string]string `json:"values,omitempty"`
	Default  int               `json:"default_value"`
}

type gitPerson struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Date  string `json:"date"`
	TZ    int    `json:"tz"`
}

type commitInfo struct {
	Parents []struct {
		Commit  string `json:"commit"`
		Subject string `json:"subject"`
	} `json:"parents"`
	Author    gitPerson `json:"author"`
	Committer gitPerson `json:"committer"`
	Subject   string    `json:"subject"`
	Message   string    `json:"message"`
}

type fetchInfo struct {
	URL string `json:"url"`
	Ref string `json:"ref"`
}

type revisionInfo struct {
	Kind              string               `json:"kind"`
	Number            int                  `json:"_number"`
	Created           string               `json:"created"`
	Uploader          accountInfo          `json:"uploader"`
	Ref               string               `json:"ref"`
	Fetch             map[string]fetchInfo `json:"fetch"`
	Commit            *commitInfo          `json:"commit,omitempty"`
	CommitWithFooters string               `json:"commit_with_footers,omitempty"`
}

type messageInfo struct {
	ID       string      `json:"id"`
	Author   accountInfo `json:"author"`
	Date     string      `json:"date"`
	Message  string      `json:"message"`
	Revision int         `json:"_revision_number"`
}

type changeInfo struct {
	ID              string                  `json:"id"`
	Project         string                  `json:"project"`
	Branch          string                  `json:"branch"`
	ChangeID        string                  `json:"change_id"`
	Subject         string                  `json:"subject"`
	Status          string                  `json:"status"`
	Created         string                  `json:"created"`
	Updated         string                  `json:"updated"`
	Submitted       string                  `json:"submitted,omitempty"`
	Mergeable       *bool                   `json:"mergeable,omitempty"`
	Insertions      int                     `json:"insertions"`
	Deletions       int                     `json:"deletions"`
	Number          int                     `json:"_number"`
	Owner           accountInfo             `json:"owner"`
	Labels          map[string]labelInfo    `json:"labels,omitempty"`
	Messages        []messageInfo           `json:"messages,omitempty"`
	CurrentRevision string                  `json:"current_revision,omitempty"`
	Revisions       map[string]revisionInfo `json:"revisions,omitempty"`
	WorkInProgress  bool                    `json:"work_in_progress,omitempty"`
	IsPrivate       bool                    `json:"is_private,omitempty"`
	MoreChanges     bool                    `json:"_more_changes,omitempty"`
}

func (s *Server) accountInfo(user string) accountInfo {
	a := s.accounts[user]
	if a == nil {
		return accountInfo{Username: user, Name: user}
	}
	return accountInfo{ID: a.ID, Name: a.Name, Email: a.Email, Username: a.Username}
}

var labelValues = map[string]map[string]string{
	"Code-Review": {"-2": "This shall not be submitted", "-1": "I would prefer this is not submitted as is", " 0": "No score", "+1": "Looks good to me, but someone else must approve", "+2": "Looks good to me, approved"},
	"Verified":    {"-1": "Fails", " 0": "No score", "+1": "Checked", "+2": "Checked and merged"},
}

// info renders a change as Gerrit would with the given o= options.
func (s *Server) info(c *change, opts map[string]bool) changeInfo {
	ps := c.current()
	ci := changeInfo{
		ID:      url.PathEscape(c.Project) + "~" + url.PathEscape(c.Branch) + "~" + c.ChangeID,
		Project: c.Project, Branch: c.Branch, ChangeID: c.ChangeID, Subject: ps.Subject, Status: c.Status,
		Created: ts(c.Created), Updated: ts(c.Updated), Number: c.Number, Owner: s.accountInfo(c.Owner),
		WorkInProgress: c.WIP, IsPrivate: c.Private, Insertions: 1, Deletions: 1,
	}
	if c.Status == "MERGED" {
		ci.Submitted = ts(c.Submitted)
	}
	if c.Status == "NEW" {
		m := s.isMergeable(c)
		ci.Mergeable = &m
	}
	if opts["LABELS"] || opts["DETAILED_LABELS"] {
		ci.Labels = map[string]labelInfo{}
		for _, l := range []string{"Code-Review", "Verified"} {
			li := labelInfo{}
			if opts["DETAILED_LABELS"] {
				li.Values = labelValues[l]
			}
			for _, v := range c.Votes {
				if v.Label != l {
					continue
				}
				a := s.accountInfo(v.User)
				if opts["DETAILED_LABELS"] {
					li.All = append(li.All, approvalInfo{accountInfo: a, Value: v.Value, Date: ts(v.Date)})
				}
				max := 2
				if l == "Verified" {
					max = 2
				}
				if v.Value == max && li.Approved == nil {
					li.Approved = &a
				}
				if v.Value < 0 && li.Rejected == nil && (l == "Verified" || v.Value == -2) {
					li.Rejected = &a
				}
			}
			ci.Labels[l] = li
		}
	}
	if opts["MESSAGES"] {
		for i, m := range c.Messages {
			ci.Messages = append(ci.Messages, messageInfo{ID: strconv.Itoa(i), Author: s.accountInfo(m.User),
				Date: ts(m.Date), Message: m.Text, Revision: m.PatchSet})
		}
	}
	if opts["CURRENT_REVISION"] || opts["ALL_REVISIONS"] {
		ci.CurrentRevision = ps.Commit
		ci.Revisions = map[string]revisionInfo{}
		for _, p := range c.PatchSets {
			if p != ps && !opts["ALL_REVISIONS"] {
				continue
			}
			ri := revisionInfo{Kind: p.Kind, Number: p.Number, Created: ts(p.Created), Uploader: s.accountInfo(p.Uploader),
				Ref:   changeRef(c.Number, p.Number),
				Fetch: map[string]fetchInfo{"anonymous http": {URL: s.GitURL(c.Project), Ref: changeRef(c.Number, p.Number)}}}
			if opts["CURRENT_COMMIT"] || opts["ALL_COMMITS"] {
				ci := &commitInfo{Subject: p.Subject, Message: p.Message,
					Author:    gitPerson{Name: p.Author.Name, Email: p.Author.Email, Date: ts(p.Created)},
					Committer: gitPerson{Name: "Gerrit Code Review", Email: "gerrit@example.org", Date: ts(p.Created)}}
				ci.Parents = append(ci.Parents, struct {
					Commit  string `json:"commit"`
					Subject string `json:"subject"`
				}{Commit: p.Parent})
				ri.Commit = ci
			}
			if opts["COMMIT_FOOTERS"] {
				ri.CommitWithFooters = p.Message
			}
			ci.Revisions[p.Commit] = ri
		}
	}
	return ci
}

func (s *Server) isMergeable(c *change) bool {
	if c.Unmergeable {
		return false
	}
	r := s.repos[c.Project]
	return r.mergeable(c.current().Commit, r.resolve("refs/heads/"+c.Branch))
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Write([]byte(")]}'\n"))
	w.Write(b)
	w.Write([]byte("\n"))
}

func (s *Server) serveREST(w http.ResponseWriter, r *http.Request, p string, auth bool) {
	s.mu.Lock()
	f := s.fault
	if f.Method != "" && f.Method != r.Method {
		f = Fault{}
	}
	if f.Status != 0 || f.Hang || f.Delay > 0 {
		if f.Count > 0 {
			s.fault.Count--
			if s.fault.Count == 0 {
				s.fault = Fault{}
			}
		}
	}
	if f.Delay > 0 {
		w = &delayedWriter{ResponseWriter: w, delay: f.Delay, done: r.Context().Done()}
	}
	if f.Status != 0 || f.Hang {
		hang := s.hang
		s.mu.Unlock()
		if f.Hang {
			select {
			case <-r.Context().Done():
			case <-hang:
			}
			return
		}
		http.Error(w, http.StatusText(f.Status), f.Status)
		return
	}
	user := ""
	if auth {
		u, pw, ok := r.BasicAuth()
		a := s.accounts[u]
		if !ok || a == nil || a.Password == "" || a.Password != pw {
			s.mu.Unlock()
			w.Header().Set("WWW-Authenticate", `Basic realm="Gerrit Code Review"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		user = u
	}
	status, v, after := s.route(r, p, user)
	if r.Method != http.MethodGet {
		s.save()
	}
	s.mu.Unlock()
	if after != nil {
		after()
	}
	if status != http.StatusOK {
		msg := fmt.Sprint(v)
		http.Error(w, msg, status)
		return
	}
	writeJSON(w, v)
}

// route answers one REST call with s.mu held. after, if set, runs after
// the lock is released.
func (s *Server) route(r *http.Request, p, user string) (int, any, func()) {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	for i := range segs {
		segs[i], _ = url.PathUnescape(segs[i])
	}
	opts := map[string]bool{}
	for _, o := range r.URL.Query()["o"] {
		opts[o] = true
	}
	switch {
	case segs[0] == "accounts" && len(segs) == 2 && r.Method == "GET":
		if segs[1] == "self" {
			if user == "" {
				return http.StatusForbidden, "Authentication required", nil
			}
			return http.StatusOK, s.accountInfo(user), nil
		}
		if a := s.accounts[segs[1]]; a != nil {
			return http.StatusOK, s.accountInfo(a.Username), nil
		}
		return http.StatusNotFound, "Not found: " + segs[1], nil
	case segs[0] == "changes" && (len(segs) == 1 || segs[1] == "") && r.Method == "GET":
		return http.StatusOK, s.query(r.URL.Query().Get("q"), opts, user), nil
	case segs[0] == "changes" && len(segs) >= 2:
		c := s.lookup(segs[1])
		if c == nil || !s.visible(c, user) {
			return http.StatusNotFound, "Not found: " + segs[1], nil
		}
		rest := segs[2:]
		switch {
		case len(rest) == 0 && r.Method == "GET", len(rest) == 1 && rest[0] == "detail" && r.Method == "GET":
			if len(rest) == 1 {
				opts["DETAILED_LABELS"], opts["DETAILED_ACCOUNTS"], opts["MESSAGES"] = true, true, true
			}
			return http.StatusOK, s.info(c, opts), nil
		case len(rest) == 1 && rest[0] == "submitted_together" && r.Method == "GET":
			return http.StatusOK, s.submittedTogether(c, opts, user), nil
		case len(rest) == 3 && rest[0] == "revisions" && rest[2] == "related" && r.Method == "GET":
			return http.StatusOK, s.related(c, user), nil
		case len(rest) == 3 && rest[0] == "revisions" && rest[2] == "review" && r.Method == "POST":
			return s.review(r, c, rest[1], user)
		}
	}
	return http.StatusNotFound, "Not found", nil
}

// lookup finds a change by number, project~number, project~branch~Change-Id
// or Change-Id.
func (s *Server) lookup(id string) *change {
	parts := strings.Split(id, "~")
	last := parts[len(parts)-1]
	if n, err := strconv.Atoi(last); err == nil {
		c := s.changes[n]
		if c != nil && len(parts) == 2 && parts[0] != c.Project {
			return nil
		}
		return c
	}
	for _, c := range s.changes {
		if c.ChangeID == last && (len(parts) < 3 || (parts[0] == c.Project && parts[1] == c.Branch)) {
			return c
		}
	}
	return nil
}

// query supports the operators jouncebot uses: change:, status:, project:,
// branch:, owner: and bare Change-Ids or numbers.
func (s *Server) query(q string, opts map[string]bool, user string) []changeInfo {
	var out []changeInfo
	nums := make([]int, 0, len(s.changes))
	for n := range s.changes {
		nums = append(nums, n)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(nums)))
	for _, n := range nums {
		c := s.changes[n]
		if matches(c, q) && s.visible(c, user) {
			out = append(out, s.info(c, opts))
		}
	}
	if out == nil {
		out = []changeInfo{}
	}
	return out
}

func matches(c *change, q string) bool {
	for _, term := range strings.Fields(q) {
		k, v, ok := strings.Cut(term, ":")
		if !ok {
			k, v = "change", term
		}
		var m bool
		switch k {
		case "change":
			m = v == c.ChangeID || v == strconv.Itoa(c.Number)
		case "status":
			m = (v == "open" && c.Status == "NEW") || strings.EqualFold(v, c.Status)
		case "project":
			m = v == c.Project
		case "branch":
			m = v == c.Branch
		case "owner":
			m = v == c.Owner
		}
		if !m {
			return false
		}
	}
	return true
}

// openAncestors follows the parents of c's current revision through other
// open changes (the relation chain).
func (s *Server) openAncestors(c *change) []*change {
	var out []*change
	parent := c.current().Parent
	for {
		var p *change
		for _, o := range s.changes {
			if o.Status == "NEW" && o.Project == c.Project && o.Branch == c.Branch && o.current().Commit == parent {
				p = o
			}
		}
		if p == nil {
			return out
		}
		out = append(out, p)
		parent = p.current().Parent
	}
}

func (s *Server) submittedTogether(c *change, opts map[string]bool, user string) []changeInfo {
	anc := s.openAncestors(c)
	out := []changeInfo{}
	if len(anc) == 0 {
		return out // Gerrit answers [] when a change is submitted alone.
	}
	out = append(out, s.info(c, opts))
	for _, a := range anc {
		if s.visible(a, user) {
			out = append(out, s.info(a, opts))
		}
	}
	return out
}

// relatedChange is Gerrit's RelatedChangeAndCommitInfo.
type relatedChange struct {
	Project  string `json:"project"`
	ChangeID string `json:"change_id"`
	Commit   struct {
		Commit  string `json:"commit"`
		Parents []struct {
			Commit string `json:"commit"`
		} `json:"parents"`
		Author  gitPerson `json:"author"`
		Subject string    `json:"subject"`
	} `json:"commit"`
	Number          int    `json:"_change_number"`
	Revision        int    `json:"_revision_number"`
	CurrentRevision int    `json:"_current_revision_number"`
	Status          string `json:"status"`
}

// related answers GET /changes/{id}/revisions/{rev}/related (current
// revision): the relation chain, newest (descendants) first, the change
// itself included, through open changes; {"changes": []} when alone.
func (s *Server) related(c *change, user string) map[string][]relatedChange {
	var desc []*change
	for _, o := range s.changes {
		if o != c && o.Status == "NEW" && slices.Contains(s.openAncestors(o), c) {
			desc = append(desc, o)
		}
	}
	// Newest first: a descendant with more open ancestors comes first.
	sort.Slice(desc, func(i, j int) bool { return len(s.openAncestors(desc[i])) > len(s.openAncestors(desc[j])) })
	chain := append(append(desc, c), s.openAncestors(c)...)
	out := []relatedChange{}
	if len(chain) == 1 {
		return map[string][]relatedChange{"changes": out}
	}
	for _, o := range chain {
		if !s.visible(o, user) {
			continue // Gerrit leaves out the changes the caller cannot see
		}
		ps := o.current()
		rc := relatedChange{Project: o.Project, ChangeID: o.ChangeID, Number: o.Number, Revision: ps.Number,
			CurrentRevision: ps.Number, Status: o.Status}
		rc.Commit.Commit, rc.Commit.Subject = ps.Commit, ps.Subject
		rc.Commit.Author = gitPerson{Name: ps.Author.Name, Email: ps.Author.Email, Date: ts(ps.Created)}
		rc.Commit.Parents = append(rc.Commit.Parents, struct {
			Commit string `json:"commit"`
		}{ps.Parent})
		out = append(out, rc)
	}
	return map[string][]relatedChange{"changes": out}
}

type reviewInput struct {
	Message string         `json:"message"`
	Labels  map[string]int `json:"labels"`
}

func (s *Server) review(r *http.Request, c *change, rev, user string) (int, any, func()) {
	if user == "" {
		return http.StatusForbidden, "Authentication required", nil
	}
	var in reviewInput
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		return http.StatusBadRequest, "Invalid input: " + err.Error(), nil
	}
	ps := c.current()
	if rev != "current" {
		ps = nil
		for _, p := range c.PatchSets {
			if p.Commit == rev || strconv.Itoa(p.Number) == rev {
				ps = p
			}
		}
		if ps == nil {
			return http.StatusNotFound, "Not found: " + rev, nil
		}
	}
	if len(in.Labels) > 0 && (ps != c.current() || c.Status != "NEW") {
		return http.StatusConflict, "cannot vote on a patch set that is not current or a change that is closed", nil
	}
	now := time.Now().UTC()
	for l, v := range in.Labels {
		s.setVote(c, user, l, v)
	}
	text := fmt.Sprintf("Patch Set %d:", ps.Number)
	for l, v := range in.Labels {
		text += fmt.Sprintf(" %s%+d", l, v)
	}
	if in.Message != "" {
		text += "\n\n" + in.Message
	}
	c.Messages = append(c.Messages, message{User: user, Text: text, Date: now, PatchSet: ps.Number})
	c.Updated = now
	rv := Review{Change: c.Number, PatchSet: ps.Number, User: user, Labels: in.Labels, Message: in.Message, Time: now}
	s.reviews = append(s.reviews, rv)
	if in.Labels["Code-Review"] == 2 {
		s.scheduleGate(c.Number)
	}
	hook := s.onReview
	var after func()
	if hook != nil {
		after = func() { hook(rv) }
	}
	return http.StatusOK, map[string]any{"labels": in.Labels}, after
}

// serveGit serves the repositories with git http-backend, counting
// fetches (one info/refs advertisement per fetch or clone).
func (s *Server) serveGit(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/info/refs") && r.URL.Query().Get("service") == "git-upload-pack" {
		project := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(r.URL.Path, "/info/refs"), "/"), ".git")
		s.mu.Lock()
		s.fetches[project]++
		s.mu.Unlock()
	}
	h := &cgi.Handler{
		Path: s.backend,
		Root: "/",
		Env: []string{"GIT_PROJECT_ROOT=" + s.root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.receivepack", "GIT_CONFIG_VALUE_0=true"},
	}
	h.ServeHTTP(w, r)
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
		project := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(r.URL.Path, "/git-receive-pack"), "/"), ".git")
		if err := s.receivePushes(project); err != nil {
			log.Printf("gerrittest: push to %s: %v", project, err)
		}
	}
}

// delayedWriter holds an answer back until its delay passes or the client
// gives up, after the request was handled.
type delayedWriter struct {
	http.ResponseWriter
	delay time.Duration
	done  <-chan struct{}
	held  bool
}

func (d *delayedWriter) hold() {
	if d.held {
		return
	}
	d.held = true
	t := time.NewTimer(d.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-d.done:
	}
}

func (d *delayedWriter) WriteHeader(code int) {
	d.hold()
	d.ResponseWriter.WriteHeader(code)
}

func (d *delayedWriter) Write(b []byte) (int, error) {
	d.hold()
	return d.ResponseWriter.Write(b)
}
