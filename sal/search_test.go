package sal

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

// bulkAppend stores entries in one transaction (for tests and fixtures).
func bulkAppend(t testing.TB, l *Log, entries []Entry) {
	t.Helper()
	err := l.db.Update(func(tx *bolt.Tx) error {
		for i := range entries {
			if err := l.prepare(&entries[i]); err != nil {
				return err
			}
			if err := l.put(tx, &entries[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func ids(es []Entry) []uint64 {
	out := []uint64{}
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func TestSearch(t *testing.T) {
	l, _ := newTestLog(t, Options{})
	day := func(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, time.UTC) }
	bulkAppend(t, l, []Entry{
		{Time: day(20, 9), Nick: "alice", Project: "production", Message: "restarted Apache on mw1001"},          // 1
		{Time: day(20, 23), Nick: "bob", Project: "production", Message: "depooled db1001 for T123"},             // 2
		{Time: day(21, 0), Nick: "alice", Project: "releng", Message: "scap sync-world: Backport gerrit:42"},     // 3
		{Time: day(22, 12), Nick: "Carol", Project: "production", Message: "restarted apache on mw1002 (alice)"}, // 4
		{Time: day(23, 1), Nick: "dave@deploy1001", Project: "production", Message: "synced wmf-config"},         // 5
	})
	tests := []struct {
		name string
		q    Query
		want []uint64
		more bool
	}{
		{"everything newest first", Query{}, []uint64{5, 4, 3, 2, 1}, false},
		{"word, any case", Query{Text: "APACHE"}, []uint64{4, 1}, false},
		{"all words must match", Query{Text: "restarted mw1002"}, []uint64{4}, false},
		{"words in nick or message", Query{Text: "alice"}, []uint64{4, 3, 1}, false},
		{"punctuation splits words", Query{Text: "sync world"}, []uint64{3}, false},
		{"task id", Query{Text: "t123"}, []uint64{2}, false},
		{"relayed nick words", Query{Text: "deploy1001"}, []uint64{5}, false},
		{"no match", Query{Text: "nginx"}, []uint64{}, false},
		{"nothing searchable", Query{Text: "a !"}, []uint64{}, false},
		{"one missing word", Query{Text: "apache nginx"}, []uint64{}, false},
		{"project", Query{Project: "releng"}, []uint64{3}, false},
		{"project and words", Query{Project: "production", Text: "alice"}, []uint64{4, 1}, false},
		{"nick, any case", Query{Nick: "carol"}, []uint64{4}, false},
		{"nick is exact", Query{Nick: "ali"}, []uint64{}, false},
		{"from", Query{From: day(21, 0)}, []uint64{5, 4, 3}, false},
		{"to is exclusive", Query{To: day(21, 0)}, []uint64{2, 1}, false},
		{"one day", Query{From: day(22, 0), To: day(23, 0)}, []uint64{4}, false},
		{"empty range", Query{From: day(23, 0), To: day(22, 0)}, []uint64{}, false},
		{"range before the log", Query{To: day(1, 0)}, []uint64{}, false},
		{"range after the log", Query{From: day(30, 0)}, []uint64{}, false},
		{"range and words", Query{From: day(21, 0), Text: "restarted"}, []uint64{4}, false},
		{"limit", Query{Limit: 2}, []uint64{5, 4}, true},
		{"page on", Query{Limit: 2, Before: 4}, []uint64{3, 2}, true},
		{"last page", Query{Limit: 2, Before: 2}, []uint64{1}, false},
		{"page on with words", Query{Text: "alice", Limit: 1, Before: 4}, []uint64{3}, true},
		{"before beyond the end", Query{Before: 100, Limit: 1}, []uint64{5}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := l.Search(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, ids(res.Entries)); d != "" || res.More != tt.more {
				t.Errorf("ids (-want +got):\n%s; more = %v, want %v", d, res.More, tt.more)
			}
		})
	}
	if _, err := l.Search(context.Background(), Query{Limit: 201}); err == nil {
		t.Error("limit 201 was accepted")
	}
}

// TestSearchMatchesScan checks the index against a plain scan on a log big
// enough for posting lists to span many blocks.
func TestSearchMatchesScan(t *testing.T) {
	l, _ := newTestLog(t, Options{})
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"}
	nicks := []string{"ann", "ben", "cat"}
	projects := []string{"production", "releng"}
	var all []Entry
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 6000 {
		var msg []string
		for range 1 + r.IntN(4) {
			// Skewed: alpha is in most entries, theta in few.
			msg = append(msg, words[min(r.IntN(len(words)), r.IntN(len(words)))])
		}
		all = append(all, Entry{Time: start.Add(time.Duration(i) * time.Minute), Nick: nicks[r.IntN(3)], Project: projects[r.IntN(2)], Message: strings.Join(msg, " ")})
	}
	bulkAppend(t, l, all)
	entryWords := map[uint64][]string{}
	for _, e := range all {
		entryWords[e.ID] = Words(e.Message + " " + e.Nick)
	}
	match := func(e Entry, q Query, qw []string) bool {
		for _, w := range qw {
			if !slices.Contains(entryWords[e.ID], w) {
				return false
			}
		}
		return (q.Project == "" || e.Project == q.Project) && (q.Nick == "" || strings.EqualFold(q.Nick, e.Nick)) &&
			(q.From.IsZero() || !e.Time.Before(q.From)) && (q.To.IsZero() || e.Time.Before(q.To)) && (q.Before == 0 || e.ID < q.Before)
	}
	for i := range 300 {
		q := Query{Limit: 1 + r.IntN(200)}
		for range r.IntN(3) {
			q.Text += " " + words[r.IntN(len(words))]
		}
		if r.IntN(3) == 0 {
			q.Project = projects[r.IntN(2)]
		}
		if r.IntN(3) == 0 {
			q.Nick = nicks[r.IntN(3)]
		}
		if r.IntN(3) == 0 {
			q.From = start.Add(time.Duration(r.IntN(6000)) * time.Minute)
		}
		if r.IntN(3) == 0 {
			q.To = start.Add(time.Duration(r.IntN(6000)) * time.Minute)
		}
		switch r.IntN(4) {
		case 0:
			q.Before = uint64(r.IntN(6100))
		case 1:
			q.After = 1 + uint64(r.IntN(6100))
		}
		q.Count = r.IntN(2) == 0
		var want, total []uint64
		qw := Words(q.Text)
		whole := Query{Text: q.Text, Project: q.Project, Nick: q.Nick, From: q.From, To: q.To}
		for j := len(all) - 1; j >= 0; j-- {
			if match(all[j], whole, qw) {
				total = append(total, all[j].ID)
			}
			if match(all[j], q, qw) && all[j].ID > q.After {
				want = append(want, all[j].ID)
			}
		}
		var more, newer bool
		if q.After > 0 {
			// The oldest Limit above After, newest first.
			newer = len(want) > q.Limit
			want = want[max(0, len(want)-q.Limit):]
			more = len(total) > 0 && total[len(total)-1] <= q.After
		} else {
			more = len(want) > q.Limit
			want = want[:min(len(want), q.Limit)]
			newer = q.Before > 0 && len(total) > 0 && total[0] >= q.Before
		}
		count := 0
		if q.Count {
			count = len(total)
		}
		res, err := l.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(append([]uint64{}, want...), ids(res.Entries)); d != "" || more != res.More || newer != res.Newer || count != res.Total {
			t.Fatalf("query %d %+v: ids (-scan +index):\n%s; more %v newer %v total %d, want %v %v %d", i, q, d, res.More, res.Newer, res.Total, more, newer, count)
		}
	}
}

func TestWords(t *testing.T) {
	got := Words("Restarted mw1001.eqiad.wmnet: a T123, [[gerrit:42|x]] Übung 5 ÜBUNG")
	want := []string{"restarted", "mw1001", "eqiad", "wmnet", "t123", "gerrit", "42", "übung", "5"}
	if d := cmp.Diff(want, got); d != "" {
		t.Error(d)
	}
	long := strings.Repeat("x", 100)
	if got := Words(long); len(got) != 1 || len(got[0]) != maxToken {
		t.Errorf("a 100-byte word became %q", got)
	}
}

// Paging both ways keeps the filters, and Count gives the number of
// matches of the whole query.
func TestSearchPagesBothWaysAndCounts(t *testing.T) {
	l, _ := newTestLog(t, Options{})
	var es []Entry
	for i := range 12 {
		p := "production"
		if i%3 == 2 {
			p = "releng" // ids 3, 6, 9, 12
		}
		es = append(es, Entry{Time: time.Date(2026, 11, 20, i, 0, 0, 0, time.UTC), Nick: "alice", Project: p, Message: "synced"})
	}
	bulkAppend(t, l, es)
	tests := []struct {
		name        string
		q           Query
		want        []uint64
		more, newer bool
		total       int
	}{
		{"newest page", Query{Project: "production", Limit: 3, Count: true}, []uint64{11, 10, 8}, true, false, 8},
		{"older", Query{Project: "production", Limit: 3, Before: 8, Count: true}, []uint64{7, 5, 4}, true, true, 8},
		{"before everything but the newest", Query{Project: "production", Limit: 3, Before: 12}, []uint64{11, 10, 8}, true, false, 0},
		{"newer again", Query{Project: "production", Limit: 3, After: 7, Count: true}, []uint64{11, 10, 8}, true, false, 8},
		{"newer from the oldest", Query{Project: "production", Limit: 3, After: 2}, []uint64{7, 5, 4}, true, true, 0},
		{"newer with words", Query{Text: "synced", Limit: 2, After: 10, Count: true}, []uint64{12, 11}, true, false, 12},
		{"newer with nothing older", Query{Limit: 2, After: 1}, []uint64{3, 2}, true, true, 0},
		{"after the oldest match of a filter", Query{Project: "releng", Limit: 5, After: 3, Count: true}, []uint64{12, 9, 6}, true, false, 4},
		{"after everything", Query{Limit: 5, After: 12, Count: true}, []uint64{}, true, false, 12},
		{"after the largest id there can be", Query{Limit: 5, After: math.MaxUint64}, []uint64{}, true, false, 0},
		{"after the largest id, filtered", Query{Project: "releng", Limit: 5, After: math.MaxUint64}, []uint64{}, true, false, 0},
		{"count with a time range", Query{From: time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC), Count: true}, []uint64{6, 5, 4}, false, false, 3},
		{"count of nothing", Query{Text: "restarted", Count: true}, []uint64{}, false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := l.Search(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, ids(res.Entries)); d != "" {
				t.Errorf("ids (-want +got):\n%s", d)
			}
			if res.More != tt.more || res.Newer != tt.newer || res.Total != tt.total {
				t.Errorf("more %v newer %v total %d, want %v %v %d", res.More, res.Newer, res.Total, tt.more, tt.newer, tt.total)
			}
		})
	}
}
