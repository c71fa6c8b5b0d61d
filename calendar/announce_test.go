package calendar

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/store"
)

// fakeChat records what the announcer sends, with the (fake) time.
type fakeChat struct {
	mu      sync.Mutex
	sent    []string
	down    bool
	absent  map[string]bool // person names not in the room
	directs []string
	out     bool            // the bot is not in the room
	changed chan struct{}   // closed when out changes
	refuse  bool            // Deliver is refused although Send works
	hang    bool            // Deliver never hears back from the network
	keys    map[string]bool // keys accepted by Deliver, like Matrix transaction ids
	slow    time.Duration   // Deliver takes this long (a network slow to accept)
}

// Deliver accepts a key once, like a homeserver with transaction ids: a
// repeat of an accepted key succeeds without sending again.
func (f *fakeChat) Deliver(ctx context.Context, to bot.Target, t bot.Text, key string) error {
	f.mu.Lock()
	hang, refuse, dup, slow := f.hang, f.refuse, f.keys[key], f.slow
	f.mu.Unlock()
	if slow > 0 {
		time.Sleep(slow)
	}
	switch {
	case hang:
		<-ctx.Done()
		return ctx.Err()
	case refuse:
		return errors.New("M_FORBIDDEN: not in room")
	case dup:
		return nil
	}
	if err := f.Send(ctx, to, t); err != nil {
		return err
	}
	f.mu.Lock()
	if f.keys == nil {
		f.keys = map[string]bool{}
	}
	f.keys[key] = true
	f.mu.Unlock()
	return nil
}

func (f *fakeChat) Joined(to bot.Target) (bool, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.changed == nil {
		f.changed = make(chan struct{})
	}
	return !f.out, f.changed
}

func (f *fakeChat) set(fn func(f *fakeChat)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
	if f.changed != nil {
		close(f.changed)
		f.changed = nil
	}
}

func (f *fakeChat) Rooms() []bot.Target {
	return []bot.Target{{Network: "libera", Room: "#wikimedia-operations"}}
}

func (f *fakeChat) Send(ctx context.Context, to bot.Target, t bot.Text) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.New("not connected")
	}
	line := time.Now().UTC().Format("15:04") + " " + t.String()
	if to.Private {
		f.directs = append(f.directs, to.Room+" "+line)
		return nil
	}
	f.sent = append(f.sent, line)
	return nil
}

func (f *fakeChat) InRoom(ctx context.Context, to bot.Target, p bot.Person) (bool, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.absent[p.Name], true
}

func (f *fakeChat) DirectTarget(ctx context.Context, network string, p bot.Person) (bot.Target, bool) {
	return bot.Target{Network: network, Room: p.IRCNick, Private: true}, true
}

func (f *fakeChat) setDown(v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = v
}

func (f *fakeChat) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.sent
	f.sent = nil
	return out
}

const announceConfig = `
people:
  - {name: Lucas, irc_account: lucas, roles: [deployer]}
  - {name: Kosta, irc_account: kharlan, irc_nick: kostah, roles: [owner]}
  - {name: Brennen, irc_account: brennen, roles: [owner]}
windows:
  - name: UTC afternoon backport window
    kind: backport
    schedule: "0 1 * * *"
    duration: 1h
    max_patches: 6
    deployers: [Lucas]
`

// rig is an announcer over a bbolt file, run in a synctest bubble whose
// clock starts at 2000-01-01T00:00:00Z.
type rig struct {
	t      *testing.T
	cfg    *config.Config
	dbPath string
	chat   *fakeChat
	db     *store.DB
	svc    *Service
	stop   func()
	// ready, when set, is the announcer's readiness line.
	ready func(windowID string) string
}

