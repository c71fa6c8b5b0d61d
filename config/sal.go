package config

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// SAL configures the Server Admin Log.
type SAL struct {
	// Projects map channels and rooms to SAL projects.
	Projects []SALProject `yaml:"projects"`
	// Relays are bots trusted to relay other people's !log lines, as
	// "network/account" (the relay's services account or Matrix user id).
	// A relay's "!log user@host message" is attributed to user@host; from
	// anyone else that prefix is just part of the message.
	Relays []string `yaml:"relays"`
	// Phabricator, when set, comments on each task an entry mentions.
	Phabricator *SALPhabricator `yaml:"phabricator"`
	// Links say where the wikitext links of log lines point on the web
	// pages and in Matrix.
	Links SALLinks `yaml:"links"`
}

// SALLinks say where wikitext links in log lines go, as on the wiki.
type SALLinks struct {
	// Wiki is the URL of a page of the wiki [[Page]] goes to, $1 standing
	// for the title. Default https://wikitech.wikimedia.org/wiki/$1.
	Wiki string `yaml:"wiki"`
	// Interwiki adds or replaces interwiki prefixes ([[prefix:target]]):
	// prefix to URL with $1 for the target. Wikimedia's usual prefixes
	// (gerrit, phab, wikitech, mw, meta, w, …) are there by default; gerrit
	// and phab follow deploy.gerrit.url and sal.phabricator.url when set.
	Interwiki map[string]string `yaml:"interwiki"`
}

// SALProject is one log, fed from some channels/rooms.
type SALProject struct {
	// Name identifies the project in URLs and the API: lower-case letters,
	// digits, '-', '_' and '.'.
	Name string `yaml:"name"`
	// Rooms are "network/#channel" or "network/!room:server" strings.
	Rooms []string `yaml:"rooms"`
	// Allow says who may !log: person names from the people list,
	// "role:<role>" for everyone with that role, or "identified" for
	// everyone the network vouches for. Default: ["role:deployer",
	// "role:logger"] (admins have every role).
	Allow []string `yaml:"allow"`
	// Wiki, when set, appends every entry to a wiki page too.
	Wiki *SALWiki `yaml:"wiki"`
	// Phabricator turns task comments off for this project when false.
	// Default true (when the phabricator section is configured).
	Phabricator *bool `yaml:"phabricator"`
}

// SALWiki is the wiki page a project's entries are appended to.
type SALWiki struct {
	// API is the MediaWiki Action API URL, e.g. https://wiki.example.org/w/api.php.
	API string `yaml:"api"`
	// Page is the title of the page, e.g. "Server Admin Log".
	Page string `yaml:"page"`
	// Username is the bot-password login, e.g. "DeployBot@sal".
	Username string `yaml:"username"`
	// Password is the bot password.
	Password *Secret `yaml:"password"`
}

// SALPhabricator configures comments on Phabricator tasks.
type SALPhabricator struct {
	// URL is Phabricator's base URL, e.g. https://phabricator.example.org.
	URL string `yaml:"url"`
	// Token is a Conduit API token (api-…).
	Token *Secret `yaml:"token"`
	// SecurityProjects are project PHIDs or tags (slugs) that mark security
	// tasks; tasks tagged with any of them are never commented on. Tasks the
	// bot cannot see, tasks of the "security" subtype and tasks whose view
	// policy is not public are never commented on either.
	SecurityProjects []string `yaml:"security_projects"`
}

// Allow rules besides person names.
const (
	SALAllowIdentified = "identified"
	SALAllowRolePrefix = "role:"
)

// SALProjectByName finds a project by name.
func (s *SAL) SALProjectByName(name string) *SALProject {
	for i := range s.Projects {
		if s.Projects[i].Name == name {
			return &s.Projects[i]
		}
	}
	return nil
}

// PhabricatorEnabled reports whether entries of p comment on tasks.
func (s *SAL) PhabricatorEnabled(p *SALProject) bool {
	return s.Phabricator != nil && (p.Phabricator == nil || *p.Phabricator)
}

var salProjectName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

func (s *SAL) applyDefaults() {
	for i := range s.Projects {
		if len(s.Projects[i].Allow) == 0 {
			s.Projects[i].Allow = []string{SALAllowRolePrefix + RoleDeployer, SALAllowRolePrefix + RoleLogger}
		}
	}
}

