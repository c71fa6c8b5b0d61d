package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMatrixBridgePuppets(t *testing.T) {
	network := func(extra string) string {
		return goodBase + `networks:
  - name: matrix
    type: matrix
    homeserver: https://matrix.example.org
    user_id: "@jouncebot:example.org"
    access_token: {env: JOUNCEBOT_TEST_MX_TOKEN}
` + extra
	}
	tests := []struct {
		name    string
		extra   string
		puppets []string
		err     string
	}{
		{"default", "", []string{"@irc_"}, ""},
		{"configured", "    bridge_puppets: [\"@libera_\", \"@_oftc_\"]\n", []string{"@libera_", "@_oftc_"}, ""},
		{"none", "    bridge_puppets: []\n", []string{}, ""},
		{"bad prefix", "    bridge_puppets: [irc_]\n", nil, `networks[0].bridge_puppets[0]: expected the start of a Matrix user id like "@irc_", got "irc_"`},
		{"bad trust", "    trust_bridge_puppets: irc_\n", nil, `networks[0].trust_bridge_puppets: expected the start of a Matrix user id like "@irc_", got "irc_"`},
	}
	t.Setenv("JOUNCEBOT_TEST_MX_TOKEN", "token")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(network(tt.extra)), "j.yaml", t.TempDir())
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.puppets, cfg.Networks[0].BridgePuppets); diff != "" {
				t.Errorf("bridge_puppets (-want +got):\n%s", diff)
			}
		})
	}
}
