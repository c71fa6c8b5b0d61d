package wiki

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/internal/backoff"
)

// revision is the current text of a page and the timestamps an edit of it
// must carry.
type revision struct {
	Exists bool
	Text   string
	RevID  int64  // for baserevid
	Now    string // when it was read, for starttimestamp
}

func (c *Client) read(ctx context.Context, page string) (revision, error) {
	var res struct {
		CurTimestamp string `json:"curtimestamp"`
		Query        struct {
			Pages []struct {
				Title     string `json:"title"`
				Missing   bool   `json:"missing"`
				Invalid   bool   `json:"invalid"`
				Reason    string `json:"invalidreason"`
				Revisions []struct {
					RevID int64 `json:"revid"`
					Slots struct {
						Main struct {
							Content string `json:"content"`
						} `json:"main"`
					} `json:"slots"`
				} `json:"revisions"`
			} `json:"pages"`
		} `json:"query"`
	}
	err := c.do(ctx, url.Values{
		"action":       {"query"},
		"prop":         {"revisions"},
		"titles":       {page},
		"rvprop":       {"content|ids"},
		"rvslots":      {"main"},
		"curtimestamp": {"1"},
	}, &res)
	if err != nil {
		return revision{}, err
	}
	if len(res.Query.Pages) != 1 {
		return revision{}, fmt.Errorf("wiki: read %q: the wiki answered with %d pages", page, len(res.Query.Pages))
	}
	p := res.Query.Pages[0]
	switch {
	case p.Invalid:
		return revision{}, fmt.Errorf("wiki: %q is not a valid page title: %s", page, p.Reason)
	case p.Missing || len(p.Revisions) == 0:
		return revision{Now: res.CurTimestamp}, nil
	}
	r := p.Revisions[0]
	return revision{Exists: true, Text: r.Slots.Main.Content, RevID: r.RevID, Now: res.CurTimestamp}, nil
}

// PageText returns the wikitext of the current revision of page. A page
// that does not exist gives an error wrapping ErrMissingPage.
func (c *Client) PageText(ctx context.Context, page string) (string, error) {
	r, err := c.read(ctx, page)
	if err != nil {
		return "", err
	}
	if !r.Exists {
		return "", fmt.Errorf("wiki: page %q: %w", page, ErrMissingPage)
	}
	return r.Text, nil
}

// EditResult says what Edit did.
//
// MediaWiki trims trailing whitespace from saved text, so a transform that
// only adds a newline changes nothing.
type EditResult struct {
	// RevID is the new revision, or the current one when nothing changed.
	RevID int64
	// Changed is false when the transform returned the text unchanged.
	Changed bool
	// Attempts counts reads of the page: more than 1 means edit conflicts
	// were resolved by re-applying the transform.
	Attempts int
}

// errConflict marks an edit that lost a race and must be redone.
var errConflict = errors.New("edit conflict")

// Edit changes page to transform(old), where old is the page's current
// wikitext ("" when the page does not exist yet; it is then created).
// When someone else saved the page in between, Edit reads it again and
// calls transform again with the new text, up to Options.EditAttempts
// times, so transform must be a pure function of old. A transform that
// returns old unchanged saves nothing.
func (c *Client) Edit(ctx context.Context, page string, transform func(old string) string, summary string) (EditResult, error) {
	var res EditResult
	for res.Attempts < c.opt.EditAttempts {
		res.Attempts++
		r, err := c.read(ctx, page)
		if err != nil {
			return res, fmt.Errorf("wiki: edit %q: %w", page, err)
		}
		text := transform(r.Text)
		if r.Exists && text == r.Text {
			return res, nil
		}
		var saved bool
		res.RevID, saved, err = c.save(ctx, page, text, summary, r)
		if errors.Is(err, errUncertain) {
			// The save may have gone through before the connection broke.
			now, rerr := c.read(ctx, page)
			switch {
			case rerr != nil:
				return res, fmt.Errorf("wiki: edit %q: %w", page, err)
			case now.Exists && now.RevID != r.RevID && strings.TrimRight(now.Text, " \t\n") == strings.TrimRight(text, " \t\n"):
				res.RevID, res.Changed = now.RevID, true
				return res, nil
			}
			continue // not saved: start again from the current text
		}
		if errors.Is(err, errConflict) {
			c.log.Info("edit conflict; re-applying the change", "page", page, "attempt", res.Attempts)
			if err := backoff.Sleep(ctx, conflictBackoff(res.Attempts)); err != nil {
				return res, fmt.Errorf("wiki: edit %q: %w", page, err)
			}
			continue
		}
		if err != nil {
			return res, fmt.Errorf("wiki: edit %q: %w", page, err)
		}
		res.Changed = saved
		return res, nil
	}
	return res, fmt.Errorf("wiki: edit %q: %w: gave up after %d attempts because others kept editing the page", page, ErrUnavailable, res.Attempts)
}

// save stores text as the page's next revision after r. It sends baserevid
// rather than basetimestamp: with basetimestamp MediaWiki ignores conflicts
// between edits of the same account, and a bot racing itself (two
// goroutines, or two instances) is exactly the case to catch. MediaWiki
// merges non-overlapping concurrent changes itself; the rest come back as
// errConflict.
// conflictBackoff spreads out writers that keep colliding: a random wait
// of up to 25 ms times the attempt number.
func conflictBackoff(attempt int) time.Duration {
	return rand.N(time.Duration(attempt) * 25 * time.Millisecond)
}

func (c *Client) save(ctx context.Context, page, text, summary string, r revision) (revid int64, saved bool, err error) {
	for retriedToken := false; ; retriedToken = true {
		tok, err := c.csrfToken(ctx)
		if err != nil {
			return 0, false, err
		}
		p := url.Values{
			"action":         {"edit"},
			"title":          {page},
			"text":           {text},
			"summary":        {summary},
			"starttimestamp": {r.Now},
			"watchlist":      {"nochange"},
			"token":          {tok},
		}
		if c.opt.User != "" {
			p.Set("bot", "1")
		}
		if r.Exists {
			p.Set("baserevid", strconv.FormatInt(r.RevID, 10))
			p.Set("nocreate", "1")
		} else {
			p.Set("createonly", "1")
		}
		var res struct {
			Edit struct {
				Result   string `json:"result"`
				NewRevID int64  `json:"newrevid"`
				NoChange bool   `json:"nochange"`
				Info     string `json:"info"`
			} `json:"edit"`
		}
		err = c.do(ctx, p, &res)
		var ae *APIError
		if errors.As(err, &ae) {
			switch ae.Code {
			case "editconflict", "articleexists", "missingtitle", "pagedeleted":
				return 0, false, errConflict
			case "badtoken":
				if !retriedToken {
					c.mu.Lock()
					c.csrf = ""
					c.mu.Unlock()
					continue
				}
			}
		}
		if err != nil {
			return 0, false, err
		}
		if res.Edit.Result != "Success" {
			return 0, false, fmt.Errorf("the wiki did not save the edit (%s: %s); an extension such as a spam filter or CAPTCHA may have stopped it", res.Edit.Result, res.Edit.Info)
		}
		if res.Edit.NoChange { // MediaWiki trims trailing space, so the text may be the same
			return r.RevID, false, nil
		}
		return res.Edit.NewRevID, true, nil
	}
}
