package config

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// Network is one chat network: IRC or Matrix.
type Network struct {
	// Name identifies the network in logs, chat and the people list.
	Name string `yaml:"name"`
	// Type is "irc" or "matrix".
	Type string `yaml:"type"`

	// IRC settings.
	Server         string        `yaml:"server"` // host:port
	TLS            bool          `yaml:"tls"`
	CAFile         string        `yaml:"ca_file"`
	ServerPassword *Secret       `yaml:"server_password"`
	Nick           string        `yaml:"nick"`
	User           string        `yaml:"user"`
	RealName       string        `yaml:"realname"`
	SASL           *SASL         `yaml:"sasl"`
	NickServ       *Secret       `yaml:"nickserv_password"` // for GHOST/REGAIN
	Channels       []Channel     `yaml:"channels"`
	Formatting     *bool         `yaml:"formatting"` // bold etc.; default true
	Ignore         []string      `yaml:"ignore"`     // nicks of bots and relays to ignore
	PingTimeout    time.Duration `yaml:"ping_timeout"`
	// Pace is how fast the bot may send lines: Burst at once, then Rate
	// a second. The default (5, then 1 a second) is safe on every common
	// network; raise it where the network allows more (a registered bot).
	Pace *Pace `yaml:"pace"`

	// Matrix settings.
	Homeserver  string   `yaml:"homeserver"`
	UserID      string   `yaml:"user_id"`
	Password    *Secret  `yaml:"password"`
	AccessToken *Secret  `yaml:"access_token"`
	Rooms       []string `yaml:"rooms"`
	// BridgePuppets are prefixes of user ids that an IRC bridge puppets
	// (default "@irc_"). The homeserver vouches only that the bridge sent
	// such a message, not who typed it, so puppets are not identified.
	BridgePuppets []string `yaml:"bridge_puppets"`
	// TrustBridgePuppets treats ids matching this prefix (e.g. "@irc_") as
	// identified. Empty means bridge puppets are never identified.
	TrustBridgePuppets string `yaml:"trust_bridge_puppets"`
	// CatchUp makes the bot act on commands sent while it was down.
	CatchUp bool `yaml:"catch_up"`
	// Encryption asks for end-to-end encrypted rooms, which jouncebot does
	// not support: true is refused, naming the key.
	Encryption bool `yaml:"encryption"`
}

// SASL configures IRC SASL login.
type SASL struct {
	Mechanism string  `yaml:"mechanism"` // PLAIN or EXTERNAL
	Username  string  `yaml:"username"`
	Password  *Secret `yaml:"password"`
	CertFile  string  `yaml:"cert_file"`
	KeyFile   string  `yaml:"key_file"`
}

// Pace limits the lines the bot sends on an IRC network.
type Pace struct {
	Burst int     `yaml:"burst"` // lines sent at once
	Rate  float64 `yaml:"rate"`  // lines a second after the burst
}

// Default IRC pace: five lines at once, then one a second.
const (
	DefaultPaceBurst = 5
	DefaultPaceRate  = 1.0
)

// Channel is an IRC channel to join.
type Channel struct {
	Name string  `yaml:"name"`
	Key  *Secret `yaml:"key"`
}

// FormattingEnabled reports whether bold and similar codes may be used.
func (n *Network) FormattingEnabled() bool { return n.Formatting == nil || *n.Formatting }

func (n *Network) applyDefaults(botNick string) {
	if n.Type == "irc" {
		if n.Nick == "" {
			n.Nick = botNick
		}
		if n.User == "" {
			n.User = n.Nick
		}
		if n.RealName == "" {
			n.RealName = "jouncebot deployment bot"
		}
		if n.PingTimeout == 0 {
			n.PingTimeout = 3 * time.Minute
		}
		if n.Pace == nil {
			n.Pace = &Pace{}
		}
		if n.Pace.Burst == 0 {
			n.Pace.Burst = DefaultPaceBurst
		}
		if n.Pace.Rate == 0 {
			n.Pace.Rate = DefaultPaceRate
		}
		if n.SASL != nil {
			n.SASL.Mechanism = strings.ToUpper(n.SASL.Mechanism)
			if n.SASL.Mechanism == "" {
				n.SASL.Mechanism = "PLAIN"
			}
		}
	}
	if n.Type == "matrix" && n.BridgePuppets == nil {
		n.BridgePuppets = []string{"@irc_"}
	}
}

