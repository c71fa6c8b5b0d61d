package agent

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/store"
)

// twoRuns is an agent database whose first run wrote events 1-3 and whose
// second run (the current one) wrote 4-5; the events of the first run are
// 40 days old.
func twoRuns(t *testing.T) (l *Log, id, r1, r2 string) {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "jouncebot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	log := slog.New(slog.DiscardHandler)
	old := time.Now().Add(-40 * 24 * time.Hour)
	for i, n := range []int{3, 2} {
		l, err = NewLog(db, log)
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			ev := deploy.Event{Kind: deploy.EventProgress, Time: time.Now()}
			if i == 0 {
				ev.Time = old
			}
			l.Notify(context.Background(), ev)
		}
		if i == 0 {
			r1 = l.run
		}
	}
	id, err = l.ID()
	if err != nil {
		t.Fatal(err)
	}
	return l, id, r1, l.run
}

// Resume's rules: where a reader goes on, and when the log takes a new id.
func TestResume(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cursor func(id, r1, r2 string) Cursor
		want   func(id, r1, r2 string) Resumed
		newID  bool
	}{
		{"no cursor: from the head, nothing replayed",
			func(id, r1, r2 string) Cursor { return Cursor{None: true} },
			func(id, r1, r2 string) Resumed { return Resumed{Log: id, From: 5, Head: 5, How: ResumeNew, Run: r2} }, false},
		{"in this log, in the current run",
			func(id, r1, r2 string) Cursor { return Cursor{Log: id, Seq: 4, Runs: []string{r1, r2}} },
			func(id, r1, r2 string) Resumed { return Resumed{Log: id, From: 4, Head: 5, Run: r2} }, false},
		{"in this log, at the end of an earlier run",
			func(id, r1, r2 string) Cursor { return Cursor{Log: id, Seq: 3, Runs: []string{r1}} },
			func(id, r1, r2 string) Resumed { return Resumed{Log: id, From: 3, Head: 5, Run: r2} }, false},
		{"no runs (a cursor from before runs, or curl): any point of the log",
			func(id, r1, r2 string) Cursor { return Cursor{Log: id, Seq: 2} },
			func(id, r1, r2 string) Resumed { return Resumed{Log: id, From: 2, Head: 5, Run: r2} }, false},
		{"no runs, past the head: from the head, the log keeps its id",
			func(id, r1, r2 string) Cursor { return Cursor{Seq: 9} },
			func(id, r1, r2 string) Resumed {
				return Resumed{Log: id, From: 5, Head: 5, How: ResumeChanged, Run: r2}
			}, false},
		{"another log: from the head",
			func(id, r1, r2 string) Cursor { return Cursor{Log: "elsewhere", Seq: 40, Runs: []string{"x"}} },
			func(id, r1, r2 string) Resumed {
				return Resumed{Log: id, From: 5, Head: 5, How: ResumeChanged, Prev: "elsewhere", Run: r2}
			}, false},
		{"restored: the reader saw a run this copy does not have",
			func(id, r1, r2 string) Cursor { return Cursor{Log: id, Seq: 9, Runs: []string{r1, "lost"}} },
			func(id, r1, r2 string) Resumed {
				return Resumed{From: 3, Head: 5, How: ResumeRewound, Prev: id, Run: r2}
			}, true},
		{"restored: the reader saw more of the current run than the copy has",
			func(id, r1, r2 string) Cursor { return Cursor{Log: id, Seq: 7, Runs: []string{r1, r2}} },
			func(id, r1, r2 string) Resumed {
				return Resumed{From: 5, Head: 5, How: ResumeRewound, Prev: id, Run: r2}
			}, true},
		{"restored: the reader saw more of an earlier run than the copy has",
			func(id, r1, r2 string) Cursor { return Cursor{Log: id, Seq: 4, Runs: []string{r1}} },
			func(id, r1, r2 string) Resumed {
				return Resumed{From: 3, Head: 5, How: ResumeRewound, Prev: id, Run: r2}
			}, true},
		{"restored from a copy older than every run the reader saw: from before the current run",
			func(id, r1, r2 string) Cursor { return Cursor{Log: id, Seq: 9, Runs: []string{"lost"}} },
			func(id, r1, r2 string) Resumed {
				return Resumed{From: 3, Head: 5, How: ResumeRewound, Prev: id, Run: r2}
			}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, id, r1, r2 := twoRuns(t)
			got, err := l.Resume(tc.cursor(id, r1, r2))
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want(id, r1, r2)
			if tc.newID {
				if got.Log == id || got.Log == "" {
					t.Errorf("the log kept its id %q after a restore", got.Log)
				}
				want.Log = got.Log
				if now, _ := l.ID(); now != got.Log {
					t.Errorf("the log's id is %q, the stream said %q", now, got.Log)
				}
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("Resume (-want +got):\n%s", d)
			}
		})
	}
}