func (s *SAL) validate(v *validator, p string, c *Config) {
	names := map[string]bool{}
	rooms := map[string]string{}
	for i := range s.Projects {
		pp := &s.Projects[i]
		path := fmt.Sprintf("%s.projects[%d]", p, i)
		if !salProjectName.MatchString(pp.Name) {
			v.add(path+".name", "%q is not a usable project name: use lower-case letters, digits, '-', '_' and '.', like \"production\"", pp.Name)
		}
		if names[pp.Name] {
			v.add(path+".name", "project %q is listed twice; names must be unique", pp.Name)
		}
		names[pp.Name] = true
		for j, r := range pp.Rooms {
			rp := fmt.Sprintf("%s.rooms[%d]", path, j)
			if msg := checkNetworkRef(c, r, "network/#channel or network/!room:server"); msg != "" {
				v.add(rp, "%s", msg)
				continue
			}
			if msg := checkMatrixAlias(c, r); msg != "" {
				v.add(rp, "%s", msg)
				continue
			}
			key := strings.ToLower(r)
			if other, ok := rooms[key]; ok {
				v.add(rp, "%s already logs to project %q; a room feeds exactly one project", r, other)
			}
			rooms[key] = pp.Name
		}
		for j, a := range pp.Allow {
			ap := fmt.Sprintf("%s.allow[%d]", path, j)
			switch {
			case a == SALAllowIdentified:
			case strings.HasPrefix(a, SALAllowRolePrefix):
				if r := strings.TrimPrefix(a, SALAllowRolePrefix); !slices.Contains(knownRoles, r) {
					v.add(ap, "unknown role %q; expected one of %s", r, strings.Join(knownRoles, ", "))
				}
			case c.PersonByName(a) == nil:
				v.add(ap, "%q is not a person in the people list; use a person's name, \"role:<role>\" or \"identified\"", a)
			}
		}
		if w := pp.Wiki; w != nil {
			if msg := checkHTTPURL(w.API); msg != "" {
				v.add(path+".wiki.api", "%s, like https://wiki.example.org/w/api.php", msg)
			}
			if strings.TrimSpace(w.Page) == "" {
				v.add(path+".wiki.page", "the wiki page title is missing, e.g. \"Server Admin Log\"")
			}
			if w.Username == "" || !strings.Contains(w.Username, "@") {
				v.add(path+".wiki.username", "expected a bot-password login like \"DeployBot@sal\" (see Special:BotPasswords)")
			}
			if !w.Password.IsSet() {
				v.add(path+".wiki.password", "the bot password is missing; give file: or env:")
			}
		}
	}
	for i, r := range s.Relays {
		if msg := checkNetworkRef(c, r, "network/account"); msg != "" {
			v.add(fmt.Sprintf("%s.relays[%d]", p, i), "%s", msg)
		}
	}
	if w := s.Links.Wiki; w != "" {
		if msg := checkLinkPattern(w); msg != "" {
			v.add(p+".links.wiki", "%s", msg)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.Links.Interwiki)) {
		kp := p + ".links.interwiki." + k
		if !interwikiPrefix.MatchString(k) {
			v.add(kp, "%q is not a usable interwiki prefix: use lower-case letters, digits, '-', '_' and '.'", k)
		}
		if msg := checkLinkPattern(s.Links.Interwiki[k]); msg != "" {
			v.add(kp, "%s", msg)
		}
	}
	if ph := s.Phabricator; ph != nil {
		if msg := checkHTTPURL(ph.URL); msg != "" {
			v.add(p+".phabricator.url", "%s, like https://phabricator.example.org", msg)
		}
		if !ph.Token.IsSet() {
			v.add(p+".phabricator.token", "the Conduit API token is missing; give file: or env:")
		}
	}
}

// checkMatrixAlias checks a "network/#alias:server" reference to a Matrix
// room: the bot learns an alias's room id only for the rooms it is told to
// join, so an alias anywhere else could never match a message.
func checkMatrixAlias(c *Config, ref string) string {
	network, room, _ := strings.Cut(ref, "/")
	n := c.NetworkByName(network)
	if n == nil || n.Type != "matrix" || !strings.HasPrefix(room, "#") {
		return ""
	}
	if !strings.Contains(room, ":") {
		return fmt.Sprintf("%q is not a full room alias; write it as #name:server", room)
	}
	for _, r := range n.Rooms {
		if r == room {
			return ""
		}
	}
	return fmt.Sprintf("%q names a room by an alias the bot does not join, so its messages could not be matched: add %q to the rooms of network %q, or give the room id (!…)", ref, room, network)
}

// checkNetworkRef checks a "network/name" reference and returns what is
// wrong with it, or "".
func checkNetworkRef(c *Config, ref, form string) string {
	network, name, ok := strings.Cut(ref, "/")
	if !ok || network == "" || name == "" {
		return fmt.Sprintf("%q should be %s", ref, form)
	}
	// With no networks at all (the built-in demo drops them), there is
	// nothing to check against.
	if network != "console" && len(c.Networks) > 0 && c.NetworkByName(network) == nil {
		return fmt.Sprintf("%q names network %q, which is not in the networks list", ref, network)
	}
	return ""
}

var interwikiPrefix = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// checkLinkPattern checks a link URL with $1 for the title.
func checkLinkPattern(s string) string {
	if !strings.Contains(s, "$1") {
		return fmt.Sprintf("%s has no $1 for the title, like https://wiki.example.org/wiki/$1", shownURL(s))
	}
	if msg := checkHTTPURL(strings.Replace(s, "$1", "x", 1)); msg != "" {
		return fmt.Sprintf("%s is not an http(s) URL with $1 for the title, like https://wiki.example.org/wiki/$1", shownURL(s))
	}
	// A title in the host would let a log line pick the site its link
	// goes to ([[w:evil.example/x]]).
	if u, err := url.Parse(s); err != nil || strings.Contains(u.Host, "$") {
		return fmt.Sprintf("%s puts the title in the host: put $1 in the path, like https://wiki.example.org/wiki/$1", shownURL(s))
	}
	return ""
}

func checkHTTPURL(s string) string {
	u, err := url.Parse(s)
	if s == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("%s is not an http(s) URL", shownURL(s))
	}
	return ""
}

func (s *SAL) secrets(p string) []namedSecret {
	var out []namedSecret
	for i := range s.Projects {
		if w := s.Projects[i].Wiki; w != nil && w.Password != nil {
			out = append(out, namedSecret{fmt.Sprintf("%s.projects[%d].wiki.password", p, i), w.Password})
		}
	}
	if s.Phabricator != nil && s.Phabricator.Token != nil {
		out = append(out, namedSecret{p + ".phabricator.token", s.Phabricator.Token})
	}
	return out
}
