package calendar

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/calendar/deploycal"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/wiki"
)

// WikiFetcher imports the windows of a wiki Deployments page.
type WikiFetcher struct {
	client  deploycal.Renderer
	page    string
	pageURL string
	log     *slog.Logger
}

// NewWikiFetcher returns a Fetcher for the page configured in src.
func NewWikiFetcher(src *config.WikiSource, log *slog.Logger) (*WikiFetcher, error) {
	var pw config.Secret
	if src.Password != nil {
		pw = *src.Password
	}
	// One quick retry: the calendar is re-read every few minutes anyway,
	// and a refresh asked for in chat should answer promptly.
	c, err := wiki.New(wiki.Options{API: src.API, User: src.User, Password: pw, Logger: log, Retries: 1, RetryDelay: time.Second, Timeout: 20 * time.Second})
	if err != nil {
		return nil, err
	}
	pageURL := src.PageURL
	if pageURL == "" {
		pageURL = strings.TrimSuffix(src.API, "api.php") + "index.php?title=" + strings.ReplaceAll(src.Page, " ", "_")
	}
	return &WikiFetcher{client: c, page: src.Page, pageURL: pageURL, log: log.With("component", "wiki-calendar")}, nil
}

// Fetch implements Fetcher.
func (f *WikiFetcher) Fetch(ctx context.Context) ([]Window, []string, error) {
	events, warns, err := deploycal.Fetch(ctx, f.client, f.page)
	if err != nil {
		return nil, nil, err
	}
	var out []string
	for _, w := range warns {
		f.log.Warn("skipped a wiki calendar event", "event", w.Event, "problems", w.Problems)
		out = append(out, w.String())
	}
	ws := make([]Window, 0, len(events))
	for _, e := range events {
		var changes []WikiChange
		for _, c := range e.Changes {
			changes = append(changes, WikiChange{Change: c.Number, Owner: c.Owner, Title: c.Title})
		}
		ws = append(ws, Window{
			ID: e.ID, Name: e.Window, Kind: e.Kind(), Start: e.Start, End: e.End,
			MaxPatches: e.MaxPatches, Deployers: e.Deployers, Owners: e.Owners,
			URL: e.Link(f.pageURL), Source: "wiki", WikiID: e.ID, Changes: changes,
		})
	}
	return ws, out, nil
}
