// Package salwiki copies Server Admin Log entries to MediaWiki pages, the
// way the SAL has always been kept: newest first under "== YYYY-MM-DD =="
// headings, one "* HH:MM nick: message" line per entry (see wiki.AddSALEntry).
// Each project with a wiki page gets its own outbox route, so one wiki being
// down holds up only its own entries, and they are written in order when it
// is back.
//
//	routes, err := salwiki.Routes(cfg, logger)
//	l := sal.New(db, cfg, sal.Options{Routes: routes, …})
package salwiki

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/sal"
	"github.com/jouncebot/jouncebot/wiki"
)

// Writer appends entries to one wiki page. It implements sal.Writer.
type Writer struct {
	c    *wiki.Client
	page string
}

// NewWriter returns a writer appending to page through c (which must be
// logged in as a user who may edit the page).
func NewWriter(c *wiki.Client, page string) *Writer { return &Writer{c: c, page: page} }

// Write adds the entry to the page. The wiki client resolves edit
// conflicts and checks whether a save whose answer was lost went through,
// so a retried entry is not written twice. Every error is worth retrying:
// even a refused login is fixed by an admin, and the entry must wait.
func (w *Writer) Write(ctx context.Context, it sal.Item) error {
	e := wiki.SALEntry{Time: it.Entry.Time, Nick: it.Entry.Nick, Message: it.Entry.Message}
	_, err := w.c.Edit(ctx, w.page, func(old string) string { return wiki.AddSALEntry(old, e) }, summary(it.Entry))
	return err
}

// summary is the edit summary, as the SAL bots write it: "nick: message".
func summary(e sal.Entry) string {
	s := e.Nick + ": " + e.Message
	if r := []rune(s); len(r) > 250 {
		s = string(r[:249]) + "…"
	}
	return s
}

// Route is the outbox route for one project's wiki page.
func Route(project string, page string, w sal.Writer) sal.Route {
	return sal.Route{
		Name:        "wiki/" + project,
		Description: "the wiki page " + page,
		Writer:      w,
		Parts:       sal.ForProjects(project),
	}
}

// Routes returns a route for every project with a wiki configured.
func Routes(cfg *config.Config, log *slog.Logger) ([]sal.Route, error) {
	var out []sal.Route
	for _, p := range cfg.SAL.Projects {
		if p.Wiki == nil {
			continue
		}
		c, err := wiki.New(wiki.Options{API: p.Wiki.API, User: p.Wiki.Username, Password: *p.Wiki.Password, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("sal project %s: %w", p.Name, err)
		}
		out = append(out, Route(p.Name, p.Wiki.Page, NewWriter(c, p.Wiki.Page)))
	}
	return out, nil
}
