// Package purge tells the CDN to forget the public URLs of static files a
// deploy changed. A Purger maps directories of the deployed tree to public
// URLs and sends one HTTP PURGE per URL to each configured cache endpoint
// (with the public host in the Host header, as Varnish and ATS expect), or
// to the public URL itself when no endpoint is configured.
//
//	p := purge.FromConfig(cfg.Deploy.Purge, nil)
//	rep := p.Purge(ctx, changedFiles)
//	if len(rep.URLs) > 0 { say(rep.Summary()) }
package purge

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/jouncebot/jouncebot/config"

	"github.com/jouncebot/jouncebot/bot"
)

// Purger purges the public URLs of changed static files.
type Purger struct {
	// Static maps tree directories to public URLs.
	Static []config.StaticDir
	// Endpoints are cache servers receiving the PURGEs; empty means the
	// public URLs themselves.
	Endpoints []string
	Timeout   time.Duration // per request; default 10s
	Client    *http.Client  // default http.DefaultClient
}

// FromConfig returns the purger the configuration describes, or nil when
// purging is not configured.
func FromConfig(c *config.Purge, client *http.Client) *Purger {
	if c == nil {
		return nil
	}
	return &Purger{Static: c.Static, Endpoints: c.Endpoints, Timeout: c.Timeout, Client: client}
}

// URLs returns the public URLs of the files (paths relative to the tree)
// that lie in a static directory, in the order given, each once.
func (p *Purger) URLs(files []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		f = path.Clean(strings.TrimPrefix(f, "./"))
		for _, s := range p.Static {
			dir := strings.TrimSuffix(path.Clean(s.Dir), "/") + "/"
			rest, ok := strings.CutPrefix(f, dir)
			if !ok || rest == "" {
				continue
			}
			u := strings.TrimSuffix(s.URL, "/") + "/" + escapePath(rest)
			if !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
			break
		}
	}
	return out
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// Report says what was purged.
type Report struct {
	// URLs are the public URLs purged (or attempted).
	URLs []string
	// Endpoints is the number of cache endpoints each URL was sent to.
	Endpoints int
	// Failures are the requests that failed, as sentences.
	Failures []string
	// NotFound are the requests answered 404 Not Found, as sentences: the
	// cache held no such object, because it was never fetched or because
	// the address is wrong. Either way nothing was purged.
	NotFound []string
	// Purged are the URLs every endpoint accepted, in the order of URLs.
	Purged []string
}

// OK reports whether every PURGE was accepted.
func (r *Report) OK() bool { return len(r.Failures) == 0 && len(r.NotFound) == 0 }

// Summary is one line for the channel.
func (r *Report) Summary() string {
	if len(r.URLs) == 0 {
		return "No static files changed; nothing to purge from the CDN."
	}
	where := "at their public address"
	if r.Endpoints > 0 {
		where = "from " + bot.Count(r.Endpoints, "CDN endpoint")
	}
	var s string
	if len(r.Purged) == len(r.URLs) {
		s = fmt.Sprintf("Purged %s %s: %s.", bot.Count(len(r.URLs), "URL"), where, listed(r.Purged))
	} else {
		s = fmt.Sprintf("Purged %d of %s %s", len(r.Purged), bot.Count(len(r.URLs), "URL"), where)
		if len(r.Purged) > 0 {
			s += ": " + listed(r.Purged)
		}
		s += "."
	}
	if len(r.Failures) > 0 {
		s += fmt.Sprintf(" %s failed: %s.", bot.Count(len(r.Failures), "purge request"), firstAndMore(r.Failures))
	}
	if len(r.NotFound) > 0 {
		s += fmt.Sprintf(" %s found nothing to purge (404 Not Found: not cached, or a wrong address): %s.",
			bot.Count(len(r.NotFound), "purge request"), firstAndMore(r.NotFound))
	}
	return s
}

// listed lists up to five URLs, then counts.
func listed(urls []string) string {
	shown, more := urls, ""
	if len(shown) > 5 {
		more = fmt.Sprintf(" and %d more", len(shown)-5)
		shown = shown[:5]
	}
	return strings.Join(shown, ", ") + more
}

func firstAndMore(s []string) string {
	if len(s) > 1 {
		return fmt.Sprintf("%s (and %d more)", s[0], len(s)-1)
	}
	return s[0]
}

// Purge sends a PURGE for every public URL of the changed files to every
// endpoint, a few at a time, and reports what happened. A failed request
// does not stop the others.
func (p *Purger) Purge(ctx context.Context, files []string) *Report {
	rep := &Report{URLs: p.URLs(files), Endpoints: len(p.Endpoints)}
	type req struct{ target, public string }
	var reqs []req
	for _, u := range rep.URLs {
		if len(p.Endpoints) == 0 {
			reqs = append(reqs, req{u, u})
		}
		for _, e := range p.Endpoints {
			reqs = append(reqs, req{e, u})
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	unpurged := map[string]bool{}
	for _, r := range reqs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := p.send(ctx, r.target, r.public)
			if err == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			unpurged[r.public] = true
			if nf, ok := err.(notFound); ok {
				rep.NotFound = append(rep.NotFound, nf.Error())
			} else {
				rep.Failures = append(rep.Failures, err.Error())
			}
		})
	}
	wg.Wait()
	for _, u := range rep.URLs {
		if !unpurged[u] {
			rep.Purged = append(rep.Purged, u)
		}
	}
	return rep
}

// notFound is a purge answered 404 Not Found.
type notFound struct{ host, public string }

func (e notFound) Error() string { return fmt.Sprintf("%s has no %s", e.host, e.public) }

// send purges public through target: the request goes to target's host
// with public's path and query, and public's host in the Host header.
func (p *Purger) send(ctx context.Context, target, public string) error {
	pu, err := url.Parse(public)
	if err != nil {
		return fmt.Errorf("%s is not a URL", public)
	}
	tu, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("%s is not a URL", target)
	}
	u := *pu
	u.Scheme, u.Host = tu.Scheme, tu.Host
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "PURGE", u.String(), nil)
	if err != nil {
		return fmt.Errorf("cannot purge %s: %v", public, err)
	}
	req.Host = pu.Host
	c := p.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("%s did not answer the purge of %s within %s", tu.Host, public, timeout)
		}
		return fmt.Errorf("%s did not answer the purge of %s", tu.Host, public)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return notFound{tu.Host, public}
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s answered %s to the purge of %s", tu.Host, resp.Status, public)
	}
	return nil
}
