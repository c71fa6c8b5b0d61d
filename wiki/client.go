// Package wiki is a small client for the MediaWiki Action API (api.php),
// made for a bot that reads one page and appends to another.
//
// Create one Client per wiki with New. A Client with a User logs in with a
// bot password (Special:BotPasswords, user names like "DeployBot@ci") the
// first time it needs to, keeps its session in its own cookie jar, and logs
// in again when the session expires. Without a User it reads anonymously.
//
//	c, err := wiki.New(wiki.Options{API: "https://wikitech.wikimedia.org/w/api.php",
//		User: "DeployBot@ci", Password: cfg.Password})
//	html, revid, err := c.Parse(ctx, "Deployments")
//	_, err = c.Edit(ctx, "Server admin log", func(old string) string {
//		return wiki.AddSALEntry(old, entry)
//	}, "jouncebot: log")
//
// Edit reads the page, applies the transform and saves with the base
// revision id so MediaWiki detects edit conflicts (even with ourselves); on a conflict it reads the page
// again and re-applies the transform, so concurrent writers never lose each
// other's changes. Lagged replicas (maxlag), rate limits, HTTP 5xx answers and
// network errors are retried with backoff. Errors wrap ErrUnavailable when the
// wiki could not be reached or kept failing, so callers can queue work and
// try later; the password never appears in an error or log.
//
// A Client is safe for concurrent use.
package wiki

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/internal/backoff"
)

// ErrUnavailable is wrapped by errors saying the wiki could not be reached
// or kept failing (network errors, timeouts, HTTP 5xx, maxlag), as opposed
// to errors that will not go away by retrying (bad password, no such page,
// no permission).
var ErrUnavailable = errors.New("the wiki is unavailable")

// ErrMissingPage is wrapped by errors saying the page does not exist.
var ErrMissingPage = errors.New("no such page")

// APIError is an error answer of the API, such as code "permissiondenied".
type APIError struct {
	Code string
	Info string
}

func (e *APIError) Error() string { return e.Code + ": " + e.Info }

// Options configure a Client.
type Options struct {
	// API is the URL of api.php, e.g. https://wikitech.wikimedia.org/w/api.php.
	API string
	// User is the bot password user name ("DeployBot@ci"). Empty means
	// anonymous: reading works, editing usually does not.
	User string
	// Password is the bot password's secret.
	Password config.Secret
	// UserAgent identifies the bot to the wiki's operators.
	UserAgent string
	// Timeout bounds each HTTP request (default 30s).
	Timeout time.Duration
	// Retries is how many times a failing request is retried (default 4).
	Retries int
	// RetryDelay is the first backoff delay; it doubles per retry (default 1s).
	RetryDelay time.Duration
	// MaxLag is sent as maxlag (default 5 seconds): the wiki refuses work
	// while its replicas lag more than this, and the client waits.
	MaxLag int
	// EditAttempts is how many times Edit tries to save through edit
	// conflicts (default 10).
	EditAttempts int
	// HTTPClient is used for requests; its Jar is replaced by the client's
	// own cookie jar. Default: a new http.Client.
	HTTPClient *http.Client
	// Logger receives retries and logins at debug/warn level. Default: discard.
	Logger *slog.Logger
}

// Client talks to one wiki. Create it with New.
type Client struct {
	opt  Options
	http *http.Client
	log  *slog.Logger

	loginMu  sync.Mutex // serialises logins
	mu       sync.Mutex // guards the fields below
	loggedIn bool
	csrf     string
}

// DefaultUserAgent is sent when Options.UserAgent is empty.
const DefaultUserAgent = "jouncebot/1 (https://github.com/jouncebot/jouncebot)"

// New returns a client for the wiki at opt.API. It does not contact the wiki.
func New(opt Options) (*Client, error) {
	u, err := url.Parse(opt.API)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("wiki: the API URL %q is not an http(s) URL of api.php", opt.API)
	}
	if opt.User != "" && opt.Password.Value() == "" {
		return nil, fmt.Errorf("wiki: user %q has no password configured", opt.User)
	}
	if opt.UserAgent == "" {
		opt.UserAgent = DefaultUserAgent
	}
	if opt.Timeout == 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.Retries == 0 {
		opt.Retries = 4
	}
	if opt.RetryDelay == 0 {
		opt.RetryDelay = time.Second
	}
	if opt.MaxLag == 0 {
		opt.MaxLag = 5
	}
	if opt.EditAttempts == 0 {
		opt.EditAttempts = 10
	}
	hc := &http.Client{}
	if opt.HTTPClient != nil {
		c := *opt.HTTPClient
		hc = &c
	}
	jar, _ := cookiejar.New(nil) // never fails without options
	hc.Jar = jar
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{opt: opt, http: hc, log: log.With("component", "wiki", "api", opt.API)}, nil
}