func newRig(t *testing.T, yaml string) *rig {
	cfg, err := config.Parse([]byte(yaml), "test.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, cfg: cfg, dbPath: filepath.Join(t.TempDir(), "jouncebot.db"), chat: &fakeChat{absent: map[string]bool{}}}
	r.start()
	t.Cleanup(func() { r.halt() })
	return r
}

// start opens the database and runs an announcer, as a fresh process would.
func (r *rig) start() {
	db, err := store.Open(r.dbPath)
	if err != nil {
		r.t.Fatal(err)
	}
	r.db = db
	r.svc = NewService(ServiceOptions{Config: r.cfg, Book: NewBook(db)})
	a := NewAnnouncer(r.svc, r.chat, r.cfg, slog.New(slog.DiscardHandler))
	if r.ready != nil {
		a.SetReadiness(r.ready)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	r.stop = func() { cancel(); <-done; db.Close() }
}

func (r *rig) halt() {
	if r.stop != nil {
		r.stop()
		r.stop = nil
	}
}

// until advances the fake clock to hh:mm on 2000-01-01 and lets the
// announcer finish what fell due.
func until(t *testing.T, hhmm string) {
	t.Helper()
	target, err := time.Parse("2006-01-02 15:04", "2000-01-01 "+hhmm)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(target); d > 0 {
		time.Sleep(d)
	}
	synctest.Wait()
}

func (r *rig) queue(change int, owner string) {
	w := r.svc.Calendar().Next(time.Now())[0]
	if err := r.svc.Book().Enqueue(w.ID, w.MaxPatches, Patch{Change: change, Owner: owner, By: owner, At: time.Now()}); err != nil {
		r.t.Fatal(err)
	}
}

func diffLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("sent:\n%s\n\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestReminderStartAndEndWithTwoPatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, announceConfig)
		r.queue(445113, "Kosta")
		r.queue(445114, "Brennen")
		r.chat.absent["Brennen"] = true

		until(t, "00:49")
		diffLines(t, r.chat.take(), nil)

		until(t, "00:50")
		diffLines(t, r.chat.take(), []string{
			"00:50 Reminder: UTC afternoon backport window starts in 10 minutes (01:00–02:00 UTC). Deployers: lucas. Queued: 445113 (Kosta) and 445114 (Brennen).",
		})
		if len(r.chat.directs) != 1 || !strings.HasPrefix(r.chat.directs[0], "brennen 00:50 Your patch 445114 is queued for UTC afternoon backport window, which starts in 10 minutes in #wikimedia-operations") {
			t.Errorf("presence check: direct messages %q; want one to brennen only", r.chat.directs)
		}

		until(t, "01:00")
		diffLines(t, r.chat.take(), []string{
			"01:00 lucas: Respected humans, it's time for UTC afternoon backport window.\n" +
				"kostah and brennen: A patch you scheduled for UTC afternoon backport window is about to be deployed. Please be around during the process.",
		})

		until(t, "01:05")
		diffLines(t, r.chat.take(), []string{
			`01:05 lucas: nobody has claimed UTC afternoon backport window yet. If you are deploying, say "jouncebot: claim".`,
		})

		r.svc.Book().MarkDeployed(445113, time.Now())
		until(t, "02:00")
		diffLines(t, r.chat.take(), []string{
			"02:00 UTC afternoon backport window is over: 1 patch deployed, 1 patch not deployed.",
			"02:00 brennen: your patch 445114 was not deployed in UTC afternoon backport window; it is now queued for UTC afternoon backport window (Sun 2 Jan 01:00–02:00 UTC).",
		})
		next := r.svc.Calendar().Next(time.Now())[0]
		if q, _ := r.svc.Book().Queue(next.ID); len(q) != 1 || q[0].Change != 445114 {
			t.Errorf("next window's queue = %+v; want the leftover 445114", q)
		}
	})
}

// A window's closing summary comes before the notices about its leftover
// patches, however slow the network is to accept the summary: lines to one
// room keep the order they were said in.
func TestWindowEndSummaryBeforeLeftovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, announceConfig)
		r.queue(445113, "Kosta")
		r.queue(445114, "Brennen")
		until(t, "01:06")
		r.chat.take()
		r.svc.Book().MarkDeployed(445113, time.Now())
		r.chat.set(func(f *fakeChat) { f.slow = 30 * time.Second })
		until(t, "02:01")
		diffLines(t, r.chat.take(), []string{
			"02:00 UTC afternoon backport window is over: 1 patch deployed, 1 patch not deployed.",
			"02:00 brennen: your patch 445114 was not deployed in UTC afternoon backport window; it is now queued for UTC afternoon backport window (Sun 2 Jan 01:00–02:00 UTC).",
		})
	})
}

// The start ping says what the last readiness check found per patch.
func TestStartPingSaysReadiness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, announceConfig)
		r.halt()
		var asked []string
		r.ready = func(id string) string {
			asked = append(asked, id)
			return "Readiness at 00:50 UTC: 445113 ready; 445114 blocked (CI fails (Verified -1 from jenkins-bot))."
		}
		r.start()
		r.queue(445113, "Kosta")
		r.queue(445114, "Brennen")
		until(t, "01:00")
		got := r.chat.take()
		if len(got) == 0 || !strings.HasSuffix(got[len(got)-1], "Please be around during the process.\nReadiness at 00:50 UTC: 445113 ready; 445114 blocked (CI fails (Verified -1 from jenkins-bot)).") {
			t.Errorf("start ping: %q", got)
		}
		if len(asked) != 1 || asked[0] != "utc-afternoon-backport-window@2000-01-01T01:00Z" {
			t.Errorf("asked about %q", asked)
		}
	})
}

// A restart in the middle of a window repeats no ping and forgets none.
func TestRestartMidWindowRepeatsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, announceConfig)
		until(t, "01:01")
		if got := r.chat.take(); len(got) != 2 {
			t.Fatalf("before restart: %q; want reminder and start ping", got)
		}
		r.halt()
		until(t, "01:02")
		r.start()
		until(t, "01:04")
		diffLines(t, r.chat.take(), nil)
		// The next notice still comes, once.
		until(t, "01:06")
		if got := r.chat.take(); len(got) != 1 || !strings.Contains(got[0], "nobody has claimed") {
			t.Errorf("after restart: %q; want only the unclaimed ping", got)
		}
	})
}

