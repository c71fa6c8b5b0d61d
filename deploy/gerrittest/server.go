// Package gerrittest is a fake Gerrit for tests and the sandbox: an
// httptest server that speaks Gerrit's REST API (the )]}' prefix, /a/ paths
// with HTTP basic auth, ChangeInfo with detailed labels, commit and footers,
// path-escaped project names) on top of real bare git repositories served
// with git http-backend, with change refs refs/changes/NN/NNNNNN/PS. A gate
// merges +2'd changes after a delay, as Zuul does (fast-forward, or a
// rebase recorded as a TRIVIAL_REBASE patchset), waits for relation-chain
// parents and Depends-On changes, and bumps the submodule pointer in core
// with the same Change-Id when an extension change merges.
//
//	s := gerrittest.New(t.TempDir())
//	defer s.Close()
//	s.AddAccount("bob", "Bob", "")
//	s.CreateProject("operations/mediawiki-config", "master", files)
//	n, _ := s.Upload(gerrittest.Upload{Project: ..., Branch: "master", Owner: "bob", ...})
//	// point a client at s.URL as gerrittest.BotUser / gerrittest.BotPassword
//
// NewSandbox builds a whole MediaWiki-shaped world with a staging checkout.
//
// Knobs for faults: SetFault (HTTP 500, 401, hanging requests, for the
// next N requests or until cleared), SetGate (merge delay, never merge),
// Vote (Code-Review −2, Verified −1 by anyone), NewPatchSet (a rework
// mid-wait), SetUnmergeable, Abandon, PushDirect (a commit that bypassed
// review). OnReview lets a test act the moment the bot votes; Reviews and
// Fetches record what the bot did.
package gerrittest

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Bot account the deploy engine logs in with.
const (
	BotUser     = "jouncebot"
	BotPassword = "secret-http-password"
)

// Server is a fake Gerrit. Its exported methods are safe to call
// concurrently with requests.
type Server struct {
	// URL is the base URL: REST under /changes/ and /a/changes/, git
	// repositories at /<project>.
	URL string

	root    string
	backend string // git-http-backend
	srv     *httptest.Server

	mu        sync.Mutex
	accounts  map[string]*account
	repos     map[string]repo
	changes   map[int]*change
	nextNum   int
	reviews   []Review
	fetches   map[string]int
	fault     Fault
	gate      Gate
	timers    []*time.Timer
	closed    bool
	hang      chan struct{}
	onReview  func(Review)
	submodule map[string]submoduleTarget // extension project -> where core points at it
	persist   bool                       // save the state to root after each change
	saveErr   error
}

// Gate configures the fake CI gate.
type Gate struct {
	// Delay between a +2 and the merge.
	Delay time.Duration
	// Never: the gate never merges anything.
	Never bool
}

// Fault makes REST requests fail. The zero value means no fault.
type Fault struct {
	// Status answers every REST request with this HTTP status (500, 401…).
	Status int
	// Hang makes REST requests wait until the client gives up.
	Hang bool
	// Delay handles REST requests as usual but holds the answer this long,
	// or until the client gives up: a request that took effect though its
	// answer never arrived.
	Delay time.Duration
	// Method limits the fault to requests of this method ("POST"); ""
	// means every request.
	Method string
	// Count limits the fault to the next Count requests; 0 means until cleared.
	Count int
}

// Review is one review posted through the REST API.
type Review struct {
	Change   int
	PatchSet int
	User     string
	Labels   map[string]int
	Message  string
	Time     time.Time
}

type account struct {
	ID       int
	Username string
	Name     string
	Email    string
	Password string
	// ViewPrivate is the View Private Changes capability.
	ViewPrivate bool `json:",omitempty"`
}

