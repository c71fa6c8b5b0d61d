package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodBase = `bot:
  nick: jouncebot
people:
  - name: Amir
    irc_account: amir
    roles: [deployer]
windows:
  - name: UTC afternoon backport window
    kind: backport
    schedule: "0 6 * * 1-4"
    timezone: America/Los_Angeles
    duration: 1h
    max_patches: 6
    deployers: [Amir]
`

func TestExampleConfigIsValid(t *testing.T) {
	t.Setenv("JOUNCEBOT_IRC_PASSWORD", "irc-secret")
	t.Setenv("JOUNCEBOT_GERRIT_PASSWORD", "gerrit-secret")
	data, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The example names /etc/jouncebot/matrix-password; point it at a temp file.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "matrix-password"), []byte("mx-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.ReplaceAll(string(data), "/etc/jouncebot/matrix-password", filepath.Join(dir, "matrix-password")))
	cfg, err := Parse(data, "config.example.yaml", dir)
	if err != nil {
		t.Fatalf("config.example.yaml is not valid:\n%v", err)
	}
	if got := cfg.Networks[1].Password.Value(); got != "mx-secret" {
		t.Errorf("matrix password = %q; want the file's content without the newline", got)
	}
	if got := cfg.Networks[0].SASL.Password.Value(); got != "irc-secret" {
		t.Errorf("SASL password = %q; want it from the environment", got)
	}
	var kinds []string
	for _, w := range cfg.Windows {
		kinds = append(kinds, w.Kind)
	}
	for _, k := range []string{"backport", "train", "puppet"} {
		if !strings.Contains(strings.Join(kinds, " "), k) {
			t.Errorf("example has no %s window", k)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error
	}{
		{"empty file", "", []string{"test.yaml: the file is empty"}},
		{"malformed YAML", "bot:\n  nick: [unclosed\n", []string{"test.yaml:", "malformed YAML"}},
		{"unknown key", goodBase + "  - name: x\n    schedul: \"0 6 * * *\"\n", []string{"test.yaml:16: windows[1].schedul: unknown key in window section"}},
		{"unknown top-level key", "bots:\n  nick: x\n", []string{"test.yaml:1: bots: unknown key in config section"}},
		{"wrong type", strings.Replace(goodBase, "max_patches: 6", "max_patches: six", 1), []string{"test.yaml:13:", "wrong type: got a string", "expected a whole number"}},
		{"bad duration", strings.Replace(goodBase, "duration: 1h", "duration: an hour", 1), []string{"test.yaml:12:", "expected a duration like 1h or 90m"}},
		{"schedule never fires", strings.Replace(goodBase, `"0 6 * * 1-4"`, `"0 6 30 2 *"`, 1), []string{"test.yaml:10: windows[0].schedule:", "never fires"}},
		{"not a cron expression", strings.Replace(goodBase, `"0 6 * * 1-4"`, `"at six"`, 1), []string{"test.yaml:10: windows[0].schedule: not a cron expression"}},
		{"window longer than a week", strings.Replace(goodBase, "duration: 1h", "duration: 200h", 1), []string{"test.yaml:12: windows[0].duration: 200h0m0s is longer than a week"}},
		{"unknown time zone", strings.Replace(goodBase, "America/Los_Angeles", "America/San_Francisco", 1), []string{"test.yaml:11: windows[0].timezone: unknown time zone \"America/San_Francisco\""}},
		{"unknown deployer", strings.Replace(goodBase, "deployers: [Amir]", "deployers: [Amir, Bob]", 1), []string{"test.yaml:14: windows[0].deployers[1]: \"Bob\" is not in the people list"}},
		{"unknown role", strings.Replace(goodBase, "roles: [deployer]", "roles: [deployr]", 1), []string{"test.yaml:6: people[0].roles[0]: unknown role \"deployr\""}},
		{"person without account", strings.Replace(goodBase, "    irc_account: amir\n", "", 1), []string{"people[0]: Amir needs irc_account or matrix_id"}},
		{"missing secret file", goodBase + "networks:\n  - name: libera\n    type: irc\n    server: irc.example.org:6697\n    channels: [{name: \"#ops\"}]\n    sasl: {username: bot, password: {file: nope.txt}}\n",
			[]string{"test.yaml:20: networks[0].sasl.password: cannot read the secret file named in file: no such file or directory"}},
		{"secret from unset env", goodBase + "deploy:\n  gerrit:\n    password: {env: JOUNCEBOT_TEST_UNSET_VAR}\n",
			[]string{"test.yaml:17: deploy.gerrit.password: environment variable JOUNCEBOT_TEST_UNSET_VAR is not set"}},
		{"security room feeds the SAL", goodBase + "networks:\n  - {name: libera, type: irc, server: irc.example.org:6697, channels: [{name: \"#sec\"}]}\nsecurity: {rooms: [\"libera/#sec\"]}\nsal:\n  projects: [{name: production, rooms: [\"libera/#sec\"]}]\n",
			[]string{"sal.projects[0].rooms[0]: \"libera/#sec\" is a security room (security.rooms); the Server Admin Log is public"}},
		{"bad network", goodBase + "networks:\n  - name: x\n    type: xmpp\n", []string{"test.yaml:17: networks[0].type: expected \"irc\" or \"matrix\", got \"xmpp\""}},
		{"bad channel", goodBase + "networks:\n  - name: x\n    type: irc\n    server: irc.example.org\n    channels: [{name: ops}]\n",
			[]string{"networks[0].server: expected host:port", "networks[0].channels[0].name: channel names start with #"}},
		{"freeze backwards", goodBase + "freezes:\n  - from: 2026-12-20T00:00:00Z\n    to: 2026-12-19T00:00:00Z\n    reason: x\n", []string{"test.yaml:17: freezes[0].to: must be after from"}},
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

func TestSecretsNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pw"), []byte("hunter2hunter2"), 0o600)
	cfg, err := Parse([]byte(goodBase+"deploy:\n  gerrit:\n    password: {file: pw}\n"), "test.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Deploy.Gerrit.Password
	if s.Value() != "hunter2hunter2" {
		t.Fatalf("secret not read")
	}
	for _, out := range []string{s.String(), s.LogValue().String(), fmtAll(cfg.Deploy)} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret printed: %s", out)
		}
	}
}

func fmtAll(v any) string { return strings.TrimSpace(strings.ReplaceAll(sprint(v), "\n", " ")) }

func TestDefaults(t *testing.T) {
	cfg, err := Parse([]byte(goodBase), "test.yaml", "/srv/jb")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Bot.DataDir != "/srv/jb/data" {
		t.Errorf("data dir = %q; want it relative to the config file", cfg.Bot.DataDir)
	}
	if cfg.Calendar.Refresh != 15*time.Minute || *cfg.Calendar.Reminder != 10*time.Minute || *cfg.Calendar.Readiness != 10*time.Minute || cfg.Deploy.MergeTimeout != 30*time.Minute {
		t.Errorf("defaults not applied: %+v %+v", cfg.Calendar, cfg.Deploy)
	}
	if cfg.Windows[0].Location.String() != "America/Los_Angeles" {
		t.Errorf("location = %v", cfg.Windows[0].Location)
	}
}

// A secret written inline, in any shape, never appears in an error; the
// error still names the file, the line and the key.
func TestInlineSecretsNeverEchoed(t *testing.T) {
	const secret = "hunter2longsecretvalue"
	gerrit := func(v string) string {
		return goodBase + "deploy:\n  gerrit:\n    url: https://gerrit.example.org\n    username: bot\n    password: " + v + "\n"
	}
	tests := []struct{ name, yaml string }{
		{"a string", gerrit(secret)},
		{"a short string", gerrit("hunter2")},
		{"a quoted string", gerrit(`"` + secret + `"`)},
		{"a number", gerrit("12345678901234")},
		{"a list", gerrit("[" + secret + "]")},
		{"a mapping key", gerrit("{" + secret + ": x}")},
		{"a value of an unknown key", gerrit("{value: " + secret + "}")},
		{"a string on the next line", goodBase + "deploy:\n  gerrit:\n    url: https://gerrit.example.org\n    username: bot\n    password:\n      " + secret + "\n"},
		{"in env", gerrit("{env: " + secret + "}")},
		{"in env with spaces", gerrit("{env: hunter2 " + secret + "}")},
		{"in file", gerrit("{file: " + secret + "}")},
		{"a channel key", goodBase + "networks:\n  - name: x\n    type: irc\n    server: irc.example.org:6697\n    channels: [{name: \"#ops\", key: " + secret + "}]\n"},
		{"a block string", gerrit("|\n      " + secret)},
		{"in a malformed URL", goodBase + "deploy:\n  gerrit:\n    url: \"https://bot:" + secret + "@gerrit example.org\"\n    username: bot\n    password: {env: X}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "test.yaml", t.TempDir())
			if err == nil {
				t.Fatal("Parse succeeded; want an error")
			}
			for _, bad := range []string{"hunter2", "1234567", secret[:7]} {
				if strings.Contains(err.Error(), bad) {
					t.Errorf("error shows the secret: %v", err)
				}
			}
			if !strings.Contains(err.Error(), "test.yaml:") || !strings.Contains(err.Error(), "password") && !strings.Contains(err.Error(), "key") {
				t.Errorf("error does not name the file, line and key: %v", err)
			}
		})
	}
}

