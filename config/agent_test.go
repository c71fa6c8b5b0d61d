package config

import (
	"strings"
	"testing"
	"time"
)

const agentLink = "agents:\n  - name: eqiad\n    address: deploy1001.example.org:8443\n    ca: ca.pem\n    cert: bot.pem\n    key: bot-key.pem\n"

// The agent sections are checked like every other: what is missing or
// wrong is named with its key.
func TestAgentSectionErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"agent without TLS files", goodBase + "agent:\n  listen: 127.0.0.1:8443\n",
			[]string{"agent.ca: is required: the agent speaks only mutual TLS", "agent.cert: is required", "agent.key: is required"}},
		{"agent listen not host:port", goodBase + "agent:\n  listen: everywhere\n  ca: a\n  cert: b\n  key: c\n", []string{"agent.listen: expected host:port"}},
		{"agent console person unknown", goodBase + "agent:\n  listen: :8443\n  ca: a\n  cert: b\n  key: c\n  console_person: Bob\n", []string{"agent.console_person: \"Bob\" is not a person"}},
		{"agent network without a type", goodBase + "agent:\n  listen: :8443\n  ca: a\n  cert: b\n  key: c\n  networks:\n    - {name: libera}\n    - {name: libera, type: irc}\n",
			[]string{`agent.networks[0].type: expected irc or matrix, got ""`, `agent.networks[1].name: each network needs a unique name, got "libera"`}},
		{"agent keeps events too briefly", goodBase + "agent:\n  listen: :8443\n  ca: a\n  cert: b\n  key: c\n  keep_events: 10m\n",
			[]string{"agent.keep_events: keep events at least an hour"}},
		{"link without TLS files", goodBase + "agents:\n  - name: eqiad\n    address: deploy1001:8443\n", []string{"agents[0].ca: is required", "agents[0].cert: is required", "agents[0].key: is required"}},
		{"two agents", goodBase + agentLink + strings.Replace(strings.TrimPrefix(agentLink, "agents:\n"), "eqiad", "codfw", 1), []string{"agents: one agent is supported for now, got 2"}},
		{"gerrit password beside agents", goodBase + agentLink + "deploy:\n  gerrit:\n    url: https://gerrit.example.org/r/\n    username: bot\n    password: {env: X}\n",
			[]string{"deploy.gerrit.password: the Gerrit password belongs in the deploy agent's configuration, not the chat bot's"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "test.yaml", t.TempDir())
			if err == nil {
				t.Fatal("Parse succeeded; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// With an agent named, the chat side may keep a Gerrit URL without
// credentials (read anonymously), and relative certificate paths are
// resolved against the file's directory.
func TestAgentLinkWithReadOnlyGerrit(t *testing.T) {
	dir := t.TempDir()
	c, err := Parse([]byte(goodBase+agentLink+"deploy:\n  gerrit:\n    url: https://gerrit.example.org/r/\n"), "test.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Agents[0].CA; got != dir+"/ca.pem" {
		t.Errorf("agents[0].ca = %q, want it under %s", got, dir)
	}
}

// The agent pins the client certificate's name and keeps events for 30
// days unless told otherwise.
func TestAgentDefaults(t *testing.T) {
	c, err := Parse([]byte(goodBase+"agent:\n  listen: :8443\n  ca: a\n  cert: b\n  key: c\n"), "agent.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if c.Agent.ClientName != "chatbot" || c.Agent.KeepEvents != 30*24*time.Hour {
		t.Errorf("client_name %q, keep_events %s; want chatbot, 720h", c.Agent.ClientName, c.Agent.KeepEvents)
	}
}

// IRC accounts match without ASCII case only, as services compare them.
func TestPersonByIRCAccountFolding(t *testing.T) {
	c := &Config{People: []Person{{Name: "Sam", IRCAccount: "sam"}, {Name: "Jürgen", IRCAccount: "Jürgen"}}}
	for _, tc := range []struct {
		account, want string
	}{
		{"sam", "Sam"}, {"SAM", "Sam"}, {"ſam", ""}, {"sam ", ""}, {"jürgen", "Jürgen"}, {"JÜRGEN", ""}, {"", ""},
	} {
		got := ""
		if p := c.PersonByIRCAccount(tc.account); p != nil {
			got = p.Name
		}
		if got != tc.want {
			t.Errorf("PersonByIRCAccount(%q) = %q, want %q", tc.account, got, tc.want)
		}
	}
}