type change struct {
	Number    int
	Project   string
	Branch    string
	ChangeID  string
	Owner     string
	Status    string // NEW, MERGED, ABANDONED
	WIP       bool
	Created   time.Time
	Updated   time.Time
	PatchSets []*patchSet
	Votes     []*vote
	Messages  []message
	// Unmergeable forces mergeable=false.
	Unmergeable bool
	Submitted   time.Time
	// Private is Gerrit's private flag: the change is visible only to its
	// owner, its reviewers (who voted) and accounts with the View
	// Private Changes capability; to others it does not exist (404, and
	// queries leave it out). It stays private when merged. Unlike
	// Gerrit, the fake still serves its refs/changes over git.
	Private bool `json:",omitempty"`
}

type patchSet struct {
	Number   int
	Commit   string
	Parent   string
	Uploader string
	Created  time.Time
	Kind     string
	Message  string
	Subject  string
	Author   Person
}

type vote struct {
	User     string
	Label    string
	Value    int
	Date     time.Time
	PatchSet int
}

type message struct {
	User     string
	Text     string
	Date     time.Time
	PatchSet int
}

type submoduleTarget struct {
	core string // core project
	path string // submodule path in core
}

// New starts a fake Gerrit keeping its repositories under dir. The jouncebot
// account (BotUser/BotPassword) and a CI account jenkins-bot exist.
func New(dir string) *Server {
	s := &Server{
		root:      dir,
		backend:   httpBackend(),
		accounts:  map[string]*account{},
		repos:     map[string]repo{},
		changes:   map[int]*change{},
		nextNum:   445113,
		fetches:   map[string]int{},
		hang:      make(chan struct{}),
		submodule: map[string]submoduleTarget{},
		gate:      Gate{Delay: 50 * time.Millisecond},
	}
	s.AddAccount(BotUser, "jouncebot", BotPassword)
	s.AddAccount("jenkins-bot", "jenkins-bot", "")
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL + "/"
	return s
}

// Close stops the gate and the server.
func (s *Server) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.hang)
		for _, t := range s.timers {
			t.Stop()
		}
	}
	s.mu.Unlock()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// AddAccount creates an account. A non-empty password allows /a/ requests.
func (s *Server) AddAccount(username, name, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[username] = &account{ID: 1000 + len(s.accounts), Username: username, Name: name,
		Email: username + "@example.org", Password: password}
}

// GrantViewPrivate gives an account Gerrit's View Private Changes global
// capability: it sees every private change.
func (s *Server) GrantViewPrivate(username string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[username]; a != nil {
		a.ViewPrivate = true
	}
}

// visible reports whether user ("" for anonymous) may see change c, with
// s.mu held.
func (s *Server) visible(c *change, user string) bool {
	if !c.Private {
		return true
	}
	if user == "" {
		return false
	}
	if user == c.Owner || (s.accounts[user] != nil && s.accounts[user].ViewPrivate) {
		return true
	}
	return slices.ContainsFunc(c.Votes, func(v *vote) bool { return v.User == user })
}

// SetFault sets (or, with the zero Fault, clears) the REST fault.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// SetGate configures the gate.
func (s *Server) SetGate(g Gate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = g
}

// OnReview registers f to be called after each review is recorded, outside
// the server's lock, so a test can react to the bot's vote (upload a new
// patchset, vote −2) while the bot waits for the merge.
func (s *Server) OnReview(f func(Review)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onReview = f
}

// Reviews returns every review posted so far.
func (s *Server) Reviews() []Review {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Review(nil), s.reviews...)
}

// Fetches returns how many times a client fetched or cloned the project.
func (s *Server) Fetches(project string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches[project]
}

// GitURL is the anonymous clone URL of a project.
func (s *Server) GitURL(project string) string { return s.URL + project }

func (s *Server) repo(project string) (repo, error) {
	r, ok := s.repos[project]
	if !ok {
		return repo{}, fmt.Errorf("gerrittest: no project %q", project)
	}
	return r, nil
}