// Every error names the file, the line and the key, wrong types included.
func TestErrorsNameTheKey(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"wrong type in a window", strings.Replace(goodBase, "max_patches: 6", "max_patches: six", 1), "test.yaml:13: windows[0].max_patches: wrong type: got a string, expected a whole number"},
		{"wrong type at the top", "bot: [a, b]\n", "test.yaml:1: bot: wrong type: got a list, expected a mapping (bot)"},
		{"wrong type in a list", goodBase + "freezes:\n  - hello\n", "test.yaml:16: freezes[0]: wrong type: got a string, expected a mapping (freeze)"},
		{"bad duration", strings.Replace(goodBase, "duration: 1h", "duration: an hour", 1), "test.yaml:12: windows[0].duration: wrong type: got a string, expected a duration like 1h or 90m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "test.yaml", t.TempDir())
			if err == nil || err.Error() != tt.want {
				t.Errorf("error:\n%v\nwant:\n%s", err, tt.want)
			}
		})
	}
}

// bot.http is a host:port with a port in range.
func TestHTTPAddress(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"127.0.0.1:8080", ""},
		{":8080", ""},
		{"[::1]:8080", ""},
		{"127.0.0.1:0", ""},
		{"127.0.0.1:99999", `test.yaml:2: bot.http: port 99999 is out of range; give a port from 1 to 65535`},
		{"127.0.0.1", `test.yaml:2: bot.http: expected host:port like 127.0.0.1:8080, got "127.0.0.1"`},
		{"127.0.0.1:http", `test.yaml:2: bot.http: port "http" is not a number; give a port from 1 to 65535`},
		{"http://127.0.0.1:8080", `test.yaml:2: bot.http: expected host:port like 127.0.0.1:8080, got "http://127.0.0.1:8080"`},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			_, err := Parse([]byte("bot:\n  http: \""+tt.addr+"\"\n"), "test.yaml", t.TempDir())
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("error %q, want %q", got, tt.want)
			}
		})
	}
}

// The deploy sandbox runs only when asked for, and never next to a Gerrit.
func TestDeploySandboxIsExplicit(t *testing.T) {
	cfg, err := Parse([]byte(goodBase), "test.yaml", t.TempDir())
	if err != nil || cfg.Deploy.Sandbox {
		t.Errorf("without deploy: sandbox %v, err %v; want no sandbox", cfg != nil && cfg.Deploy.Sandbox, err)
	}
	cfg, err = Parse([]byte(goodBase+"deploy:\n  sandbox: true\n"), "test.yaml", t.TempDir())
	if err != nil || !cfg.Deploy.Sandbox {
		t.Errorf("deploy.sandbox: true: sandbox %v, err %v", cfg != nil && cfg.Deploy.Sandbox, err)
	}
	_, err = Parse([]byte(goodBase+"deploy:\n  sandbox: true\n  gerrit: {url: https://gerrit.example.org}\n"), "test.yaml", t.TempDir())
	if want := "test.yaml:16: deploy.sandbox: the sandbox runs its own fake Gerrit; remove deploy.gerrit or the sandbox"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}
