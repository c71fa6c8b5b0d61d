package deploycal

import (
	"context"
	"fmt"
	"strings"
)

// Renderer renders a wiki page to HTML; *wiki.Client is one.
type Renderer interface {
	Parse(ctx context.Context, page string) (html string, revid int64, err error)
}

// Fetch renders page through the wiki's API and reads its events (see
// Parse). Errors from the wiki are wrapped, so errors.Is(err,
// wiki.ErrUnavailable) tells a wiki that is down from a broken page.
func Fetch(ctx context.Context, w Renderer, page string) ([]Event, []Warning, error) {
	html, _, err := w.Parse(ctx, page)
	if err != nil {
		return nil, nil, fmt.Errorf("deploycal: reading the calendar page %q: %w", page, err)
	}
	events, warnings, err := Parse(strings.NewReader(html))
	if err != nil {
		return nil, warnings, fmt.Errorf("%w (page %q)", err, page)
	}
	return events, warnings, nil
}
