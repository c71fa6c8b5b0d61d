package deploy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSummaryText(t *testing.T) {
	cs := []Change{
		{Number: 445113, Subject: "Raise $wgExampleLimit to 20", Bugs: []string{"T1001", "T1002"}},
		{Number: 445114, Subject: "Fix [[links]] | pipes"},
	}
	want := "Backport for [[gerrit:445113|Raise $wgExampleLimit to 20 (T1001 T1002)]], [[gerrit:445114|Fix ((links)) / pipes]]"
	if got := SummaryText(cs); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestRequestCheck(t *testing.T) {
	dep := Person{Name: "Alice", Deployer: true}
	tests := []struct {
		name string
		r    Request
		ok   bool
	}{
		{"in window", Request{Changes: []string{"1"}, By: dep, InWindow: true}, true},
		{"forced outside window", Request{Changes: []string{"1"}, By: dep, Force: true, Reason: "outage"}, true},
		{"forced in freeze", Request{Changes: []string{"1"}, By: dep, InWindow: true, Frozen: "freeze", Force: true, Reason: "outage"}, true},
		{"freeze beats window", Request{Changes: []string{"1"}, By: dep, InWindow: true, Frozen: "freeze"}, false},
		{"admin without deployer role", Request{Changes: []string{"1"}, By: Person{Name: "Root", Admin: true}, InWindow: true}, false},
		{"no changes", Request{By: dep, InWindow: true}, false},
		{"blank reason", Request{Changes: []string{"1"}, By: dep, Force: true, Reason: "  "}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.r.check(); (err == nil) != tt.ok {
				t.Errorf("check() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		in   string
		want Args
	}{
		{"445113", Args{Changes: []string{"445113"}}},
		{"445113 445114", Args{Changes: []string{"445113", "445114"}}},
		{"--force 445113 site is down T123", Args{Changes: []string{"445113"}, Force: true, Reason: "site is down T123"}},
		{"--prepare-only https://gerrit.wikimedia.org/r/c/445113", Args{Changes: []string{"https://gerrit.wikimedia.org/r/c/445113"}, PrepareOnly: true}},
		{"445113 --force fixes 3 wikis", Args{Changes: []string{"445113"}, Force: true, Reason: "fixes 3 wikis"}},
		{"foo", Args{Changes: []string{"foo"}}}, // the engine says foo is not a change
		{"", Args{}},
	}
	for _, tt := range tests {
		got := ParseArgs(strings.Fields(tt.in))
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("ParseArgs(%q) (-want +got)\n%s", tt.in, d)
		}
	}
}