func (n *Network) validate(v *validator, p string) {
	if n.Name == "" {
		v.add(p+".name", "every network needs a name")
	}
	if n.Name == "console" {
		v.add(p+".name", `"console" is reserved for the local console`)
	}
	switch n.Type {
	case "irc":
		if _, _, err := net.SplitHostPort(n.Server); err != nil {
			v.add(p+".server", "expected host:port, e.g. irc.libera.chat:6697, got %s", shownURL(n.Server))
		}
		if len(n.Channels) == 0 {
			v.add(p+".channels", "an IRC network needs at least one channel")
		}
		for i, c := range n.Channels {
			if !strings.HasPrefix(c.Name, "#") && !strings.HasPrefix(c.Name, "&") {
				v.add(fmt.Sprintf("%s.channels[%d].name", p, i), "channel names start with #, got %q", c.Name)
			}
		}
		if pc := n.Pace; pc != nil {
			if pc.Burst < 1 || pc.Burst > 100 {
				v.add(p+".pace.burst", "expected a number of lines from 1 to 100, got %d", pc.Burst)
			}
			if pc.Rate <= 0 || pc.Rate > 100 {
				v.add(p+".pace.rate", "expected lines a second, more than 0 and at most 100 (e.g. 1 or 0.5), got %g", pc.Rate)
			}
		}
		if s := n.SASL; s != nil {
			switch s.Mechanism {
			case "PLAIN":
				if s.Username == "" || !s.Password.IsSet() {
					v.add(p+".sasl", "SASL PLAIN needs username and password (file: or env:)")
				}
			case "EXTERNAL":
				if s.CertFile == "" || s.KeyFile == "" {
					v.add(p+".sasl", "SASL EXTERNAL needs cert_file and key_file")
				}
			default:
				v.add(p+".sasl.mechanism", "expected PLAIN or EXTERNAL, got %q", s.Mechanism)
			}
		}
	case "matrix":
		if !strings.HasPrefix(n.Homeserver, "http://") && !strings.HasPrefix(n.Homeserver, "https://") {
			v.add(p+".homeserver", "expected a URL like https://matrix.example.org, got %s", shownURL(n.Homeserver))
		}
		if !strings.HasPrefix(n.UserID, "@") || !strings.Contains(n.UserID, ":") {
			v.add(p+".user_id", "expected a Matrix user id like @jouncebot:example.org, got %q", n.UserID)
		}
		if !n.Password.IsSet() && !n.AccessToken.IsSet() {
			v.add(p, "a Matrix network needs password or access_token (file: or env:)")
		}
		if n.Encryption {
			v.add(p+".encryption", "encrypted rooms are not supported; remove encryption: true and use unencrypted rooms")
		}
		for i, r := range n.Rooms {
			switch {
			case !strings.HasPrefix(r, "!") && !strings.HasPrefix(r, "#"):
				v.add(fmt.Sprintf("%s.rooms[%d]", p, i), "expected a room id (!…) or alias (#…), got %q", r)
			case strings.HasPrefix(r, "#") && !strings.Contains(r, ":"):
				v.add(fmt.Sprintf("%s.rooms[%d]", p, i), "%q is not a full room alias; write it as #name:server", r)
			}
		}
		for i, b := range n.BridgePuppets {
			if !strings.HasPrefix(b, "@") {
				v.add(fmt.Sprintf("%s.bridge_puppets[%d]", p, i), "expected the start of a Matrix user id like \"@irc_\", got %q", b)
			}
		}
		if t := n.TrustBridgePuppets; t != "" && !strings.HasPrefix(t, "@") {
			v.add(p+".trust_bridge_puppets", "expected the start of a Matrix user id like \"@irc_\", got %q", t)
		}
	default:
		v.add(p+".type", `expected "irc" or "matrix", got %q`, n.Type)
	}
}

func (n *Network) secrets(p string) []namedSecret {
	out := []namedSecret{
		{p + ".server_password", n.ServerPassword},
		{p + ".nickserv_password", n.NickServ},
		{p + ".password", n.Password},
		{p + ".access_token", n.AccessToken},
	}
	if n.SASL != nil {
		out = append(out, namedSecret{p + ".sasl.password", n.SASL.Password})
	}
	for i := range n.Channels {
		out = append(out, namedSecret{fmt.Sprintf("%s.channels[%d].key", p, i), n.Channels[i].Key})
	}
	return out
}
