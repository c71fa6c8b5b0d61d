package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const salBase = `people:
  - {name: Amir, irc_account: amir, roles: [logger]}
networks:
  - {name: libera, type: irc, server: "irc.example.org:6697", channels: [{name: "#ops"}]}
sal:
`

func TestSALErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"bad project name", "  projects:\n    - {name: Prod Uction}\n", []string{`test.yaml:7: sal.projects[0].name: "Prod Uction" is not a usable project name`}},
		{"duplicate project", "  projects:\n    - {name: a}\n    - {name: a}\n", []string{`sal.projects[1].name: project "a" is listed twice`}},
		{"room without network", "  projects:\n    - {name: a, rooms: [\"#ops\"]}\n", []string{`sal.projects[0].rooms[0]: "#ops" should be network/#channel or network/!room:server`}},
		{"unknown network", "  projects:\n    - {name: a, rooms: [\"oftc/#ops\"]}\n", []string{`"oftc/#ops" names network "oftc", which is not in the networks list`}},
		{"room in two projects", "  projects:\n    - {name: a, rooms: [\"libera/#ops\"]}\n    - {name: b, rooms: [\"libera/#OPS\"]}\n", []string{`sal.projects[1].rooms[0]: libera/#OPS already logs to project "a"`}},
		{"unknown person", "  projects:\n    - {name: a, allow: [Bob]}\n", []string{`sal.projects[0].allow[0]: "Bob" is not a person in the people list`}},
		{"unknown role", "  projects:\n    - {name: a, allow: [\"role:loger\"]}\n", []string{`sal.projects[0].allow[0]: unknown role "loger"`}},
		{"wiki incomplete", "  projects:\n    - name: a\n      wiki: {api: \"wiki.example.org\"}\n",
			[]string{`sal.projects[0].wiki.api: "wiki.example.org" is not an http(s) URL`, "sal.projects[0].wiki.page: the wiki page title is missing", "sal.projects[0].wiki.username: expected a bot-password login", "sal.projects[0].wiki.password: the bot password is missing"}},
		{"bad relay", "  relays: [wm-bot]\n", []string{`sal.relays[0]: "wm-bot" should be network/account`}},
		{"phabricator incomplete", "  phabricator: {url: \"ftp://x\"}\n", []string{`sal.phabricator.url: "ftp://x" is not an http(s) URL`, "sal.phabricator.token: the Conduit API token is missing"}},
		{"links without $1", "  links: {wiki: \"https://wiki.example.org/wiki/\"}\n", []string{`sal.links.wiki: "https://wiki.example.org/wiki/" has no $1 for the title`}},
		{"links not http", "  links: {interwiki: {x: \"javascript:$1\", Bad Prefix: \"https://x.org/$1\"}}\n",
			[]string{`sal.links.interwiki.x: "javascript:$1" is not an http(s) URL with $1`, `sal.links.interwiki.Bad Prefix: "Bad Prefix" is not a usable interwiki prefix`}},
		{"title in the host", "  links: {wiki: \"https://$1.example.org/\", interwiki: {t: \"https://x$1/\"}}\n",
			[]string{`sal.links.wiki: "https://$1.example.org/" puts the title in the host`, `sal.links.interwiki.t: "https://x$1/" puts the title in the host`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(salBase+tt.yaml), "test.yaml", t.TempDir())
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

func TestSALConfig(t *testing.T) {
	t.Setenv("SAL_TEST_SECRET", "s")
	cfg, err := Parse([]byte(salBase+`  relays: [libera/wm-bot]
  projects:
    - name: production
      rooms: ["libera/#ops", "console/console"]
      wiki: {api: "https://wiki.example.org/w/api.php", page: Server Admin Log, username: "Bot@sal", password: {env: SAL_TEST_SECRET}}
    - {name: releng, allow: [identified, Amir], phabricator: false}
  phabricator: {url: "https://phab.example.org", token: {env: SAL_TEST_SECRET}, security_projects: [security]}
`), "test.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"role:deployer", "role:logger"}, cfg.SAL.Projects[0].Allow); d != "" {
		t.Errorf("default allow (-want +got):\n%s", d)
	}
	if cfg.SAL.Projects[0].Wiki.Password.Value() != "s" || cfg.SAL.Phabricator.Token.Value() != "s" {
		t.Error("secrets not read")
	}
	if !cfg.SAL.PhabricatorEnabled(cfg.SAL.SALProjectByName("production")) || cfg.SAL.PhabricatorEnabled(cfg.SAL.SALProjectByName("releng")) {
		t.Error("phabricator: false is not honoured")
	}
}

// A SAL room given as a Matrix alias must be one the bot joins (only those
// aliases are resolved to the room ids messages carry) and a full alias.
func TestSALMatrixAliases(t *testing.T) {
	t.Setenv("SAL_TEST_MATRIX_TOKEN", "x")
	base := `networks:
  - name: mx
    type: matrix
    homeserver: https://matrix.example.org
    user_id: "@jouncebot:example.org"
    access_token: {env: SAL_TEST_MATRIX_TOKEN}
    rooms: ["#ops:example.org", "!abc:example.org"%s]
sal:
  projects:
    - {name: a, rooms: [%s]}
`
	tests := []struct {
		name, networkRooms, salRooms, want string
	}{
		{"joined alias", "", `"mx/#ops:example.org"`, ""},
		{"room id", "", `"mx/!other:example.org"`, ""},
		{"alias not joined", "", `"mx/#chat:example.org"`, `sal.projects[0].rooms[0]: "mx/#chat:example.org" names a room by an alias the bot does not join, so its messages could not be matched: add "#chat:example.org" to the rooms of network "mx", or give the room id`},
		{"alias without server", "", `"mx/#ops"`, `sal.projects[0].rooms[0]: "#ops" is not a full room alias; write it as #name:server`},
		{"network room alias without server", `, "#chat"`, `"mx/#ops:example.org"`, `networks[0].rooms[2]: "#chat" is not a full room alias; write it as #name:server`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(fmt.Sprintf(base, tt.networkRooms, tt.salRooms)), "test.yaml", t.TempDir())
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Parse: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v does not contain %q", err, tt.want)
			}
		})
	}
}