// Pings that fell due while the bot could not send go out late, marked,
// while the window is open; never after it has closed.
func TestMissedPingsSentLateOnlyWhileOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, announceConfig)
		r.svc.Book().SetClaim(Claim{WindowID: r.svc.Calendar().Next(time.Now())[0].ID, Person: "Lucas", At: time.Now()})
		r.chat.setDown(true)
		until(t, "01:20")
		r.chat.setDown(false)
		until(t, "01:22")
		got := r.chat.take()
		if len(got) != 1 || !strings.HasPrefix(got[0], "01:2") || !strings.HasSuffix(got[0], "(late)") || !strings.Contains(got[0], "it's time for") {
			t.Errorf("after reconnecting mid-window: %q; want the start ping once, marked (late), and no stale reminder", got)
		}

		// Down across the whole of the next day's window: nothing is sent late.
		r.chat.setDown(true)
		until(t, "23:00")
		time.Sleep(3*time.Hour + 30*time.Minute) // to 02:30 on 2 January, after the window
		synctest.Wait()
		r.chat.setDown(false)
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		for _, l := range r.chat.take() {
			if strings.Contains(l, "it's time for") || strings.Contains(l, "Reminder") {
				t.Errorf("sent after the window closed: %q", l)
			}
		}
	})
}

// Overlapping windows are each announced once; a window starting does not
// re-announce the one already open.
func TestOverlappingWindowsAnnouncedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, announceConfig+`
  - name: MediaWiki train
    kind: train
    schedule: "30 0 * * *"
    duration: 2h
    deployers: [Lucas]
`)
		until(t, "01:01")
		var starts []string
		for _, l := range r.chat.take() {
			if strings.Contains(l, "it's time for") {
				starts = append(starts, l)
			}
		}
		diffLines(t, starts, []string{
			"00:30 lucas: Respected humans, it's time for MediaWiki train.",
			"01:00 lucas: Respected humans, it's time for UTC afternoon backport window.\nNo Gerrit patches in the queue for this window AFAICS.",
		})
	})
}

// An active freeze is said in every ping.
func TestFreezeShownInPings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, announceConfig+`
freezes:
  - {from: 1999-12-31T00:00:00Z, to: 2000-01-03T00:00:00Z, reason: millennium change}
`)
		until(t, "01:00")
		got := r.chat.take()
		if len(got) != 2 {
			t.Fatalf("got %q; want reminder and start ping", got)
		}
		for _, l := range got {
			if !strings.Contains(l, "Deployment freeze until Mon 3 Jan 00:00 UTC: millennium change. Deploys need the out-of-window override.") {
				t.Errorf("ping without the freeze: %q", l)
			}
		}
	})
}

// A notice waits until the bot is in the room, and then goes out once, in
// order, marked late.
func TestNoticesWaitForTheJoin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, announceConfig)
		r.chat.set(func(f *fakeChat) { f.out = true })
		until(t, "01:20")
		diffLines(t, r.chat.take(), nil)
		r.chat.set(func(f *fakeChat) { f.out = false })
		synctest.Wait()
		diffLines(t, r.chat.take(), []string{
			"01:20 lucas: Respected humans, it's time for UTC afternoon backport window.\nNo Gerrit patches in the queue for this window AFAICS. (late)",
			`01:20 lucas: nobody has claimed UTC afternoon backport window yet. If you are deploying, say "jouncebot: claim". (late)`,
		})
		until(t, "01:30")
		diffLines(t, r.chat.take(), nil)
	})
}

// A notice the network refuses does not count as sent: it is tried again
// and delivered once it is accepted.
func TestRefusedNoticeIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, announceConfig)
		r.chat.set(func(f *fakeChat) { f.refuse = true })
		until(t, "01:01")
		diffLines(t, r.chat.take(), nil)
		r.chat.set(func(f *fakeChat) { f.refuse = false })
		until(t, "01:03")
		got := r.chat.take()
		if len(got) != 1 || !strings.Contains(got[0], "it's time for") || !strings.HasSuffix(got[0], "(late)") {
			t.Errorf("after the refusal ended: %q; want the start ping once, late", got)
		}
	})
}

// A notice handed to the network but never accepted when the bot stops is
// sent after the restart, once, under the same key.
func TestNoticeInFlightAtStopIsSentAfterRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, announceConfig)
		until(t, "00:55")
		r.chat.take() // the reminder
		r.chat.set(func(f *fakeChat) { f.hang = true })
		until(t, "01:00")
		r.halt()
		diffLines(t, r.chat.take(), nil)
		r.chat.set(func(f *fakeChat) { f.hang = false })
		r.start()
		until(t, "01:01")
		got := r.chat.take()
		if len(got) != 1 || !strings.Contains(got[0], "it's time for") {
			t.Errorf("after the restart: %q; want the start ping once", got)
		}
		r.halt()
		r.start()
		until(t, "01:04")
		diffLines(t, r.chat.take(), nil)
	})
}
