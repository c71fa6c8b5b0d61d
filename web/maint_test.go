package web

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/maint"
	"github.com/jouncebot/jouncebot/sal/wikitext"
	"github.com/jouncebot/jouncebot/store"
)

// hostileHost is a maintenance host whose scripts print markup.
type hostileHost struct{ out string }

func (h hostileHost) Argv(script, wiki string, args []string) []string { return []string{script} }
func (h hostileHost) Start(context.Context, string, []string) error    { return nil }
func (h hostileHost) Remove(context.Context, string) error             { return nil }
func (h hostileHost) Stop(context.Context, string) error               { return nil }
func (h hostileHost) Kill(context.Context, string) error               { return nil }
func (h hostileHost) Poll(_ context.Context, _ string, off int64) (maint.Status, error) {
	exit := 0
	return maint.Status{Exit: &exit, Output: []byte(h.out[off:])}, nil
}

// A run's output and reason are shown at /maint/<id> as text, never as
// markup; the reason's wikitext links (a task id) are links, as on the
// SAL pages.
func TestMaintPageEscapes(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := strings.Join(hostile, "\n") + "\n\x1b[31mred\x1b[0m\n"
	svc := maint.NewService(maint.Options{DB: db, Host: hostileHost{out: out}, PollInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(ctx) }()
	defer func() { cancel(); <-done }()
	req, _ := maint.ParseWords([]string{"showSiteStats.php", "testwiki", `<script>alert("reason")</script>`, "for", "T1001"})
	if _, err := svc.Start(ctx, req, maint.Person{Name: "<b>Amir</b>"}, ""); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) { // polling the database
		if r, _, _ := svc.Get(1); r != nil && r.State.Ended() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run did not end within a minute")
		}
	}
	srv := New(Options{})
	srv.Handle("GET /maint/{token}", MaintPage(svc, wikitext.Wikimedia(), srv.log))
	hs := httptest.NewServer(srv)
	defer hs.Close()
	run, _, err := svc.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	status, _, body := get(t, hs.URL+"/maint/"+run.Token)
	if status != 200 {
		t.Fatalf("status %d:\n%s", status, body)
	}
	doc := parseHTML(t, body)
	checkInert(t, "/maint/1", doc)
	text := textOf(doc)
	for _, m := range append(hostile, `<script>alert("reason")</script>`, "<b>Amir</b>", "exit 0") {
		if !strings.Contains(text, m) {
			t.Errorf("the page does not show %q as text", m)
		}
	}
	if !strings.Contains(body, `<a href="https://phabricator.wikimedia.org/T1001"`) {
		t.Errorf("the reason's task id is not a link:\n%s", body)
	}
	if strings.Contains(body, "\x1b") {
		t.Error("control characters reach the page")
	}
	if status, _, _ := get(t, hs.URL+"/maint/99"); status != 404 {
		t.Errorf("unknown run: %d", status)
	}
}
