// Package gerrit is jouncebot's Gerrit client: the few calls the deploy
// engine makes, on top of github.com/andygrunwald/go-gerrit, with a timeout
// on every request, retries with backoff on server errors and network
// failures, and errors whose text can be shown to users as they are.
//
//	c, err := gerrit.New(gerrit.Options{URL: "https://gerrit.wikimedia.org/r/",
//		Username: "jouncebot", Password: secret.Value()})
//	ch, err := c.Change(ctx, 445113)
//	err = c.Review(ctx, 445113, ch.Revision, gerrit.ReviewInput{Message: "…", Labels: map[string]int{"Code-Review": 2}})
package gerrit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	gg "github.com/andygrunwald/go-gerrit"

	"github.com/jouncebot/jouncebot/internal/backoff"
)

// Options configure a Client.
type Options struct {
	// URL is Gerrit's base URL, e.g. https://gerrit.wikimedia.org/r/.
	URL string
	// Username and Password are the HTTP credentials; without them the
	// client is anonymous and cannot vote.
	Username, Password string
	// Timeout bounds each request (default 30s).
	Timeout time.Duration
	// Tries is how many times a request is tried on a server error or a
	// network failure (default 3, so that with the default timeout a dead
	// Gerrit is reported within the chat command's two minutes).
	Tries int
	// Backoff is the wait before the second try; it doubles each time
	// (default 500ms).
	Backoff time.Duration
	// HTTPClient is the HTTP client to use (default a fresh one).
	HTTPClient *http.Client
	// Log receives one line per retried request.
	Log *slog.Logger
}

// Client talks to one Gerrit server. It is safe for concurrent use.
type Client struct {
	gc   *gg.Client
	base string
	o    Options
	log  *slog.Logger
}

// New returns a client. It makes no request.
func New(o Options) (*Client, error) {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Tries <= 0 {
		o.Tries = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(o.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("the Gerrit URL %q is not an http(s) URL", o.URL)
	}
	if u.User != nil {
		return nil, errors.New("put the Gerrit username and password in deploy.gerrit.username and password, not in the URL")
	}
	base := strings.TrimSuffix(o.URL, "/") + "/"
	gc, err := gg.NewClient(context.Background(), base, o.HTTPClient)
	if err != nil {
		return nil, fmt.Errorf("gerrit: %w", err)
	}
	if o.Username != "" {
		gc.Authentication.SetBasicAuth(o.Username, o.Password)
	}
	return &Client{gc: gc, base: base, o: o, log: log.With("component", "gerrit")}, nil
}

// ChangeURL is the web page of change n.
func (c *Client) ChangeURL(n int) string { return c.base + "c/" + strconv.Itoa(n) }

// Username is the account the client votes as.
func (c *Client) Username() string { return c.o.Username }

// Error is a failed Gerrit call. Its text is a sentence for users.
type Error struct {
	// What names what was asked for, e.g. "change 445113".
	What string
	// Status is the HTTP status, 0 for a network failure or timeout.
	Status int
	// Tries is how many times the request was made.
	Tries int
	// Timeout is set when the last try timed out.
	Timeout time.Duration
	// Err is the underlying error, for logs.
	Err error
}

func (e *Error) Error() string {
	switch {
	case e.Status == http.StatusNotFound:
		return fmt.Sprintf("Gerrit has no %s (HTTP 404); check the number or URL.", e.What)
	case e.Status == http.StatusUnauthorized:
		return fmt.Sprintf("Gerrit refused jouncebot's credentials (HTTP 401) while reading %s; check deploy.gerrit.username and the HTTP password secret.", e.What)
	case e.Status == http.StatusForbidden:
		return fmt.Sprintf("Gerrit does not allow jouncebot's account to do that on %s (HTTP 403); it needs the permission in Gerrit.", e.What)
	case e.Status == http.StatusConflict:
		return fmt.Sprintf("Gerrit refused the request on %s (HTTP 409): the change is closed or the patchset is no longer current.", e.What)
	case e.Status >= 500:
		return fmt.Sprintf("Gerrit is failing (HTTP %d) for %s after %d tries; try again later.", e.Status, e.What, e.Tries)
	case e.Timeout > 0:
		return fmt.Sprintf("Gerrit did not answer about %s within %s (%d tries); it may be down.", e.What, e.Timeout, e.Tries)
	case e.Status > 0:
		return fmt.Sprintf("Gerrit answered HTTP %d for %s.", e.Status, e.What)
	}
	return fmt.Sprintf("Cannot reach Gerrit about %s after %d tries; it may be down.", e.What, e.Tries)
}

func (e *Error) Unwrap() error { return e.Err }

// IsNotFound reports whether err is Gerrit's 404.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// call makes one idempotent REST call with retries. v receives the
// decoded JSON.
func (c *Client) call(ctx context.Context, what, method, path string, body, v any) error {
	return c.retry(ctx, what, method, path, body, v, nil)
}

// retry makes a REST call, retrying on server errors and network
// failures. Before a retry, tookEffect (when set, for a call that is not
// idempotent) says whether the failed try was carried out all the same:
// a timed-out POST may have been, and must not be made twice. When that
// cannot be told, the call is not made again and the error is returned.
func (c *Client) retry(ctx context.Context, what, method, path string, body, v any, tookEffect func(context.Context) (bool, error)) error {
	var last *Error
	p := backoff.Policy{Min: c.o.Backoff, Tries: c.o.Tries}
	return backoff.RetryNotify(ctx, p, func(try int) (bool, error) {
		if try > 1 && tookEffect != nil {
			done, err := tookEffect(ctx)
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			if err != nil {
				c.log.Warn("cannot tell whether a failed Gerrit request took effect; not repeating it", "method", method, "path", path, "err", err)
				return false, last
			}
			if done {
				c.log.Info("Gerrit request took effect though its answer failed", "method", method, "path", path, "err", last.Err)
				return false, nil
			}
		}
		status, err := c.once(ctx, method, path, body, v)
		if err == nil {
			return false, nil
		}
		last = &Error{What: what, Status: status, Tries: try, Err: err}
		if status == 0 && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			last.Timeout = c.o.Timeout
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return status == 0 || status >= 500, last
	}, func(_ error, try int, _ time.Duration) {
		c.log.Warn("retrying Gerrit request", "method", method, "path", path, "status", last.Status, "err", last.Err, "try", try)
	})
}

func (c *Client) once(ctx context.Context, method, path string, body, v any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	resp, err := c.gc.Call(ctx, method, path, body, v)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil && resp.StatusCode >= 300 {
			return resp.StatusCode, err
		}
		return 0, err
	}
	return 0, nil
}

