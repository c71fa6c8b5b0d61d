package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// secretKeys are the keys whose values are secrets.
var secretKeys = map[string]bool{"password": true, "key": true, "token": true, "access_token": true,
	"nickserv_password": true, "server_password": true, "rsync_password": true}

// secretLike is a value that could only be in an error by being echoed.
var secretLike = regexp.MustCompile(`^[a-z0-9]{8,}$`)

// inlineSecrets returns the values written under secret keys (keys and
// values, at any depth) that look like secrets and appear once in data.
func inlineSecrets(data []byte) []string {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return nil
	}
	var out []string
	var walk func(n *yaml.Node, under bool)
	walk = func(n *yaml.Node, under bool) {
		if n == nil {
			return
		}
		if under && n.Kind == yaml.ScalarNode && secretLike.MatchString(n.Value) && strings.ContainsAny(n.Value, "0123456789") &&
			strings.IndexFunc(n.Value, func(r rune) bool { return r >= 'a' && r <= 'z' }) >= 0 && bytes.Count(data, []byte(n.Value)) == 1 {
			out = append(out, n.Value)
		}
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i], under)
				walk(n.Content[i+1], under || secretKeys[n.Content[i].Value])
			}
			return
		}
		for _, c := range n.Content {
			walk(c, under)
		}
	}
	walk(&root, false)
	return out
}

// FuzzLoad feeds any text to the configuration loader: it never panics,
// every error names the file, and no error shows a value written under a
// secret key.
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(goodBase))
	for _, v := range []string{"hunter2abc", "[hunter2abc]", "{hunter2abc: x}", "{env: hunter2abc}", "{file: hunter2abc}", "\n      hunter2abc", "{value: hunter2abc}"} {
		f.Add([]byte(goodBase + "deploy:\n  gerrit:\n    url: https://gerrit.example.org\n    username: bot\n    password: " + v + "\n"))
	}
	f.Add([]byte(goodBase + "networks:\n  - name: x\n    type: irc\n    server: irc.example.org:6697\n    channels: [{name: \"#ops\", key: s3cretkey9}]\n"))
	f.Add([]byte("bot: {http: \"127.0.0.1:99999\", base_url: \"https://u:p4ssword1@x\"}\n"))
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("filesecret1\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse(data, "fuzz.yaml", dir)
		if err == nil {
			return
		}
		var one *Error
		var many Errors
		if !errors.As(err, &one) && !errors.As(err, &many) {
			t.Fatalf("error of type %T: %v", err, err)
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(line, "fuzz.yaml") {
				t.Errorf("error line does not name the file: %q", line)
			}
		}
		for _, s := range inlineSecrets(data) {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error shows %q, written under a secret key:\n%v", s, err)
			}
		}
	})
}
