package config

import (
	"fmt"
	"slices"
	"strings"
)

// Roles a person can have.
const (
	RoleDeployer = "deployer" // may claim windows, deploy, freeze
	RoleOwner    = "owner"    // patch owner: may queue patches
	RoleLogger   = "logger"   // may !log where the SAL requires a role
	RoleAdmin    = "admin"    // may do anything
)

// Person is someone the bot knows, with the identities each network vouches
// for. Authorisation goes by these identities, never by nick.
type Person struct {
	Name string `yaml:"name"`
	// IRCAccount is the services (NickServ) account.
	IRCAccount string `yaml:"irc_account"`
	// IRCNick is the nick used to mention the person on IRC (defaults to
	// the account name).
	IRCNick  string   `yaml:"irc_nick"`
	MatrixID string   `yaml:"matrix_id"`
	Gerrit   string   `yaml:"gerrit"`
	Roles    []string `yaml:"roles"`
}

// Has reports whether p has the role (admins have every role).
func (p *Person) Has(role string) bool {
	return p != nil && (slices.Contains(p.Roles, role) || slices.Contains(p.Roles, RoleAdmin))
}

// Nick is the IRC nick to mention p by.
func (p *Person) Nick() string {
	if p.IRCNick != "" {
		return p.IRCNick
	}
	if p.IRCAccount != "" {
		return p.IRCAccount
	}
	return p.Name
}

var knownRoles = []string{RoleDeployer, RoleOwner, RoleLogger, RoleAdmin}

func (c *Config) validatePeople(v *validator) {
	names, accounts, mxids := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, p := range c.People {
		path := fmt.Sprintf("people[%d]", i)
		if p.Name == "" {
			v.add(path+".name", "every person needs a name")
		}
		if names[strings.ToLower(p.Name)] {
			v.add(path+".name", "%q is listed twice", p.Name)
		}
		names[strings.ToLower(p.Name)] = true
		if p.IRCAccount == "" && p.MatrixID == "" {
			v.add(path, "%s needs irc_account or matrix_id: people are recognised by account, never by nick", p.Name)
		}
		if a := strings.ToLower(p.IRCAccount); a != "" {
			if accounts[a] {
				v.add(path+".irc_account", "account %q belongs to two people", p.IRCAccount)
			}
			accounts[a] = true
		}
		if m := p.MatrixID; m != "" {
			if !strings.HasPrefix(m, "@") || !strings.Contains(m, ":") {
				v.add(path+".matrix_id", "expected a Matrix user id like @alice:example.org, got %q", m)
			}
			if mxids[m] {
				v.add(path+".matrix_id", "%q belongs to two people", m)
			}
			mxids[m] = true
		}
		for j, r := range p.Roles {
			if !c.HasRole(r) {
				v.add(fmt.Sprintf("%s.roles[%d]", path, j), "unknown role %q; expected one of %s, or one named under policy.roles", r, strings.Join(knownRoles, ", "))
			}
		}
	}
}

// PersonByName finds a person by name, case-insensitively.
func (c *Config) PersonByName(name string) *Person {
	for i := range c.People {
		if strings.EqualFold(c.People[i].Name, name) {
			return &c.People[i]
		}
	}
	return nil
}

// PersonByIRCAccount finds the person logged in to an IRC services account.
func (c *Config) PersonByIRCAccount(account string) *Person {
	if account == "" {
		return nil
	}
	for i := range c.People {
		if asciiEqualFold(c.People[i].IRCAccount, account) {
			return &c.People[i]
		}
	}
	return nil
}

// asciiEqualFold compares IRC account names as services do: ASCII letters
// without case, every other character exactly. strings.EqualFold would
// take "ſam" (long s) or "\u212Aim" (Kelvin sign) for sam and kim, another
// account on a server that allows such names.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// PersonByMatrixID finds the person with a Matrix user id.
func (c *Config) PersonByMatrixID(id string) *Person {
	if id == "" {
		return nil
	}
	for i := range c.People {
		if c.People[i].MatrixID == id {
			return &c.People[i]
		}
	}
	return nil
}

// PersonByGerrit finds the person with a Gerrit username.
func (c *Config) PersonByGerrit(user string) *Person {
	for i := range c.People {
		if user != "" && strings.EqualFold(c.People[i].Gerrit, user) {
			return &c.People[i]
		}
	}
	return nil
}

// NetworkByName finds a network by its name.
func (c *Config) NetworkByName(name string) *Network {
	for i := range c.Networks {
		if c.Networks[i].Name == name {
			return &c.Networks[i]
		}
	}
	return nil
}