// CreateProject creates a project whose branch starts with one commit
// holding files.
func (s *Server) CreateProject(project, branch string, files []File) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := initBare(filepath.Join(s.root, project+".git"))
	if err != nil {
		return err
	}
	s.repos[project] = r
	sha, err := r.commit("", files, "Initial commit\n", Person{"Gerrit Code Review", "gerrit@example.org"}, time.Now())
	if err != nil {
		return err
	}
	if err := r.updateRef("refs/heads/"+branch, sha); err != nil {
		return err
	}
	_, err = r.git(nil, "", "symbolic-ref", "HEAD", "refs/heads/"+branch)
	return err
}

// CreateBranch creates branch in project at the tip of from.
func (s *Server) CreateBranch(project, branch, from string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo(project)
	if err != nil {
		return err
	}
	return r.updateRef("refs/heads/"+branch, r.resolve("refs/heads/"+from))
}

// AddSubmodule records that project is checked out at path in core's
// branch: it writes .gitmodules and the gitlink, and from then on every
// merge in project on that branch bumps the pointer in core.
func (s *Server) AddSubmodule(core, branch, path, project string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.save()
	cr, err := s.repo(core)
	if err != nil {
		return err
	}
	er, err := s.repo(project)
	if err != nil {
		return err
	}
	tip := cr.resolve("refs/heads/" + branch)
	mods, _ := cr.readFile(tip, ".gitmodules")
	if mods != "" {
		mods += "\n"
	}
	rel := strings.Repeat("../", strings.Count(core, "/")+1) + project
	mods += fmt.Sprintf("[submodule %q]\n\tpath = %s\n\turl = %s\n\tbranch = %s", path, path, rel, branch)
	sha, err := cr.commit(tip, []File{{Path: ".gitmodules", Content: mods + "\n"},
		{Path: path, Mode: "160000", Content: er.resolve("refs/heads/" + branch)}},
		"Add "+path+" submodule\n", Person{"Gerrit Code Review", "gerrit@example.org"}, time.Now())
	if err != nil {
		return err
	}
	s.submodule[project] = submoduleTarget{core: core, path: path}
	return cr.updateRef("refs/heads/"+branch, sha)
}

// Upload describes a new change.
type Upload struct {
	Project string
	Branch  string
	Owner   string // username
	Subject string
	// Body is the rest of the commit message before the footers.
	Body string
	// Footers are added after Change-Id is chosen, e.g. "Bug: T123",
	// "Depends-On: I…".
	Footers []string
	Files   []File
	// Parent is the commit to build on; empty means the branch tip. Use
	// Server.Revision of another change to make a relation chain.
	Parent string
	WIP    bool
	// Private marks the change private (git push … %private).
	Private bool
	// ChangeID overrides the generated Change-Id (to write Depends-On
	// cycles before uploading).
	ChangeID string
}

// Upload creates a change with its first patchset and returns its number.
// jenkins-bot votes Verified +1 on it.
func (s *Server) Upload(u Upload) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.save()
	r, err := s.repo(u.Project)
	if err != nil {
		return 0, err
	}
	n := s.nextNum
	s.nextNum++
	sum := sha1.Sum([]byte(fmt.Sprintf("%s %d %s", u.Project, n, u.Subject)))
	id := u.ChangeID
	if id == "" {
		id = "I" + hex.EncodeToString(sum[:])
	}
	c := &change{Number: n, Project: u.Project, Branch: u.Branch, ChangeID: id,
		Owner: u.Owner, Status: "NEW", WIP: u.WIP, Private: u.Private, Created: time.Now().UTC()}
	c.Updated = c.Created
	parent := u.Parent
	if parent == "" {
		parent = r.resolve("refs/heads/" + u.Branch)
	}
	if err := s.addPatchSet(r, c, parent, u.Owner, u.Files, u, "REWORK"); err != nil {
		return 0, err
	}
	s.changes[n] = c
	return n, nil
}