// Account is a Gerrit account.
type Account struct {
	ID       int
	Username string
	Name     string
	Email    string
}

// Display is the account's name for people.
func (a Account) Display() string {
	if a.Name != "" {
		return a.Name
	}
	return a.Username
}

// Approval is one vote on a label.
type Approval struct {
	Account
	Value int
	Date  time.Time
}

// Change is what jouncebot knows about a change: the current patchset and
// its commit, labels and footers.
type Change struct {
	Number   int
	Project  string
	Branch   string
	ChangeID string
	Subject  string
	Status   string // NEW, MERGED, ABANDONED
	WIP      bool
	// Private is Gerrit's private flag (is_private): the change is
	// visible only to its owner, reviewers and those allowed to see
	// private changes, as a security fix is reviewed. What names it (its
	// subject, tasks and files) stays out of public texts.
	Private   bool
	Mergeable *bool // nil when Gerrit did not say
	Owner     Account
	Updated   time.Time

	Revision string // commit of the current patchset
	PatchSet int
	Kind     string // REWORK, TRIVIAL_REBASE, NO_CODE_CHANGE, …
	Uploader Account
	Parents  []string
	Message  string // full commit message

	// Labels holds every vote on the current patchset, by label.
	Labels map[string][]Approval

	// Footers from the commit message.
	DependsOn []string // Change-Ids
	Bugs      []string // Phabricator task ids, e.g. T123
}

// PrivateSubject stands for the subject of a change marked private in
// Gerrit in every public text.
const PrivateSubject = "a change private in Gerrit"

// PublicSubject is the change's subject, or PrivateSubject for a private
// change.
func (c *Change) PublicSubject() string {
	if c.Private {
		return PrivateSubject
	}
	return c.Subject
}

// PublicBugs are the change's tasks, none for a private change (its
// tasks are security tasks).
func (c *Change) PublicBugs() []string {
	if c.Private {
		return nil
	}
	return c.Bugs
}

