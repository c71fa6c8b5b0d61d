package wiki

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAddSALEntry(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name string
		page string
		e    SALEntry
		want string
	}{{
		name: "empty page",
		page: "",
		e:    SALEntry{Time: at("2024-05-01T10:02:59Z"), Nick: "alice", Message: "restarted php-fpm"},
		want: "== 2024-05-01 ==\n* 10:02 alice: restarted php-fpm\n",
	}, {
		name: "same day goes on top of the day",
		page: "== 2024-05-01 ==\n* 10:02 alice: one\n",
		e:    SALEntry{Time: at("2024-05-01T11:00:00Z"), Nick: "bob", Message: "two"},
		want: "== 2024-05-01 ==\n* 11:00 bob: two\n* 10:02 alice: one\n",
	}, {
		name: "new day above the older ones, below the header",
		page: "{{SAL header}}\n\n== 2024-05-01 ==\n* 10:02 alice: one\n",
		e:    SALEntry{Time: at("2024-05-02T00:01:00Z"), Nick: "bob", Message: "two"},
		want: "{{SAL header}}\n\n== 2024-05-02 ==\n* 00:01 bob: two\n== 2024-05-01 ==\n* 10:02 alice: one\n",
	}, {
		name: "header only",
		page: "{{SAL header}}\n",
		e:    SALEntry{Time: at("2024-05-02T00:01:00Z"), Nick: "bob", Message: "two"},
		want: "{{SAL header}}\n== 2024-05-02 ==\n* 00:01 bob: two\n",
	}, {
		name: "time converted to UTC",
		page: "",
		e:    SALEntry{Time: at("2024-05-01T20:30:00-07:00"), Nick: "bob", Message: "late"},
		want: "== 2024-05-02 ==\n* 03:30 bob: late\n",
	}, {
		name: "a late entry finds its older day",
		page: "== 2024-05-03 ==\n* 01:00 a: x\n== 2024-05-01 ==\n* 01:00 a: y",
		e:    SALEntry{Time: at("2024-05-02T05:00:00Z"), Nick: "b", Message: "z"},
		want: "== 2024-05-03 ==\n* 01:00 a: x\n== 2024-05-02 ==\n* 05:00 b: z\n== 2024-05-01 ==\n* 01:00 a: y",
	}, {
		name: "heading with odd spacing is recognised",
		page: "==2024-05-01==  \n* 10:02 alice: one",
		e:    SALEntry{Time: at("2024-05-01T11:00:00Z"), Nick: "bob", Message: "two"},
		want: "==2024-05-01==  \n* 11:00 bob: two\n* 10:02 alice: one",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, AddSALEntry(tt.page, tt.e)); diff != "" {
				t.Errorf("AddSALEntry (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEscapeWikitext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"{{delete}} me", "&#123;&#123;delete&#125;&#125; me"},
		{"a|b", "a&#124;b"},
		{"{| class=wikitable", "&#123;&#124; class=wikitable"},
		{"Backport for [[gerrit:123|Fix it (T1)]]", "Backport for [[gerrit:123|Fix it (T1)]]"},
		{"[[gerrit:1|a]] | [[gerrit:2|b]]", "[[gerrit:1|a]] &#124; [[gerrit:2|b]]"},
		{"[[a|b|c]]", "[[a&#124;b&#124;c]]"},
		{"[[{{x}}|y]]", "[[&#123;&#123;x&#125;&#125;&#124;y]]"},
		{"<!-- hide the page", "&lt;!-- hide the page"},
		{"<nowiki>", "&lt;nowiki>"},
		{"sign ~~~~ here, ~ fine", "sign &#126;&#126;&#126;&#126; here, &#126; fine"},
		{"two\nlines\r\n== heading ==", "two lines == heading =="},
		{"https://example.org/?a=1|2", "https://example.org/?a=1&#124;2"},
	}
	for _, tt := range tests {
		if got := EscapeWikitext(tt.in); got != tt.want {
			t.Errorf("EscapeWikitext(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
