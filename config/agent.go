package config

import (
	"fmt"
	"net"
	"path/filepath"
	"time"
)

// AgentServer is the `agent:` section of the deploy agent's own
// configuration file (`jouncebot agent --config agent.yaml`): where it
// listens and how it recognises the chat bot. The agent reads the rest of
// the same file as usual: bot.data_dir for its database, people for its own
// check of who asked, deploy for Gerrit, staging and the sync stages.
type AgentServer struct {
	// Listen is the address the agent serves on (host:port).
	Listen string `yaml:"listen"`
	// CA is a PEM file of the authority client certificates must chain to.
	CA string `yaml:"ca"`
	// Cert and Key are the agent's own certificate and key (PEM).
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ClientName pins the client: its certificate must carry this DNS
	// name (or common name). It defaults to DefaultClientName, the name
	// scripts/agent-certs.sh gives the chat bot's certificate.
	ClientName string `yaml:"client_name"`
	// ConsolePerson is the person a request from the chat bot's console is
	// taken for; empty refuses console requests.
	ConsolePerson string `yaml:"console_person"`
	// Networks are the chat networks whose accounts the agent maps to its
	// own people: a request from an IRC account counts only when it comes
	// from a network listed here as type irc (the same for matrix). A
	// request from any other network is refused.
	Networks []AgentNetwork `yaml:"networks"`
	// KeepEvents is how long the agent keeps its events and the per-host
	// results of finished deploys (default 30 days).
	KeepEvents time.Duration `yaml:"keep_events"`
}

// AgentNetwork is a chat network the deploy agent takes identities from.
type AgentNetwork struct {
	// Name is the network's name in the chat bot's configuration.
	Name string `yaml:"name"`
	// Type is "irc" or "matrix".
	Type string `yaml:"type"`
}

// DefaultClientName is the client certificate name the agent accepts when
// agent.client_name is not set.
const DefaultClientName = "chatbot"

// DefaultKeepEvents is agent.keep_events when not set.
const DefaultKeepEvents = 30 * 24 * time.Hour

// AgentNetworkByName finds a network in agent.networks.
func (a *AgentServer) AgentNetworkByName(name string) *AgentNetwork {
	for i := range a.Networks {
		if a.Networks[i].Name == name {
			return &a.Networks[i]
		}
	}
	return nil
}

// AgentLink is one entry of the chat side's `agents:` list: how the chat
// bot reaches a deploy agent. One agent is used today; the list lets later
// versions name one per data centre and bind stages to them.
type AgentLink struct {
	// Name names the agent in logs and status ("eqiad").
	Name string `yaml:"name"`
	// Address is host:port of the agent.
	Address string `yaml:"address"`
	// CA is a PEM file of the authority the agent's certificate must chain to.
	CA string `yaml:"ca"`
	// Cert and Key are the chat bot's client certificate and key (PEM).
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ServerName is the name the agent's certificate must carry (default:
	// the host part of Address).
	ServerName string `yaml:"server_name"`
}

func (c *Config) resolve(p *string) {
	if *p != "" && !filepath.IsAbs(*p) && c.Dir != "" {
		*p = filepath.Join(c.Dir, *p)
	}
}

func (c *Config) validateAgents(v *validator) {
	if a := c.Agent; a != nil {
		if _, _, err := net.SplitHostPort(a.Listen); err != nil {
			v.add("agent.listen", "expected host:port, got %q", a.Listen)
		}
		for key, f := range map[string]*string{"ca": &a.CA, "cert": &a.Cert, "key": &a.Key} {
			if *f == "" {
				v.add("agent."+key, "is required: the agent speaks only mutual TLS")
			}
			c.resolve(f)
		}
		if a.ClientName == "" {
			a.ClientName = DefaultClientName
		}
		if a.KeepEvents == 0 {
			a.KeepEvents = DefaultKeepEvents
		}
		if a.KeepEvents < time.Hour {
			v.add("agent.keep_events", "keep events at least an hour (the chat bot may be down that long), got %s", a.KeepEvents)
		}
		seen := map[string]bool{}
		for i, n := range a.Networks {
			p := fmt.Sprintf("agent.networks[%d]", i)
			if n.Name == "" || seen[n.Name] {
				v.add(p+".name", "each network needs a unique name, got %q", n.Name)
			}
			seen[n.Name] = true
			if n.Type != "irc" && n.Type != "matrix" {
				v.add(p+".type", "expected irc or matrix, got %q", n.Type)
			}
		}
		if a.ConsolePerson != "" && c.PersonByName(a.ConsolePerson) == nil {
			v.add("agent.console_person", "%q is not a person in the people list", a.ConsolePerson)
		}
		if len(c.Agents) > 0 {
			v.add("agents", "a deploy agent's own file names no agents to talk to")
		}
	}
	names := map[string]bool{}
	for i := range c.Agents {
		l := &c.Agents[i]
		p := fmt.Sprintf("agents[%d]", i)
		if l.Name == "" || names[l.Name] {
			v.add(p+".name", "each agent needs a unique name, got %q", l.Name)
		}
		names[l.Name] = true
		if _, _, err := net.SplitHostPort(l.Address); err != nil {
			v.add(p+".address", "expected host:port, got %q", l.Address)
		}
		for key, f := range map[string]*string{"ca": &l.CA, "cert": &l.Cert, "key": &l.Key} {
			if *f == "" {
				v.add(p+"."+key, "is required: the chat bot talks to its agent only over mutual TLS")
			}
			c.resolve(f)
		}
	}
	if len(c.Agents) > 1 {
		v.add("agents", "one agent is supported for now, got %d", len(c.Agents))
	}
	if len(c.Agents) > 0 && c.Deploy.Gerrit.Password.IsSet() {
		v.add("deploy.gerrit.password", "the Gerrit password belongs in the deploy agent's configuration, not the chat bot's: with agents configured the chat side keeps no Gerrit secret (remove it here)")
	}
}
