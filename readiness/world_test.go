package readiness_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/calendar"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/deploy/git"
	"github.com/jouncebot/jouncebot/readiness"
	"github.com/jouncebot/jouncebot/store"
)

// Version4 is the second live branch of the test world.
const (
	Version4    = "1.46.0-wmf.4"
	CoreBranch4 = "wmf/" + Version4
)

// world is the fake Gerrit's sandbox (config, core wmf.3 with the
// Example extension and a local security patch in staging) plus a second
// live branch, wmf.4, checked out in staging; a database with a book;
// two windows: the late backport window and a later one.
type world struct {
	t       testing.TB
	sb      *gerrittest.Sandbox
	db      *store.DB
	book    *calendar.Book
	cal     *calendar.Calendar
	win     calendar.Window
	later   calendar.Window
	present map[string]bool
	history *fakeHistory
	checker *readiness.Checker
	now     time.Time
}

type fakeHistory struct{ samples []readiness.Sample }

func (h *fakeHistory) Samples(int) ([]readiness.Sample, error) { return h.samples, nil }

type fakePresence map[string]bool

func (p fakePresence) Present(_ context.Context, owner string) (*bool, string) {
	v, ok := p[owner]
	if !ok {
		return nil, ""
	}
	return &v, "#wikimedia-operations"
}

func requireGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("JOUNCEBOT_TEST_SERVERS") == "required" {
			t.Fatal("git is required")
		}
		t.Skip("git is not installed")
	}
}

func run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gerrittest.GitEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v: %s", args, err, out)
	}
	return string(out)
}

func newWorld(t testing.TB, before4 ...func(bare string)) *world {
	t.Helper()
	requireGit(t)
	dir := t.TempDir()
	sb, err := gerrittest.NewSandbox(filepath.Join(dir, "sandbox"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	must(t, sb.CreateBranch(gerrittest.CoreProject, CoreBranch4, gerrittest.CoreBranch))
	bare := filepath.Join(dir, "sandbox", "gerrit", gerrittest.CoreProject+".git")
	for _, f := range before4 {
		f(bare)
	}
	core4 := filepath.Join(sb.Staging, "php-"+Version4)
	run(t, "", "clone", "-q", "-b", CoreBranch4, bare, core4)
	run(t, core4, "remote", "set-url", "origin", sb.GitURL(gerrittest.CoreProject))
	db, err := store.Open(filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2026, 11, 27, 22, 0, 0, 0, time.UTC)
	w := &world{t: t, sb: sb, db: db, book: calendar.NewBook(db), now: now,
		present: fakePresence{"alice": true, "bob": true}, history: &fakeHistory{}}
	w.cal = calendar.New([]calendar.Window{
		{ID: "utc-late-backport-20261127T2300", Name: "UTC late backport window", Kind: "backport",
			Start: now.Add(time.Hour), End: now.Add(2 * time.Hour), Source: "config"},
		{ID: "utc-morning-backport-20261128T0800", Name: "UTC morning backport window", Kind: "backport",
			Start: now.Add(10 * time.Hour), End: now.Add(11 * time.Hour), Source: "config"},
	})
	ws := w.cal.Windows()
	w.win, w.later = ws[0], ws[1]
	client, err := gerrit.New(gerrit.Options{URL: sb.URL, Username: gerrittest.BotUser, Password: gerrittest.BotPassword})
	if err != nil {
		t.Fatal(err)
	}
	w.checker = &readiness.Checker{
		Gatherer: &readiness.Gatherer{Gerrit: client, Git: &git.Runner{}, Staging: sb.Staging, GitURL: sb.GitURL,
			Presence: fakePresence(w.present), TempDir: dir},
		Store: readiness.NewStore(db), Queues: w.book, History: w.history, Room: "#wikimedia-operations",
		Calendar: func() *calendar.Calendar { return w.cal }, Now: func() time.Time { return w.now },
	}
	return w
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// queue adds changes to a window, owned by the given people.
func (w *world) queue(win calendar.Window, owner string, changes ...int) {
	w.t.Helper()
	for _, n := range changes {
		must(w.t, w.book.Enqueue(win.ID, 0, calendar.Patch{Change: n, Owner: owner, By: owner, At: w.now}))
	}
}

// upload uploads a change to core on branch (wmf.3 when empty) by owner.
func (w *world) upload(owner, branch, subject string, files ...gerrittest.File) int {
	w.t.Helper()
	if branch == "" {
		branch = gerrittest.CoreBranch
	}
	n, err := w.sb.Upload(gerrittest.Upload{Project: gerrittest.CoreProject, Branch: branch, Owner: owner, Subject: subject, Files: files})
	must(w.t, err)
	return n
}

// check runs the check of win and asserts staging is byte-identical
// before and after.
func (w *world) check(win calendar.Window) readiness.Result {
	w.t.Helper()
	before := snapshot(w.t, w.sb.Staging)
	res, err := w.checker.Check(context.Background(), win)
	must(w.t, err)
	after := snapshot(w.t, w.sb.Staging)
	if len(before) != len(after) {
		w.t.Fatalf("staging changed: %d files before, %d after", len(before), len(after))
	}
	for p, h := range before {
		if after[p] != h {
			w.t.Fatalf("staging changed: %s differs after the check", p)
		}
	}
	return res
}

// snapshot hashes every file, link and directory of a tree, .git included,
// with its mode. Modification times are left out: git refreshes the time
// of an object it would write again, also in an alternate object store.
func snapshot(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h := sha256.New()
		h.Write([]byte(info.Mode().String()))
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			h.Write([]byte(l))
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		out[p] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
