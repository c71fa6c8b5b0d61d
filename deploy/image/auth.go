package image

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// fileKeychain gives the credentials of a docker-config-style file, by
// registry host, and anonymous access to registries it does not name.
// It never looks at ~/.docker or runs credential helpers: the file is the
// only source.
type fileKeychain map[string]authn.AuthConfig

func (k fileKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if c, ok := k[r.RegistryStr()]; ok {
		return authn.FromConfig(c), nil
	}
	return authn.Anonymous, nil
}

// authEntry is one registry of a docker config file's "auths".
type authEntry struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// readAuthFile reads a docker-config-style file ({"auths": {"host:port":
// {"auth": base64("user:password")}}}, or username and password). Its
// errors name the file and the registry, never a credential.
func readAuthFile(file string) (fileKeychain, error) {
	if file == "" {
		return fileKeychain{}, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("the registry auth file cannot be read: %w", err)
	}
	var c struct {
		Auths       map[string]authEntry `json:"auths"`
		CredsStore  string               `json:"credsStore"`
		CredHelpers map[string]string    `json:"credHelpers"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		// A syntax error names an offset, never the text.
		return nil, fmt.Errorf("the registry auth file %s is not a docker config (JSON with \"auths\"): %w", file, err)
	}
	if len(c.Auths) == 0 && (c.CredsStore != "" || len(c.CredHelpers) > 0) {
		return nil, fmt.Errorf("the registry auth file %s names credential helpers, which jouncebot does not run: put the credentials under \"auths\"", file)
	}
	k := fileKeychain{}
	for host, e := range c.Auths {
		reg := registryHost(host)
		ac := authn.AuthConfig{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken, RegistryToken: e.RegistryToken}
		if e.Auth != "" {
			dec, err := base64.StdEncoding.DecodeString(e.Auth)
			user, pass, ok := strings.Cut(string(dec), ":")
			if err != nil || !ok {
				return nil, fmt.Errorf("the registry auth file %s: the \"auth\" of %s is not base64 of user:password", file, host)
			}
			ac.Username, ac.Password = user, pass
		}
		if ac == (authn.AuthConfig{}) {
			return nil, fmt.Errorf("the registry auth file %s: the entry of %s has no credentials (auth, or username and password)", file, host)
		}
		k[reg] = ac
	}
	return k, nil
}

// registryHost is the registry a key of "auths" names: keys may be a
// host ("registry.example.org:5000") or a URL
// ("https://index.docker.io/v1/").
func registryHost(key string) string {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	key, _, _ = strings.Cut(key, "/")
	if key == "docker.io" || key == "registry-1.docker.io" {
		return "index.docker.io"
	}
	return key
}

// scrub returns err with every credential of the keychain (and the basic
// auth header made of them) blanked out of its text; it still unwraps to
// err.
func (k fileKeychain) scrub(err error) error {
	msg := err.Error()
	for _, c := range k {
		var secrets []string
		if c.Password != "" {
			secrets = append(secrets, base64.StdEncoding.EncodeToString([]byte(c.Username+":"+c.Password)), c.Password)
		}
		secrets = append(secrets, c.IdentityToken, c.RegistryToken)
		for _, s := range secrets {
			if s != "" {
				msg = strings.ReplaceAll(msg, s, "[redacted]")
			}
		}
	}
	if msg == err.Error() {
		return err
	}
	return &scrubbed{msg: msg, err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (s *scrubbed) Error() string { return s.msg }
func (s *scrubbed) Unwrap() error { return s.err }