func commitMessage(c *change, u Upload) string {
	msg := u.Subject + "\n"
	if u.Body != "" {
		msg += "\n" + strings.TrimSpace(u.Body) + "\n"
	}
	msg += "\n"
	for _, f := range u.Footers {
		msg += f + "\n"
	}
	return msg + "Change-Id: " + c.ChangeID + "\n"
}

func (s *Server) addPatchSet(r repo, c *change, parent, uploader string, files []File, u Upload, kind string) error {
	a := s.accounts[c.Owner]
	if a == nil {
		return fmt.Errorf("gerrittest: no account %q", c.Owner)
	}
	now := time.Now().UTC()
	msg := commitMessage(c, u)
	sha, err := r.commit(parent, files, msg, Person{a.Name, a.Email}, now)
	if err != nil {
		return err
	}
	ps := &patchSet{Number: len(c.PatchSets) + 1, Commit: sha, Parent: parent, Uploader: uploader,
		Created: now, Kind: kind, Message: msg, Subject: u.Subject, Author: Person{a.Name, a.Email}}
	if err := r.updateRef(changeRef(c.Number, ps.Number), sha); err != nil {
		return err
	}
	c.PatchSets = append(c.PatchSets, ps)
	c.Updated = now
	// A rework drops earlier votes, as Gerrit's label copy rules do for
	// Code-Review and Verified.
	if kind == "REWORK" {
		c.Votes = nil
		c.Votes = append(c.Votes, &vote{User: "jenkins-bot", Label: "Verified", Value: 1, Date: now, PatchSet: ps.Number})
	}
	c.Messages = append(c.Messages, message{User: uploader, Text: fmt.Sprintf("Uploaded patch set %d.", ps.Number), Date: now, PatchSet: ps.Number})
	return nil
}

func changeRef(n, ps int) string {
	return fmt.Sprintf("refs/changes/%02d/%d/%d", n%100, n, ps)
}

// Revision returns the commit of a change's current patchset.
func (s *Server) Revision(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.changes[n]; c != nil {
		return c.current().Commit
	}
	return ""
}

// ChangeID returns a change's Change-Id.
func (s *Server) ChangeID(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.changes[n]; c != nil {
		return c.ChangeID
	}
	return ""
}

// Status returns a change's status (NEW, MERGED, ABANDONED).
func (s *Server) Status(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.changes[n]; c != nil {
		return c.Status
	}
	return ""
}

// Private reports whether change n is marked private.
func (s *Server) Private(n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.changes[n]
	return c != nil && c.Private
}

func (c *change) current() *patchSet { return c.PatchSets[len(c.PatchSets)-1] }

// NewPatchSet uploads a new patchset (a rework) of change n by uploader,
// replacing files; earlier votes are dropped.
func (s *Server) NewPatchSet(n int, uploader string, files []File) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.save()
	c := s.changes[n]
	if c == nil {
		return fmt.Errorf("gerrittest: no change %d", n)
	}
	r, _ := s.repo(c.Project)
	ps := c.current()
	body, _ := r.git(nil, "", "log", "-1", "--format=%b", ps.Commit)
	var footers []string
	var rest []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "Change-Id: ") {
			continue
		}
		if k, _, ok := strings.Cut(l, ": "); ok && !strings.Contains(k, " ") {
			footers = append(footers, l)
		} else {
			rest = append(rest, l)
		}
	}
	u := Upload{Subject: ps.Subject, Body: strings.Join(rest, "\n"), Footers: footers}
	return s.addPatchSet(r, c, ps.Parent, uploader, files, u, "REWORK")
}

