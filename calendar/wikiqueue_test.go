package calendar

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/calendar/deploycal"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/store"
	"github.com/jouncebot/jouncebot/wiki/wikitest"
)

// gerritSandbox starts the fake Gerrit with its open changes and returns it
// with a client of the deploy engine's kind.
func gerritSandbox(t *testing.T) (*gerrittest.Sandbox, *gerrit.Client) {
	t.Helper()
	sb := gerrittest.Start(t)
	c, err := gerrit.New(gerrit.Options{URL: sb.URL, Username: gerrittest.BotUser, Password: gerrittest.BotPassword, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return sb, c
}

// testConfig parses a configuration for a test.
func testConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), "test.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// testDB opens a fresh database, closed when the test ends.
func testDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "j.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// wikiFetcher reads the Deployments page configured in cfg.
func wikiFetcher(t *testing.T, cfg *config.Config) *WikiFetcher {
	t.Helper()
	f, err := NewWikiFetcher(cfg.Calendar.Wiki, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func gerritLink(n int) deploycal.Link {
	return deploycal.Link{URL: fmt.Sprintf("https://gerrit.wikimedia.org/r/c/mediawiki/core/+/%d", n), Title: fmt.Sprintf("Change %d", n)}
}

func request(nick string, changes ...int) deploycal.Request {
	r := deploycal.Request{Owner: deploycal.Nick{Nick: nick}}
	for _, n := range changes {
		r.Changes = append(r.Changes, gerritLink(n))
	}
	return r
}

// marchCards are three backport windows in March 2027, months after the
// tests' "now": one with three patches of two owners, one with three
// patches for two places, and one whose only patch is listed under the
// template's placeholder nick.
func marchCards(placeholderChange int) []deploycal.Card {
	sf, _ := time.LoadLocation("America/Los_Angeles")
	at := func(day int) time.Time { return time.Date(2027, 3, day, 6, 0, 0, 0, sf) } // 14:00 UTC before DST
	return []deploycal.Card{
		{When: at(8), Window: "UTC afternoon backport window", MaxPatches: 6, Deployers: []deploycal.Nick{{Nick: "Lucas_WMDE"}},
			Requests: []deploycal.Request{request("alice", 501001, 501002), request("bob_b", 501003)}},
		{When: at(9), Window: "UTC afternoon backport window", MaxPatches: 2, Deployers: []deploycal.Nick{{Nick: "Lucas_WMDE"}},
			Requests: []deploycal.Request{request("carol", 502001), request("dave", 502002), request("erin", 502003)}},
		{When: at(10), Window: "UTC afternoon backport window", MaxPatches: 6, Deployers: []deploycal.Nick{{Nick: "Lucas_WMDE"}},
			Requests: []deploycal.Request{{Owner: deploycal.Nick{Nick: deploycal.Placeholder, Name: "Requesting Developer"}, Changes: []deploycal.Link{gerritLink(placeholderChange)}}}},
	}
}

func queueOf(t *testing.T, b *Book, id string) []string {
	t.Helper()
	q, err := b.Queue(id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range Pending(q) {
		src := "chat"
		if p.Source == SourceWiki {
			src = "wiki"
		}
		out = append(out, fmt.Sprintf("%d %s %s", p.Change, p.Owner, src))
	}
	return out
}

// The patches listed on a real wiki's Deployments page become the queues
// of their windows: merged with chat, moved and removed by edits, flagged
// once when over a window's limit, named in the reminder and the start
// ping (golden), shown in the iCal feed months ahead, and kept while the
// wiki is down.
func TestWikiPatchesJoinTheQueues(t *testing.T) {
	sb, gc := gerritSandbox(t)
	placeholder := sb.Changes["core"]
	gch, err := gc.Change(t.Context(), placeholder)
	if err != nil {
		t.Fatal(err)
	}
	w := wikitest.Start(t)
	w.EditPage(t, deploycal.IrcnickTemplatePage, deploycal.IrcnickTemplate)
	w.EditPage(t, deploycal.TemplatePage, deploycal.Template)
	cards := marchCards(placeholder)
	w.EditPage(t, "Deployments", deploycal.PageWikitext(cards))

	cfg := testConfig(t, `
people:
  - {name: Lucas, irc_account: lucas, irc_nick: Lucas_WMDE, roles: [deployer]}
  - {name: Alice, irc_account: alice, irc_nick: alice, gerrit: alice, roles: [owner]}
  - {name: Bob, irc_account: bob, irc_nick: bob, gerrit: bob, roles: [owner]}
calendar:
  horizon: 336h
  wiki: {api: "`+w.API+`", page: Deployments, page_url: "https://wikitech.example.org/wiki/Deployments"}
`)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	svc := NewService(ServiceOptions{Config: cfg, Book: NewBook(testDB(t)), Fetcher: wikiFetcher(t, cfg), MinRefresh: time.Millisecond,
		Owners: GerritOwners{Gerrit: gc, Config: cfg}, Now: func() time.Time { return now }})
	book := svc.Book()
	ctx := t.Context()
	var g strings.Builder
	chat := &fakeChat{}
	section := func(name string, text bot.Text) { fmt.Fprintf(&g, "-- %s\n%s\n\n", name, text) }
	roomSays := func() bot.Text { // without fakeChat's wall-clock time
		var lines []string
		for _, l := range chat.take() {
			lines = append(lines, l[len("15:04 "):])
		}
		return bot.T(strings.Join(lines, "\n"))
	}

	text, err := svc.Refresh(ctx)
	if err != nil {
		t.Fatalf("first refresh: %v", err)
	}
	section("refresh: first read of the page", text)
	cal := svc.Calendar()
	w1, ok1 := cal.ByID("20270308T1400")
	w2, ok2 := cal.ByID("deploycal-item-20270309T1400")
	w3, ok3 := cal.ByID("20270310t1400")
	if !ok1 || !ok2 || !ok3 {
		t.Fatalf("the March windows are not found by the wiki's ids: %v %v %v in %d windows", ok1, ok2, ok3, cal.Len())
	}
	wantOwner := gch.Owner.Username
	if p := cfg.PersonByGerrit(wantOwner); p != nil {
		wantOwner = p.Name
	}
	for _, c := range []struct {
		w    Window
		want []string
	}{
		{w1, []string{"501001 alice wiki", "501002 alice wiki", "501003 bob_b wiki"}},
		{w2, []string{"502001 carol wiki", "502002 dave wiki", "502003 erin wiki"}},
		{w3, []string{fmt.Sprintf("%d %s wiki", placeholder, wantOwner)}},
	} {
		if diff := cmp.Diff(c.want, queueOf(t, book, c.w.ID)); diff != "" {
			t.Errorf("queue of %s after the first read (-want +got):\n%s", c.w.Short, diff)
		}
	}
	if !strings.Contains(text.String(), "502003 (erin) is beyond the limit of 2 patches and waits for UTC afternoon backport window (Wed 10 Mar 14:00–15:00 UTC, id 20270310T1400)") {
		t.Errorf("the first refresh does not flag the window over its limit:\n%s", text)
	}

	// Flagged once: the same page read again changes and flags nothing.
	text, err = svc.Refresh(ctx)
	if err != nil || strings.Contains(text.String(), "beyond the limit") || strings.Contains(text.String(), "Queues:") {
		t.Errorf("second refresh of the same page = %q, %v; want nothing new", text, err)
	}

	// Chat adds a patch, and adds one the wiki already lists: both stay
	// when the wiki drops them.
	for _, n := range []int{501002, 509999} {
		if err := book.Enqueue(w1.ID, w1.MaxPatches, Patch{Change: n, Owner: "Alice", By: "Alice", At: now}); err != nil {
			t.Fatalf("chat add %d: %v", n, err)
		}
	}
	// An edit deletes alice's patches and moves bob's to the 10th.
	cards[0].Requests = nil
	cards[2].Requests = append(cards[2].Requests, request("bob_b", 501003))
	w.EditPage(t, "Deployments", deploycal.PageWikitext(cards))
	text, err = svc.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	section("refresh: after an edit moved one patch and deleted two", text)
	if diff := cmp.Diff([]string{"501002 alice chat", "509999 Alice chat"}, queueOf(t, book, w1.ID)); diff != "" {
		t.Errorf("queue of the 8th after the edit (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{fmt.Sprintf("%d %s wiki", placeholder, wantOwner), "501003 bob_b wiki"}, queueOf(t, book, w3.ID)); diff != "" {
		t.Errorf("queue of the 10th after the edit (-want +got):\n%s", diff)
	}

	// The reminder and the start ping of the window over its limit.
	a := NewAnnouncer(svc, chat, cfg, slog.New(slog.DiscardHandler))
	room := chat.Rooms()[0]
	now = w2.Start.Add(-10 * time.Minute)
	section("reminder of the window over its limit", a.render(ctx, notice{kindReminder, now, w2}, room, now))
	now = w2.Start
	section("start ping of the window over its limit", a.render(ctx, notice{kindStart, now, w2}, room, now))
	now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

	// The iCal feed reaches the page's last window, past the horizon.
	rec := httptest.NewRecorder()
	ICalHandler(svc).ServeHTTP(rec, httptest.NewRequest("GET", "/calendar.ics", nil))
	feed := regexp.MustCompile(`\r?\n[ \t]`).ReplaceAllString(rec.Body.String(), "") // unfold lines
	for _, want := range []string{"DTSTART:20270309T140000Z", "Queued: 502001 (carol) and 502002 (dave)", "Beyond the limit: 502003 (erin)"} {
		if !strings.Contains(feed, want) {
			t.Errorf("iCal feed lacks %q:\n%s", want, feed)
		}
	}

	// The wiki goes down and comes back: the queues stay as they were.
	before := map[string][]string{}
	for _, win := range []Window{w1, w2, w3} {
		before[win.ID] = queueOf(t, book, win.ID)
	}
	w.Stop()
	a.refreshAndTell(ctx)
	a.refreshAndTell(ctx)
	section("room: the wiki is down", roomSays())
	w.Restart(t)
	a.refreshAndTell(ctx)
	a.refreshAndTell(ctx)
	section("room: the wiki is back", roomSays())
	for _, win := range []Window{w1, w2, w3} {
		if diff := cmp.Diff(before[win.ID], queueOf(t, book, win.ID)); diff != "" {
			t.Errorf("queue of %s after the outage (-before +after):\n%s", win.Short, diff)
		}
	}

	// A wiki patch taken out in chat stays out while the page lists it, and
	// a deployed one is not queued again.
	if _, _, ok, err := book.Dequeue(501003, "Lucas", now); !ok || err != nil {
		t.Fatalf("remove 501003: %v, %v", ok, err)
	}
	if err := book.MarkDeployed(502001, now); err != nil {
		t.Fatal(err)
	}
	if text, err := svc.Refresh(ctx); err != nil || strings.Contains(text.String(), "Queues:") {
		t.Errorf("refresh after a chat removal and a deploy = %q, %v; want no queue changes", text, err)
	}
	if diff := cmp.Diff([]string{fmt.Sprintf("%d %s wiki", placeholder, wantOwner)}, queueOf(t, book, w3.ID)); diff != "" {
		t.Errorf("queue of the 10th after removing 501003 in chat (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"502002 dave wiki", "502003 erin wiki"}, queueOf(t, book, w2.ID)); diff != "" {
		t.Errorf("queue of the 9th after deploying 502001 (-want +got):\n%s", diff)
	}

	// Shutting down while the wiki is down records no outage.
	w.Stop()
	stopped, cancel := context.WithCancel(ctx)
	cancel()
	a.refreshAndTell(stopped)
	if st, _ := book.NoticeState("wiki-health"); st != "ok" {
		t.Errorf("after a refresh cut short by shutdown the wiki's state is %q; want ok", st)
	}
	if sent := chat.take(); len(sent) != 0 {
		t.Errorf("a refresh cut short by shutdown said %q", sent)
	}
	golden(t, "wikiqueues.golden", g.String())
}

// A wiki patch moved on as a leftover stays in its new window while the
// page still lists it under the window that ended; one the page moves to
// a window to come follows the page.
func TestSyncWikiKeepsLeftoversMovedOn(t *testing.T) {
	b := NewBook(testDB(t))
	now := time.Date(2027, 3, 8, 16, 0, 0, 0, time.UTC)
	listed := []Listing{{WindowID: "ended", Change: 1, Owner: "alice"}, {WindowID: "ended", Change: 2, Owner: "bob"}}
	if _, err := b.SyncWiki(listed, map[string]bool{"ended": true}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := b.MoveLeftovers("ended", "next", now); err != nil {
		t.Fatal(err)
	}
	listed[1].WindowID = "later"
	changes, err := b.SyncWiki(listed, map[string]bool{"next": true, "later": true}, now)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]QueueChange{{Change: 2, Owner: "bob", From: "next", To: "later"}}, changes); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"1 alice wiki"}, queueOf(t, b, "next")); diff != "" {
		t.Errorf("the leftover left the window it moved to (-want +got):\n%s", diff)
	}
}
