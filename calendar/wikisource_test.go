package calendar

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/calendar/deploycal"
	"github.com/jouncebot/jouncebot/wiki/wikitest"
)

func deploymentsPage(cards ...deploycal.Card) string { return deploycal.PageWikitext(cards) }

// The Deployments page of a real MediaWiki is imported, merged with the
// configured windows, and an edit of the page is picked up by refresh. When
// the wiki goes down, the last good calendar is kept and the channel is
// told once, and once again when it recovers.
func TestWikiImportRefreshAndOutage(t *testing.T) {
	w := wikitest.Start(t)
	w.EditPage(t, deploycal.IrcnickTemplatePage, deploycal.IrcnickTemplate)
	w.EditPage(t, deploycal.TemplatePage, deploycal.Template)
	sf, _ := time.LoadLocation("America/Los_Angeles")
	afternoon := time.Date(2026, 11, 26, 6, 0, 0, 0, sf) // 14:00 UTC
	late := time.Date(2026, 11, 26, 13, 0, 0, 0, sf)     // 21:00 UTC
	cards := []deploycal.Card{
		{When: afternoon, Window: "UTC afternoon backport window", MaxPatches: 6,
			Deployers: []deploycal.Nick{{Nick: "Lucas_WMDE"}},
			Requests:  []deploycal.Request{{Owner: deploycal.Nick{Nick: "kharlan"}, Changes: []deploycal.Link{{URL: "https://gerrit.wikimedia.org/r/c/mediawiki/core/+/445113", Title: "Fix it"}}}}},
	}
	w.EditPage(t, "Deployments", deploymentsPage(cards...))

	cfg := testConfig(t, `
people:
  - {name: Lucas, irc_account: lucaswerkmeister, irc_nick: Lucas_WMDE, roles: [deployer]}
windows:
  - name: UTC afternoon backport window
    kind: backport
    schedule: "0 6 * * 1-4"
    timezone: America/Los_Angeles
    duration: 1h
    max_patches: 6
    deployers: [Lucas]
calendar:
  wiki: {api: "`+w.API+`", page: Deployments, page_url: "https://wikitech.example.org/wiki/Deployments"}
`)
	db := testDB(t)
	f := wikiFetcher(t, cfg)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	svc := NewService(ServiceOptions{Config: cfg, Book: NewBook(db), Fetcher: f, MinRefresh: time.Millisecond, Now: func() time.Time { return now }})
	ctx := context.Background()

	if _, err := svc.Refresh(ctx); err != nil {
		t.Fatalf("first refresh: %v", err)
	}
	at := svc.Calendar().Active(time.Date(2026, 11, 26, 14, 30, 0, 0, time.UTC))
	if len(at) != 1 {
		t.Fatalf("windows open at 14:30 UTC: %d; the wiki window and the config window should merge into one", len(at))
	}
	got := at[0]
	if got.Source != "config" || !strings.HasPrefix(got.URL, "https://wikitech.example.org/wiki/Deployments#") || len(got.Owners) != 1 || got.Owners[0] != "kharlan" {
		t.Errorf("merged window = %+v; want the config window with the wiki's link and owner", got)
	}

	// An edit of the page is picked up by refresh, and said truthfully.
	cards = append(cards, deploycal.Card{When: late, Window: "UTC late backport window", MaxPatches: 6, Deployers: []deploycal.Nick{{Nick: "jeena"}}})
	w.EditPage(t, "Deployments", deploymentsPage(cards...))
	msg, err := svc.Refresh(ctx)
	if err != nil || !strings.Contains(msg.String(), "1 window added") {
		t.Errorf("refresh after edit = %q, %v; want it to say 1 window added", msg, err)
	}
	lateWin := svc.Calendar().Active(time.Date(2026, 11, 26, 21, 30, 0, 0, time.UTC))
	if len(lateWin) != 1 || lateWin[0].Name != "UTC late backport window" || lateWin[0].Deployers[0] != "jeena" {
		t.Errorf("late window after refresh: %+v", lateWin)
	}

	// The wiki goes down: the last good calendar stays, the room is told once.
	chat := &fakeChat{}
	a := NewAnnouncer(svc, chat, cfg, slog.New(slog.DiscardHandler))
	w.Stop()
	a.refreshAndTell(ctx)
	a.refreshAndTell(ctx)
	if _, err := svc.Refresh(ctx); err == nil {
		t.Errorf("refresh with the wiki down reported success")
	}
	if n := len(svc.Calendar().Active(time.Date(2026, 11, 26, 21, 30, 0, 0, time.UTC))); n != 1 {
		t.Errorf("the wiki's late window was lost while the wiki is down")
	}
	sent := chat.take()
	if len(sent) != 1 || !strings.Contains(sent[0], `I could not read the deployment calendar page "Deployments": the wiki did not answer. I am keeping the calendar I last read`) {
		t.Errorf("while down the room got %q; want one message", sent)
	}
	w.Restart(t)
	a.refreshAndTell(ctx)
	a.refreshAndTell(ctx)
	sent = chat.take()
	if len(sent) != 1 || !strings.Contains(sent[0], "I can read the deployment calendar page again") {
		t.Errorf("after recovery the room got %q; want one message", sent)
	}

	// A restart without the wiki still knows the wiki's windows.
	svc2 := NewService(ServiceOptions{Config: cfg, Book: NewBook(db), Now: func() time.Time { return now }})
	if n := len(svc2.Calendar().Active(time.Date(2026, 11, 26, 21, 30, 0, 0, time.UTC))); n != 1 {
		t.Errorf("after a restart the last good wiki import is gone")
	}
}
