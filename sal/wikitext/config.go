package wikitext

import (
	"strings"

	"github.com/jouncebot/jouncebot/config"
)

// FromConfig is the renderer of a configuration: Wikimedia's links, with
// gerrit and phab pointing at the configured Gerrit and Phabricator, and
// sal.links on top.
func FromConfig(cfg *config.Config) *Renderer {
	r := Wikimedia()
	if u := strings.TrimRight(cfg.Deploy.Gerrit.URL, "/"); u != "" {
		r.Interwiki["gerrit"] = u + "/$1"
	}
	if ph := cfg.SAL.Phabricator; ph != nil && ph.URL != "" {
		u := strings.TrimRight(ph.URL, "/") + "/$1"
		r.Interwiki["phab"], r.Interwiki["phabricator"] = u, u
	}
	if cfg.SAL.Links.Wiki != "" {
		r.Wiki = cfg.SAL.Links.Wiki
	}
	for k, v := range cfg.SAL.Links.Interwiki {
		r.Interwiki[strings.ToLower(k)] = v
	}
	return r
}