// Merged reports whether the change has merged.
func (c *Change) Merged() bool { return c.Status == "MERGED" }

var changeOptions = &gg.ChangeOptions{AdditionalFields: []string{"CURRENT_REVISION", "CURRENT_COMMIT", "COMMIT_FOOTERS", "DETAILED_ACCOUNTS", "DETAILED_LABELS"}}

// changeJSON shadows fields go-gerrit decodes lossily: mergeable (false vs
// absent) and the revisions' commit_with_footers.
type changeJSON struct {
	gg.ChangeInfo
	Mergeable *bool                   `json:"mergeable"`
	Revisions map[string]revisionJSON `json:"revisions"`
}

type revisionJSON struct {
	gg.RevisionInfo
	CommitWithFooters string `json:"commit_with_footers"`
}

func withOptions(path string) string {
	q := url.Values{}
	for _, o := range changeOptions.AdditionalFields {
		q.Add("o", o)
	}
	return path + "?" + q.Encode()
}

// Change fetches change n with its current revision, commit, footers and
// detailed labels.
func (c *Client) Change(ctx context.Context, n int) (*Change, error) {
	var v changeJSON
	if err := c.call(ctx, fmt.Sprintf("change %d", n), "GET", withOptions("changes/"+strconv.Itoa(n)), nil, &v); err != nil {
		return nil, err
	}
	return convert(&v), nil
}

// Query returns the changes matching a Gerrit search query.
func (c *Client) Query(ctx context.Context, q string) ([]*Change, error) {
	var v []changeJSON
	path := withOptions("changes/") + "&q=" + url.QueryEscape(q)
	if err := c.call(ctx, fmt.Sprintf("changes matching %q", q), "GET", path, nil, &v); err != nil {
		return nil, err
	}
	out := make([]*Change, 0, len(v))
	for i := range v {
		out = append(out, convert(&v[i]))
	}
	return out, nil
}

// SubmittedTogether returns the other changes Gerrit would submit with
// change n (its unmerged relation chain and topic), without n itself.
func (c *Client) SubmittedTogether(ctx context.Context, n int) ([]*Change, error) {
	var v []changeJSON
	path := withOptions("changes/" + strconv.Itoa(n) + "/submitted_together")
	if err := c.call(ctx, fmt.Sprintf("change %d", n), "GET", path, nil, &v); err != nil {
		return nil, err
	}
	var out []*Change
	for i := range v {
		if v[i].Number != n {
			out = append(out, convert(&v[i]))
		}
	}
	return out, nil
}

// Related is one change of a relation chain.
type Related struct {
	Number   int
	ChangeID string
	Project  string
	Status   string // NEW, MERGED, ABANDONED
	Commit   string
	// PatchSet is the patchset in the chain; CurrentPatchSet the change's
	// newest (they differ when the chain is outdated).
	PatchSet, CurrentPatchSet int
}

// RelatedChanges returns the relation chain of change n's current
// patchset, newest (descendants) first, n itself included; none when n is
// not part of a chain.
func (c *Client) RelatedChanges(ctx context.Context, n int) ([]Related, error) {
	var v struct {
		Changes []struct {
			Project  string `json:"project"`
			ChangeID string `json:"change_id"`
			Commit   struct {
				Commit string `json:"commit"`
			} `json:"commit"`
			Number          int    `json:"_change_number"`
			Revision        int    `json:"_revision_number"`
			CurrentRevision int    `json:"_current_revision_number"`
			Status          string `json:"status"`
		} `json:"changes"`
	}
	path := fmt.Sprintf("changes/%d/revisions/current/related", n)
	if err := c.call(ctx, fmt.Sprintf("change %d", n), "GET", path, nil, &v); err != nil {
		return nil, err
	}
	out := make([]Related, 0, len(v.Changes))
	for _, r := range v.Changes {
		out = append(out, Related{Number: r.Number, ChangeID: r.ChangeID, Project: r.Project, Status: r.Status,
			Commit: r.Commit.Commit, PatchSet: r.Revision, CurrentPatchSet: r.CurrentRevision})
	}
	return out, nil
}

// ReviewInput is a review to post.
type ReviewInput struct {
	Message string
	Labels  map[string]int
}

