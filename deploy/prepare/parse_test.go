package prepare

import (
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseChange(t *testing.T) {
	const g = "https://gerrit.wikimedia.org/r/"
	tests := []struct {
		in   string
		want Ref
		bad  bool
	}{
		{in: "445113", want: Ref{Number: 445113}},
		{in: " 445113 ", want: Ref{Number: 445113}},
		{in: g + "445113", want: Ref{Number: 445113}},
		{in: g + "c/445113", want: Ref{Number: 445113}},
		{in: g + "c/445113/2", want: Ref{Number: 445113, PatchSet: 2}},
		{in: g + "#/c/445113/", want: Ref{Number: 445113}},
		{in: g + "c/operations/mediawiki-config/+/445113", want: Ref{Number: 445113, Project: "operations/mediawiki-config"}},
		{in: g + "c/operations/mediawiki-config/+/445113/", want: Ref{Number: 445113, Project: "operations/mediawiki-config"}},
		{in: g + "c/mediawiki/extensions/Example/+/445113/3", want: Ref{Number: 445113, PatchSet: 3, Project: "mediawiki/extensions/Example"}},
		{in: g + "c/mediawiki/core/+/445113/3/includes/Setup.php", want: Ref{Number: 445113, PatchSet: 3, Project: "mediawiki/core"}},
		{in: "http://127.0.0.1:8080/c/445113", want: Ref{Number: 445113}},
		{in: "foo", bad: true},
		{in: "", bad: true},
		{in: "0", bad: true},
		{in: "-3", bad: true},
		{in: "445113abc", bad: true},
		{in: "I8c1f0e0a9b", bad: true},
		{in: "https://example.org/", bad: true},
		{in: "ftp://gerrit.wikimedia.org/r/445113", bad: true},
		{in: g + "c/foo/2", bad: true},
		{in: g + "c/mediawiki/core/+/refs/heads/master", bad: true},
		{in: g + "plugins/gitiles/mediawiki/core/+/refs/heads/master", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseChange(tt.in)
			if tt.bad {
				if err == nil {
					t.Fatalf("ParseChange(%q) = %+v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u, err := url.Parse(strings.TrimSpace(tt.in)); err == nil && u.Host != "" {
				tt.want.Host = u.Host
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestOtherGerrit(t *testing.T) {
	const ours = "https://gerrit.wikimedia.org/r/c/1"
	tests := []struct{ in, want string }{
		{"445113", ""},
		{"https://gerrit.wikimedia.org/r/c/445113", ""},
		{"http://Gerrit.Wikimedia.org:80/r/445113", ""},
		{"https://gerrit.wikimedia.org:443/r/c/operations/mediawiki-config/+/445113", ""},
		{"https://gerrit.evil.example/r/c/operations/mediawiki-config/+/445113",
			"https://gerrit.evil.example/r/c/operations/mediawiki-config/+/445113 links to gerrit.evil.example, but I deploy only from the Gerrit at gerrit.wikimedia.org; give the change number or a link to gerrit.wikimedia.org."},
		{"https://gerrit.wikimedia.org.evil.example/r/445113",
			"https://gerrit.wikimedia.org.evil.example/r/445113 links to gerrit.wikimedia.org.evil.example, but I deploy only from the Gerrit at gerrit.wikimedia.org; give the change number or a link to gerrit.wikimedia.org."},
		{"https://gerrit.wikimedia.org:8443/r/445113",
			"https://gerrit.wikimedia.org:8443/r/445113 links to gerrit.wikimedia.org:8443, but I deploy only from the Gerrit at gerrit.wikimedia.org; give the change number or a link to gerrit.wikimedia.org."},
	}
	for _, tt := range tests {
		r, err := ParseChange(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.OtherGerrit(tt.in, ours); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestIsChangeID(t *testing.T) {
	id := "I" + strings.Repeat("0123456789abcdef", 3)[:40]
	for s, want := range map[string]bool{
		id:                   true,
		id + " OR is:merged": false,
		"I8c1f0e0a9b":        false,
		strings.ToUpper(id):  false,
		"i" + id[1:]:         false,
		id + "\n":            false,
		"":                   false,
	} {
		if got := isChangeID(s); got != want {
			t.Errorf("isChangeID(%q) = %v", s, got)
		}
	}
}

func TestTopoSort(t *testing.T) {
	order, cycle := topoSort([]int{3, 1, 2}, map[int][]int{3: {2}, 2: {1}})
	if d := cmp.Diff([]int{1, 2, 3}, order); d != "" || cycle != nil {
		t.Errorf("order (-want +got) %s, cycle %v", d, cycle)
	}
	_, cycle = topoSort([]int{1, 2, 3}, map[int][]int{1: {2}, 2: {3}, 3: {1}})
	if d := cmp.Diff([]int{1, 2, 3, 1}, cycle); d != "" {
		t.Errorf("cycle (-want +got) %s", d)
	}
}