// Rebase rebases change n's current patchset onto its branch's tip as a
// new patchset by uploader (Gerrit's Rebase button): a TRIVIAL_REBASE of
// the patchset before it, whose votes it takes over, as Gerrit's copy
// rules do.
func (s *Server) Rebase(n int, uploader string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.save()
	c := s.changes[n]
	if c == nil {
		return fmt.Errorf("gerrittest: no change %d", n)
	}
	r, err := s.repo(c.Project)
	if err != nil {
		return err
	}
	tip := r.resolve("refs/heads/" + c.Branch)
	ps := c.current()
	now := time.Now().UTC()
	sha, ok, err := r.cherryPick(ps.Commit, tip, now)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("gerrittest: change %d does not rebase cleanly", n)
	}
	nps := &patchSet{Number: ps.Number + 1, Commit: sha, Parent: tip, Uploader: uploader, Created: now,
		Kind: "TRIVIAL_REBASE", Message: ps.Message, Subject: ps.Subject, Author: ps.Author}
	if err := r.updateRef(changeRef(c.Number, nps.Number), sha); err != nil {
		return err
	}
	c.PatchSets = append(c.PatchSets, nps)
	for _, v := range c.Votes {
		if v.PatchSet == ps.Number {
			v.PatchSet = nps.Number
		}
	}
	c.Updated = now
	c.Messages = append(c.Messages, message{User: uploader, Text: fmt.Sprintf("Patch Set %d: Patch Set %d was rebased", nps.Number, ps.Number), Date: now, PatchSet: nps.Number})
	return nil
}

// Vote records a vote by user on the current patchset of change n, as if
// given in the web UI (e.g. Code-Review −2, Verified −1).
func (s *Server) Vote(n int, user, label string, value int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.save()
	c := s.changes[n]
	if c == nil {
		return fmt.Errorf("gerrittest: no change %d", n)
	}
	s.setVote(c, user, label, value)
	if label == "Code-Review" && value == 2 {
		s.scheduleGate(n) // the gate reacts to a +2 however it was given
	}
	return nil
}

func (s *Server) setVote(c *change, user, label string, value int) {
	now := time.Now().UTC()
	ps := c.current().Number
	for _, v := range c.Votes {
		if v.User == user && v.Label == label {
			v.Value, v.Date, v.PatchSet = value, now, ps
			return
		}
	}
	c.Votes = append(c.Votes, &vote{User: user, Label: label, Value: value, Date: now, PatchSet: ps})
}

// SetUnmergeable makes change n report mergeable=false and the gate refuse it.
func (s *Server) SetUnmergeable(n int, v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.save()
	if c := s.changes[n]; c != nil {
		c.Unmergeable = v
	}
}

// Abandon abandons change n.
func (s *Server) Abandon(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.save()
	if c := s.changes[n]; c != nil {
		c.Status = "ABANDONED"
	}
}

// PushDirect adds a commit straight to a branch, bypassing review (an
// unexpected upstream commit), and returns it.
func (s *Server) PushDirect(project, branch, subject string, files []File) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo(project)
	if err != nil {
		return "", err
	}
	tip := r.resolve("refs/heads/" + branch)
	sha, err := r.commit(tip, files, subject+"\n", Person{"Mallory", "mallory@example.org"}, time.Now())
	if err != nil {
		return "", err
	}
	return sha, r.updateRef("refs/heads/"+branch, sha)
}

// BranchTip returns the commit at the tip of a branch.
func (s *Server) BranchTip(project, branch string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo(project)
	if err != nil {
		return ""
	}
	return r.resolve("refs/heads/" + branch)
}

// ServeHTTP routes REST calls and git.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	auth := false
	if rest, ok := strings.CutPrefix(p, "/a/"); ok {
		p, auth = "/"+rest, true
	}
	switch {
	case strings.HasPrefix(p, "/changes/") || strings.HasPrefix(p, "/accounts/"):
		s.serveREST(w, r, p, auth)
	default:
		s.serveGit(w, r)
	}
}