// Review posts a review on a revision (a commit id, or "current"). A
// review is not idempotent (a second +2 is a second message and vote), so
// after a try that failed without an answer Review looks at the change's
// messages for the one it posted before it tries again.
func (c *Client) Review(ctx context.Context, n int, revision string, in ReviewInput) error {
	what := fmt.Sprintf("change %d", n)
	before, err := c.messages(ctx, n)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, m := range before {
		seen[m.ID] = true
	}
	posted := func(ctx context.Context) (bool, error) {
		after, err := c.messages(ctx, n)
		if err != nil {
			return false, err
		}
		return slices.ContainsFunc(after, func(m messageJSON) bool {
			return !seen[m.ID] && m.Author.Username == c.o.Username && strings.Contains(m.Message, in.Message)
		}), nil
	}
	body := &gg.ReviewInput{Message: in.Message, Labels: in.Labels, Tag: "autogenerated:jouncebot"}
	path := fmt.Sprintf("changes/%d/revisions/%s/review", n, revision)
	return c.retry(ctx, what, "POST", path, body, &gg.ReviewResult{}, posted)
}

// messageJSON is a change message as Gerrit sends it.
type messageJSON struct {
	ID      string         `json:"id"`
	Author  gg.AccountInfo `json:"author"`
	Message string         `json:"message"`
}

// messages returns the messages of change n.
func (c *Client) messages(ctx context.Context, n int) ([]messageJSON, error) {
	var v struct {
		Messages []messageJSON `json:"messages"`
	}
	path := "changes/" + strconv.Itoa(n) + "?o=MESSAGES&o=DETAILED_ACCOUNTS"
	if err := c.call(ctx, fmt.Sprintf("change %d", n), "GET", path, nil, &v); err != nil {
		return nil, err
	}
	return v.Messages, nil
}

func account(a gg.AccountInfo) Account {
	return Account{ID: a.AccountID, Username: a.Username, Name: a.Name, Email: a.Email}
}

func convert(v *changeJSON) *Change {
	ch := &Change{Number: v.Number, Project: v.Project, Branch: v.Branch, ChangeID: v.ChangeID, Subject: v.Subject,
		Status: v.Status, WIP: v.WorkInProgress, Private: v.IsPrivate, Mergeable: v.Mergeable, Owner: account(v.Owner), Updated: v.Updated.Time,
		Revision: v.CurrentRevision, Labels: map[string][]Approval{}}
	if r, ok := v.Revisions[v.CurrentRevision]; ok {
		ch.PatchSet, ch.Kind, ch.Uploader = r.Number, string(r.Kind), account(r.Uploader)
		ch.Message = r.Commit.Message
		if r.CommitWithFooters != "" {
			ch.Message = r.CommitWithFooters
		}
		for _, p := range r.Commit.Parents {
			ch.Parents = append(ch.Parents, p.Commit)
		}
	}
	for name, l := range v.Labels {
		for _, a := range l.All {
			d, _ := time.Parse("2006-01-02 15:04:05.000000000", a.Date)
			ch.Labels[name] = append(ch.Labels[name], Approval{Account: account(a.AccountInfo), Value: a.Value, Date: d})
		}
	}
	ch.DependsOn = Footers(ch.Message, "Depends-On")
	for _, b := range Footers(ch.Message, "Bug") {
		ch.Bugs = append(ch.Bugs, strings.Fields(b)...)
	}
	return ch
}

// Footers returns the values of a footer (e.g. "Bug") in the last
// paragraph of a commit message, in order.
func Footers(msg, key string) []string { return footers(msg, key) }

// MaintenanceFooters are the footer names that ask for a maintenance
// script after the sync; both spellings are read everywhere (readiness,
// plan, the offer after the sync and maint <change>).
var MaintenanceFooters = []string{"Maintenance-Script", "Maintenance"}

// MaintenanceScripts returns the values of a commit message's
// Maintenance-Script and Maintenance footers, in the order written.
func MaintenanceScripts(msg string) []string { return footers(msg, MaintenanceFooters...) }

func footers(msg string, keys ...string) []string {
	msg = strings.TrimRight(msg, "\n ")
	last := msg
	if i := strings.LastIndex(msg, "\n\n"); i >= 0 {
		last = msg[i+2:]
	}
	var out []string
	for _, l := range strings.Split(last, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && slices.ContainsFunc(keys, func(key string) bool { return strings.EqualFold(strings.TrimSpace(k), key) }) && strings.TrimSpace(v) != "" {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}