// API returns the URL of api.php the client talks to.
func (c *Client) API() string { return c.opt.API }

// call posts one API request and decodes the answer into out, retrying
// transient failures. It does not log in; see do.
func (c *Client) call(ctx context.Context, params url.Values, out any) error {
	params.Set("format", "json")
	params.Set("formatversion", "2")
	params.Set("maxlag", strconv.Itoa(c.opt.MaxLag))
	action := params.Get("action")
	bo := backoff.New(backoff.Policy{Min: c.opt.RetryDelay})
	for attempt := 0; ; attempt++ {
		wait, err := c.once(ctx, params, out)
		if err == nil {
			return nil
		}
		if wait < 0 || attempt >= c.opt.Retries || (action == "edit" && errors.Is(err, errUncertain)) {
			return fmt.Errorf("wiki: %s: %w", action, err)
		}
		if wait == 0 {
			wait = bo.Next()
		}
		c.log.Warn("wiki request failed; retrying", "action", action, "attempt", attempt+1, "wait", wait, "err", err)
		if serr := backoff.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("wiki: %s: gave up waiting to retry (%w) after: %w", action, serr, err)
		}
	}
}

// errUncertain marks failures after which the request may or may not have
// been carried out (no answer, HTTP 5xx). Edits are not blindly repeated
// after those: Edit re-reads the page to find out.
var errUncertain = errors.New("the outcome is unknown")

// uncertain marks err with errUncertain without changing its message.
type uncertain struct{ error }

func (u uncertain) Unwrap() error      { return u.error }
func (uncertain) Is(target error) bool { return target == errUncertain }

