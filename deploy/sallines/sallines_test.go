package sallines

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestGolden(t *testing.T) {
	one := []Change{{Number: 1234, Subject: "Fix the thing", Bugs: []string{"T123"}}}
	two := []Change{
		{Number: 1234, Subject: "Fix the thing", Bugs: []string{"T123", "T456"}},
		{Number: 1240, Subject: "  Follow-up:\n[[weird]] subject  "},
	}
	sum := Backport(one)
	lines := []Entry{
		{"alice", StartedSync(sum)},
		{"alice", Synchronized([]string{"wmf-config/InitialiseSettings.php"}, sum, 58*time.Second)},
		{"alice", Synchronized([]string{"a.php", "b.php", "c.php", "d.php"}, Backport(two), 61*time.Second)},
		{"alice", Synchronized([]string{"static/café.css", "w/a b.php", "w/new\nline.php"}, sum, time.Second)},
		{"alice", FinishedSync(sum, 8*time.Minute+47*time.Second)},
		{"alice", FinishedSync(Backport(two), time.Hour+2*time.Minute+3*time.Second)},
		{"alice", StartedRollback(sum, 3, "canary errors failed: 42 errors in 20s, at or above the threshold of 10.")},
		{"alice", FinishedRollback(sum, 3, 41*time.Second)},
		{"alice", FinishedRollback(sum, 1, 2*time.Second)},
		{"bob", Reverted(one[0], 0, 75*time.Second)},
		{"bob", Reverted(one[0], 1250, 75*time.Second)},
	}
	var b strings.Builder
	for _, e := range lines {
		b.WriteString(e.String() + "\n")
	}
	golden := filepath.Join("testdata", "lines.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("SAL lines (-want +got):\n%s", diff)
	}
}