// Pruning deletes old events only; the sequence goes on, and a reader
// whose cursor is before what is left is told how many it missed.
func TestPruneEvents(t *testing.T) {
	l, id, r1, r2 := twoRuns(t)
	n, err := l.Prune(time.Now().Add(-30 * 24 * time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("pruned %d (%v), want the 3 old events", n, err)
	}
	recs, err := l.After(0, 10)
	if err != nil || len(recs) != 2 || recs[0].Seq != 4 {
		t.Fatalf("left: %+v (%v), want events 4 and 5", recs, err)
	}
	got, err := l.Resume(Cursor{Log: id, Seq: 1, Runs: []string{r1}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Resumed{Log: id, From: 1, Head: 5, Prune: 2, Run: r2}); got != want {
		t.Errorf("Resume after pruning = %+v, want %+v", got, want)
	}
	l.Notify(context.Background(), deploy.Event{Kind: deploy.EventProgress, Time: time.Now()})
	if recs, _ := l.After(5, 10); len(recs) != 1 || recs[0].Seq != 6 {
		t.Errorf("after pruning the next event is %+v, want number 6", recs)
	}
}

// A reader that did not get to store the id a log took after a restore
// comes back with the earlier id: it goes on from the same place, never
// from the head as if the database had been replaced; and a reader whose
// runs are all in the log is not rewound by another reader's restore.
func TestResumeWithTheIDBeforeARestore(t *testing.T) {
	for _, tc := range []struct {
		name string
		seq  uint64
		want func(old, now, r2 string) Resumed
	}{
		{"within what both hold", 2, func(old, now, r2 string) Resumed { return Resumed{Log: now, From: 2, Head: 5, Run: r2} }},
		{"past where they part", 9, func(old, now, r2 string) Resumed {
			return Resumed{Log: now, From: 3, Head: 5, How: ResumeRewound, Prev: old, Run: r2}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, id, r1, r2 := twoRuns(t)
			first, err := l.Resume(Cursor{Log: id, Seq: 9, Runs: []string{r1, "lost"}})
			if err != nil || first.How != ResumeRewound {
				t.Fatalf("first Resume = %+v, %v", first, err)
			}
			// A reader in the current run is not moved by another's rewind.
			if got, err := l.Resume(Cursor{Log: id, Seq: 5, Runs: []string{r1, r2}}); err != nil || got.How != ResumeContinue || got.From != 5 {
				t.Errorf("a reader in the current run, after another's rewind: %+v, %v", got, err)
			}
			got, err := l.Resume(Cursor{Log: id, Seq: tc.seq, Runs: []string{r1, "lost"}})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want(id, first.Log, r2), got); d != "" {
				t.Errorf("Resume (-want +got):\n%s", d)
			}
			if now, _ := l.ID(); now != first.Log {
				t.Errorf("the log took yet another id: %q, then %q", first.Log, now)
			}
		})
	}
}

// A reader away so long that every event was pruned is told how many it
// missed, as when some are left.
func TestPruneEverything(t *testing.T) {
	l, id, _, r2 := twoRuns(t)
	if n, err := l.Prune(time.Now().Add(time.Hour)); err != nil || n != 5 {
		t.Fatalf("pruned %d (%v), want all 5", n, err)
	}
	got, err := l.Resume(Cursor{Log: id, Seq: 2, Runs: []string{r2}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Resumed{Log: id, From: 2, Head: 5, Prune: 3, Run: r2}); got != want {
		t.Errorf("Resume after pruning everything = %+v, want %+v", got, want)
	}
}
