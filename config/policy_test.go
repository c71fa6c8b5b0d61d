package config

import (
	"os"
	"strings"
	"testing"
)

func TestPolicySectionIsStrict(t *testing.T) {
	base := "people: [{name: Rita, irc_account: rita, roles: [%s]}]\npolicy:\n"
	tests := []struct{ name, roles, policy, want string }{
		{"unknown key", "releng", "  roles: {releng: RelEng}\n  windos: []\n", "windos: unknown key"},
		{"role not named", "releng", "  rules: []\n", `unknown role "releng"`},
		{"bad day", "releng", "  roles: {releng: RelEng}\n  rules: [{name: F, days: [fryday], approvals: [releng]}]\n", "expected a weekday"},
		{"bad zone", "releng", "  roles: {releng: RelEng}\n  rules: [{name: F, timezone: Mars/Olympus, approvals: [releng]}]\n", "unknown time zone"},
		{"bad holiday", "releng", "  roles: {releng: RelEng}\n  rules: [{name: F, holidays: [25.12.2026], approvals: [releng]}]\n", "expected a date"},
		{"bad action", "releng", "  roles: {releng: RelEng}\n  windows: [{kind: puppet, allow: [sync]}]\n", "expected one of deploy, revert"},
		{"bad hours", "releng", "  roles: {releng: RelEng}\n  rules: [{name: F, from: \"18:00\", to: \"09:00\", approvals: [releng]}]\n", "must be after from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := strings.Replace(base, "%s", tt.roles, 1) + tt.policy
			_, err := Parse([]byte(data), "j.yaml", t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	ok := strings.Replace(base, "%s", "releng", 1) + "  roles: {releng: RelEng}\n  rules: [{name: Fridays, days: [friday], from: \"00:00\", to: \"24:00\", timezone: America/Los_Angeles, approvals: [releng]}]\n"
	if _, err := Parse([]byte(ok), "j.yaml", t.TempDir()); err != nil {
		t.Errorf("a good policy was refused: %v", err)
	}
}

// The built-in default keeps the example's policy but not its time rules:
// the console is one person, and approvals by role would never come.
func TestDemoLeavesOutTimeRules(t *testing.T) {
	data, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	full, err := parse(data, "config.example.yaml", t.TempDir(), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Policy.Rules) == 0 || len(full.Security.Rooms) == 0 {
		t.Fatal("the example has no time rules or security room")
	}
	demo, err := Demo(data, "config.example.yaml", t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(demo.Policy.Rules) != 0 || len(demo.Policy.Windows) == 0 || len(demo.Security.Rooms) != 0 {
		t.Errorf("demo policy = %+v, security = %+v", demo.Policy, demo.Security)
	}
}
