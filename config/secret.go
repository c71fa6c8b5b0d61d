package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Secret is a password or token, read from a file or an environment
// variable, never written inline. It never prints its value: String and
// LogValue both give "[redacted]".
type Secret struct {
	// File is a path to a file holding the secret (trailing newline ignored).
	File string `yaml:"file"`
	// Env is the name of an environment variable holding the secret.
	Env string `yaml:"env"`

	value string
}

// IsSet reports whether the secret is configured.
func (s *Secret) IsSet() bool { return s != nil && (s.File != "" || s.Env != "") }

// Value returns the secret. It is empty when the secret is not configured.
func (s *Secret) Value() string {
	if s == nil {
		return ""
	}
	return s.value
}

// String hides the value.
func (s Secret) String() string { return "[redacted]" }

// LogValue hides the value from slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// NewSecret returns a Secret holding v, for tests and embedded defaults.
func NewSecret(v string) Secret { return Secret{value: v, Env: "(inline)"} }

// envName is how environment variables are named by convention. Only a
// name like this is shown in errors: anything else may be the secret.
var envName = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

func (s *Secret) resolve(dir string) error {
	if s == nil || !s.IsSet() || s.Env == "(inline)" {
		return nil
	}
	switch {
	case s.File != "" && s.Env != "":
		return errors.New("give either file or env, not both")
	case s.File != "":
		p := s.File
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		// The path is not shown: it may be the secret, written in the
		// wrong place.
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("cannot read the secret file named in file: %s; create it or fix the path (a relative path is read from the configuration file's directory)", errText(err))
		}
		s.value = strings.TrimRight(string(b), "\r\n")
		if s.value == "" {
			return errors.New("the secret file named in file: is empty")
		}
	default:
		if !envName.MatchString(s.Env) {
			return errors.New("env: must be the name of an environment variable holding the secret (capitals, digits and _, like JOUNCEBOT_GERRIT_PASSWORD), never the secret itself")
		}
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return fmt.Errorf("environment variable %s is not set; set it to the secret or use file: instead", s.Env)
		}
		s.value = v
	}
	return nil
}

// shownURL quotes a URL (or address) for an error, unless it may hold a
// password ("https://user:secret@host"): then only that it is not shown.
func shownURL(s string) string {
	if strings.Contains(s, "@") {
		return "a URL with a user name or password in it (not shown)"
	}
	return strconv.Quote(s)
}