// receivePushes turns commits pushed to refs/for/<branch> of project into
// changes, as Gerrit does: one change per new commit, its Change-Id taken
// from the commit message (or made up), owned by the bot account (pushes
// are anonymous here), private when pushed to refs/for/<branch>%private.
// The refs/for/ refs are removed afterwards.
func (s *Server) receivePushes(project string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.save()
	r, err := s.repo(project)
	if err != nil {
		return err
	}
	out, err := r.git(nil, "", "for-each-ref", "--format=%(refname) %(objectname)", "refs/for/")
	if err != nil || out == "" {
		return err
	}
	for _, line := range strings.Split(out, "\n") {
		ref, sha, _ := strings.Cut(line, " ")
		branch := strings.TrimPrefix(ref, "refs/for/")
		branch, options, _ := strings.Cut(branch, "%")
		private := slices.Contains(strings.Split(options, ","), "private")
		commits, err := r.git(nil, "", "rev-list", "--reverse", sha, "^refs/heads/"+branch)
		if err != nil {
			return err
		}
		for _, c := range strings.Fields(commits) {
			if err := s.importCommit(r, project, branch, c, private); err != nil {
				return err
			}
		}
		if _, err := r.git(nil, "", "update-ref", "-d", ref); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) importCommit(r repo, project, branch, sha string, private bool) error {
	f, err := r.git(nil, "", "log", "-1", "--format=%P%x00%s%x00%an%x00%ae%x00%B", sha)
	if err != nil {
		return err
	}
	parts := strings.SplitN(f, "\x00", 5)
	if len(parts) < 5 {
		return fmt.Errorf("gerrittest: cannot read commit %s", sha)
	}
	parent, _, _ := strings.Cut(parts[0], " ")
	msg := strings.TrimSpace(parts[4]) + "\n"
	id := ""
	for _, v := range footerValues(msg, "Change-Id") {
		id = v
	}
	n := s.nextNum
	if id == "" {
		sum := sha1.Sum([]byte(fmt.Sprintf("%s %d %s", project, n, sha)))
		id = "I" + hex.EncodeToString(sum[:])
	}
	now := time.Now().UTC()
	for _, c := range s.changes {
		if c.ChangeID == id && c.Project == project && c.Branch == branch {
			if c.Status != "NEW" || c.current().Commit == sha {
				return nil
			}
			// A new commit with the change's Change-Id is its next
			// patchset, as Gerrit makes it.
			ps := &patchSet{Number: len(c.PatchSets) + 1, Commit: sha, Parent: parent, Uploader: BotUser, Created: now, Kind: "REWORK",
				Message: msg, Subject: parts[1], Author: Person{parts[2], parts[3]}}
			if err := r.updateRef(changeRef(c.Number, ps.Number), sha); err != nil {
				return err
			}
			c.PatchSets, c.Updated = append(c.PatchSets, ps), now
			c.Votes = []*vote{{User: "jenkins-bot", Label: "Verified", Value: 1, Date: now, PatchSet: ps.Number}}
			c.Messages = append(c.Messages, message{User: BotUser, Text: fmt.Sprintf("Uploaded patch set %d.", ps.Number), Date: now, PatchSet: ps.Number})
			return nil
		}
	}
	s.nextNum++
	c := &change{Number: n, Project: project, Branch: branch, ChangeID: id, Owner: BotUser, Status: "NEW", Private: private, Created: now, Updated: now}
	ps := &patchSet{Number: 1, Commit: sha, Parent: parent, Uploader: BotUser, Created: now, Kind: "REWORK",
		Message: msg, Subject: parts[1], Author: Person{parts[2], parts[3]}}
	if err := r.updateRef(changeRef(n, 1), sha); err != nil {
		return err
	}
	c.PatchSets = []*patchSet{ps}
	c.Votes = []*vote{{User: "jenkins-bot", Label: "Verified", Value: 1, Date: now, PatchSet: 1}}
	c.Messages = []message{{User: BotUser, Text: "Uploaded patch set 1.", Date: now, PatchSet: 1}}
	s.changes[n] = c
	return nil
}

// Messages returns the review messages posted on change n.
func (s *Server) Messages(n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.changes[n]
	if c == nil {
		return nil
	}
	var out []string
	for _, m := range c.Messages {
		out = append(out, m.Text)
	}
	return out
}
