package matrix

import (
	"testing"

	"maunium.net/go/mautrix/id"
)

func TestAccount(t *testing.T) {
	tests := []struct {
		name    string
		puppets []string
		trust   string
		user    string
		want    string
	}{
		{"matrix user", []string{"@irc_"}, "", "@alice:example.org", "@alice:example.org"},
		{"puppet", []string{"@irc_"}, "", "@irc_alice:example.org", ""},
		{"trusted puppet", []string{"@irc_"}, "@irc_", "@irc_alice:example.org", "@irc_alice:example.org"},
		{"trusted prefix only", []string{"@irc_", "@_oftc_"}, "@irc_", "@_oftc_alice:oftc.net", ""},
		{"no puppet prefixes", nil, "", "@irc_alice:example.org", "@irc_alice:example.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &Transport{}
			tr.cfg.Network.BridgePuppets = tt.puppets
			tr.cfg.Network.TrustBridgePuppets = tt.trust
			if got := tr.account(id.UserID(tt.user)); got != tt.want {
				t.Errorf("account(%s) = %q, want %q", tt.user, got, tt.want)
			}
		})
	}
}