// once makes one request. A negative wait means the error is permanent;
// zero means retry with the default backoff; positive is the wait the
// server asked for.
func (c *Client) once(ctx context.Context, params url.Values, out any) (wait time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.opt.API, strings.NewReader(params.Encode()))
	if err != nil {
		return -1, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", c.opt.UserAgent)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return -1, err
		}
		return 0, uncertain{fmt.Errorf("%w: cannot reach %s: %s", ErrUnavailable, c.opt.API, netReason(err))}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, uncertain{fmt.Errorf("%w: reading the answer of %s: %s", ErrUnavailable, c.opt.API, netReason(err))}
	}
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		err := fmt.Errorf("%w: %s answered HTTP %s", ErrUnavailable, c.opt.API, resp.Status)
		if resp.StatusCode != http.StatusTooManyRequests {
			err = uncertain{err}
		}
		return retryAfter(resp), err
	case resp.StatusCode != http.StatusOK:
		return -1, fmt.Errorf("%s answered HTTP %s; is this the URL of api.php?", c.opt.API, resp.Status)
	}
	var env struct {
		Error *APIError `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return -1, fmt.Errorf("%s did not answer with JSON (it began %q); is this the URL of api.php and is the wiki set up?", c.opt.API, snippet(body))
	}
	if e := env.Error; e != nil {
		switch e.Code {
		case "maxlag", "ratelimited", "readonly", "internal_api_error_DBQueryError", "internal_api_error_DBConnectionError":
			return retryAfter(resp), fmt.Errorf("%w: %w", ErrUnavailable, e)
		}
		return -1, e
	}
	if err := json.Unmarshal(body, out); err != nil {
		return -1, fmt.Errorf("decoding the answer of %s: %w", c.opt.API, err)
	}
	return 0, nil
}

func retryAfter(resp *http.Response) time.Duration {
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 && s <= 120 {
		return time.Duration(s) * time.Second
	}
	return 0
}

// netReason shortens a transport error to its cause ("connection refused")
// without repeating the URL.
func netReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer before the timeout"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.HasPrefix(s, "dial") {
		return s[i+2:]
	}
	return s
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

// do is call for requests that need the session: it logs in first when the
// client has a user, and logs in again once if the session was lost.
func (c *Client) do(ctx context.Context, params url.Values, out any) error {
	if c.opt.User == "" {
		return c.call(ctx, params, out)
	}
	if err := c.ensureLogin(ctx); err != nil {
		return err
	}
	params.Set("assert", "user")
	err := c.call(ctx, params, out)
	var ae *APIError
	if errors.As(err, &ae) && (ae.Code == "assertuserfailed" || ae.Code == "assertbotfailed") {
		c.log.Info("wiki session lost; logging in again")
		c.mu.Lock()
		c.loggedIn, c.csrf = false, ""
		c.mu.Unlock()
		if err := c.ensureLogin(ctx); err != nil {
			return err
		}
		return c.call(ctx, params, out)
	}
	return err
}

// Login logs in with the bot password. Other methods call it when needed;
// call it directly to check the credentials at start-up.
func (c *Client) Login(ctx context.Context) error {
	if c.opt.User == "" {
		return errors.New("wiki: no user configured to log in with")
	}
	c.mu.Lock()
	c.loggedIn, c.csrf = false, ""
	c.mu.Unlock()
	return c.ensureLogin(ctx)
}

func (c *Client) ensureLogin(ctx context.Context) error {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	c.mu.Lock()
	done := c.loggedIn
	c.mu.Unlock()
	if done {
		return nil
	}
	var tok struct {
		Query struct {
			Tokens struct {
				Login string `json:"logintoken"`
			} `json:"tokens"`
		} `json:"query"`
	}
	if err := c.call(ctx, url.Values{"action": {"query"}, "meta": {"tokens"}, "type": {"login"}}, &tok); err != nil {
		return fmt.Errorf("wiki: log in as %s: %w", c.opt.User, err)
	}
	var res struct {
		Login struct {
			Result   string `json:"result"`
			Reason   string `json:"reason"`
			UserName string `json:"lgusername"`
		} `json:"login"`
	}
	err := c.call(ctx, url.Values{
		"action":     {"login"},
		"lgname":     {c.opt.User},
		"lgpassword": {c.opt.Password.Value()},
		"lgtoken":    {tok.Query.Tokens.Login},
	}, &res)
	if err != nil {
		return fmt.Errorf("wiki: log in as %s: %w", c.opt.User, err)
	}
	if res.Login.Result != "Success" {
		reason := res.Login.Reason
		if reason == "" {
			reason = res.Login.Result
		}
		return fmt.Errorf("wiki: log in as %s failed: %s (check the bot password and its grants on Special:BotPasswords)", c.opt.User, reason)
	}
	c.mu.Lock()
	c.loggedIn = true
	c.mu.Unlock()
	c.log.Debug("logged in", "user", res.Login.UserName)
	return nil
}

// csrfToken returns the cached edit token, fetching one if needed.
func (c *Client) csrfToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	tok := c.csrf
	c.mu.Unlock()
	if tok != "" {
		return tok, nil
	}
	var res struct {
		Query struct {
			Tokens struct {
				CSRF string `json:"csrftoken"`
			} `json:"tokens"`
		} `json:"query"`
	}
	if err := c.do(ctx, url.Values{"action": {"query"}, "meta": {"tokens"}}, &res); err != nil {
		return "", err
	}
	tok = res.Query.Tokens.CSRF
	if tok == "" || tok == `+\` && c.opt.User != "" {
		return "", errors.New("wiki: the wiki gave no edit token; is the session logged in?")
	}
	c.mu.Lock()
	c.csrf = tok
	c.mu.Unlock()
	return tok, nil
}

// Parse renders the current revision of page to HTML with action=parse and
// returns the HTML and the revision id. Redirects are followed.
func (c *Client) Parse(ctx context.Context, page string) (html string, revid int64, err error) {
	var res struct {
		Parse struct {
			Text  string `json:"text"`
			RevID int64  `json:"revid"`
		} `json:"parse"`
	}
	err = c.do(ctx, url.Values{
		"action":             {"parse"},
		"page":               {page},
		"prop":               {"text|revid"},
		"redirects":          {"1"},
		"disablelimitreport": {"1"},
		"disableeditsection": {"1"},
	}, &res)
	if err != nil {
		return "", 0, pageError(err, page)
	}
	return res.Parse.Text, res.Parse.RevID, nil
}

func pageError(err error, page string) error {
	var ae *APIError
	if errors.As(err, &ae) && (ae.Code == "missingtitle" || ae.Code == "invalidtitle") {
		return fmt.Errorf("wiki: page %q: %w (%w)", page, ErrMissingPage, err)
	}
	return err
}
