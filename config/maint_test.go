package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The scripts allow list takes plain names (the old shape) and mappings
// with options and the private rule, in one list.
func TestMaintScriptsShapes(t *testing.T) {
	cfg, err := Parse([]byte(`maint:
  host: maint.example
  scripts:
    - namespaceDupes.php
    - script: runJobs.php
      options: {--maxjobs: "[0-9]+", --wait: ""}
    - {script: checkSecurity.php, private: true}
    - {script: noOptions.php, options: {}}
`), "test.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := []MaintScript{
		{Script: "namespaceDupes.php"},
		{Script: "runJobs.php", Options: map[string]string{"--maxjobs": "[0-9]+", "--wait": ""}},
		{Script: "checkSecurity.php", Private: true},
		{Script: "noOptions.php", Options: map[string]string{}},
	}
	if d := cmp.Diff(want, cfg.Maint.Scripts); d != "" {
		t.Errorf("scripts (-want +got):\n%s", d)
	}
	if cfg.Maint.KillAfter <= 0 {
		t.Errorf("kill_after has no default: %v", cfg.Maint.KillAfter)
	}
}

func TestMaintScriptsErrors(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"unknown key", "    - {script: a.php, optoins: {--x: \"\"}}\n", "optoins"},
		{"no name", "    - {private: true}\n", "maint.scripts[0]: name the script"},
		{"bad option name", "    - {script: a.php, options: {\"x;y\": \"\"}}\n", `maint.scripts[0].options: "x;y" is not an option name like --maxjobs`},
		{"bad pattern", "    - {script: a.php, options: {--x: \"[0-9\"}}\n", "maint.scripts[0].options.--x: the value pattern does not compile"},
		// The first entry would win, so the second's options would be dead.
		{"listed twice", "    - runJobs.php\n    - {script: runJobs.php, options: {--maxjobs: \"[0-9]+\"}}\n", "maint.scripts[1]: runJobs.php is listed already as scripts[0]"},
		{"listed twice, other spelling", "    - runJobs\n    - {script: maintenance/runJobs.php, options: {}}\n", "maint.scripts[1]: maintenance/runJobs.php is listed already as scripts[0]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte("maint:\n  host: maint.example\n  scripts:\n"+c.yaml), "test.yaml", t.TempDir())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
}

// An entry whose options key is there but empty ("options:" with nothing
// after it, or ~) takes no options, like options: {}: read as "no list",
// it would take every option but the target ones, the opposite of what
// was written.
func TestMaintScriptsEmptyOptionsTakeNone(t *testing.T) {
	for _, c := range []struct{ name, entry string }{
		{"nothing after the key", "    - script: a.php\n      options:\n"},
		{"null", "    - {script: a.php, options: ~}\n"},
		{"null spelled out", "    - {script: a.php, options: null}\n"},
		{"empty mapping", "    - {script: a.php, options: {}}\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse([]byte("maint:\n  host: maint.example\n  scripts:\n"+c.entry), "test.yaml", t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Maint.Scripts[0].Options; got == nil || len(got) != 0 {
				t.Errorf("options = %#v, want an empty list (no options)", got)
			}
		})
	}
}
