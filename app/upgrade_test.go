package app_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/internal/testenv"
	"github.com/jouncebot/jouncebot/store"
)

// The upgrade fixture, testdata/upgrade/at-test-question.tar.gz, is the
// data directory of testdata/upgrade/jouncebot.yaml as jouncebot left it
// with a deploy stopped at the test question: its bbolt database
// (jouncebot.db, schema version 9) and the deploy sandbox the record
// points at (sandbox/: the fake Gerrit's repositories and state, the
// staging checkout, the frozen releases, the servers of each stage).
//
// It was written by TestWriteUpgradeFixture with the code of main at
// commit 56a7ed9 ("irctest: a port another process took…"), the record
// format before issue 29's workflow:
//
//	go test ./app -run TestWriteUpgradeFixture -write-upgrade-fixture
//
// Never write it anew to make TestUpgradeDeployAtTestQuestion pass: it
// stands for the databases of deploys in flight at the time, which a new
// jouncebot must take over as they are. A new record format gets a
// migration (store/schema.go), not a new fixture; a fixture of the new
// format goes beside this one, under another name.
const (
	upgradeFixture = "testdata/upgrade/at-test-question.tar.gz"
	// upgradeRelease is the release the fixture's deploy froze and synced
	// to the testservers.
	upgradeRelease = "6a58407e9f2734924b4c"
	// upgradeDataPlaceholder stands in the fixture's database for the
	// absolute path of the data directory it was written in (the host
	// records hold where each host was synced to).
	upgradeDataPlaceholder = "/@JOUNCEBOT_UPGRADE_FIXTURE_DATA@"
)

var writeUpgradeFixture = flag.Bool("write-upgrade-fixture", false,
	"write "+upgradeFixture+" anew (never to make a test pass: see upgrade_test.go)")

// upgradeNow is the clock of the fixture's bot, then and now: a Wednesday
// in the afternoon backport window.
var upgradeNow = time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC)

// TestUpgradeDeployAtTestQuestion upgrades a database that an older
// jouncebot left holding a deploy stopped at the test question (issue 29:
// "a test upgrades a database holding a deploy stopped at the test
// question"). The deploy, of a config change and an extension change
// (with a local security patch kept in core), had its +2 votes, merges,
// staging update, frozen release, testservers sync and its question
// asked; the owner had not said "tested ok". Today's jouncebot opens that
// database through app.New from the configuration file, asks again, and
// "tested ok" takes the deploy to the end as the old one would have:
// every host holds the frozen release, the Server Admin Log has the
// closing line of the one sync, no vote was given twice, the deploy lock
// is free.
//
// The fixture is the whole data directory, not just the database, because
// the record names what lives outside it: git commits of the fake
// Gerrit's repositories and of the staging checkout, the release it froze
// and the one to roll back to, and what each server holds. The sandbox
// keeps all of that in the data directory and reopens it on a new port
// (pointing staging's remotes at it), so a copy of the directory in a
// fresh temporary directory is the same world on any machine. What the
// database held that named the machine it was written on is handled thus:
//   - absolute paths (each host record's destination) were written as
//     upgradeDataPlaceholder and are rewritten to the copy's data
//     directory before the bot opens it;
//   - the fake Gerrit's old port appears only in the history's text (the
//     change links of "Deploy 1 started"), which nothing reads back;
//   - times are wall-clock times of the day it was written: the bot comes
//     back long after the question, so it says once that nobody confirmed
//     the test while it was down; the deployer's "tested ok" still decides.
//
// If a change to the record's format ships without a migration, the old
// record decodes wrong and this test fails (a renamed field of the
// record's sync state leaves the deploy at the testservers for ever).
func TestUpgradeDeployAtTestQuestion(t *testing.T) {
	t.Parallel()
	if *writeUpgradeFixture {
		t.Skip("the fixture is being written (-write-upgrade-fixture)")
	}
	upgradeNeedTools(t)
	cfgPath := upgradeDir(t)
	data := filepath.Join(filepath.Dir(cfgPath), "data")
	if err := extractTarGz(upgradeFixture, data); err != nil {
		t.Fatal(err)
	}
	replaceInDB(t, filepath.Join(data, "jouncebot.db"), upgradeDataPlaceholder, data)

	s := startUpgradeBot(t, cfgPath)
	s.expect("Try `jouncebot: plan")
	// A sandbox that cannot be reopened is built anew: its changes would
	// be open and the releases gone.
	if sb := s.app.Sandbox(); sb == nil || sb.Status(445113) != "MERGED" || sb.Status(445116) != "MERGED" {
		t.Fatal("the fixture's fake Gerrit was not reopened as it was (did gerrittest's saved state change?)")
	}
	if _, err := os.Stat(filepath.Join(data, "sandbox", "releases", upgradeRelease, "tree")); err != nil {
		t.Fatalf("the fixture's release is gone: %v", err)
	}
	asked := s.expectLine(`"nobody confirmed the test", "Please test it there" or "deploy 1 stopped"`, testenv.Scale(time.Minute), func(l string) bool {
		return strings.Contains(l, "nobody confirmed the test on testservers within 15m; jouncebot was restarted meanwhile") ||
			strings.Contains(l, "synced to the testservers. Please test it there") || strings.Contains(l, "deploy 1 stopped")
	})
	if strings.Contains(asked, "deploy 1 stopped") {
		t.Fatalf("the deploy did not survive the upgrade: %s", asked)
	}
	s.say("tested ok")
	backport := "Backport for [[gerrit:445113|Raise $wgExampleLimit to 20 (T1001)]], [[gerrit:445116|Escape output of exampleRender (T1003)]]"
	var chat []string
	end := s.expectLine(`"deploy 1 is done" or "stopped"`, testenv.Scale(2*time.Minute), func(l string) bool {
		chat = append(chat, l)
		return strings.Contains(l, "deploy 1 is done") || strings.Contains(l, "deploy 1 stopped")
	})
	if want := "amir: deploy 1 is done: 445113 and 445116."; !strings.HasPrefix(end, want) {
		t.Fatalf("the upgraded deploy ended with %q, want %q; saw:\n%s", end, want, strings.Join(chat, "\n"))
	}
	for _, want := range []string{"Tested on testservers by Amir; going on.", "canaries: synced 2/2 hosts", "production: synced 5/5 hosts", "Finished sync: " + backport} {
		if !containsPrefix(chat, want) {
			t.Errorf("no line %q after tested ok; saw:\n%s", want, strings.Join(chat, "\n"))
		}
	}
	s.say("jouncebot: status")
	s.expect("No deploy in progress.")
	s.stop()

	checkHostsHold(t, filepath.Join(data, "sandbox"), upgradeRelease)
	sal := strings.Join(salMessages(t, filepath.Join(data, "jouncebot.db")), "\n")
	sal = regexp.MustCompile(`\(duration: [^)]*\)`).ReplaceAllString(sal, "(duration: D)")
	sal = regexp.MustCompile(`score \d+`).ReplaceAllString(sal, "score N") // simulated metrics
	if want := strings.Join([]string{
		"Started sync: " + backport,
		"Canary analysis of canaries for " + backport + ": pass, score N",
		"Synchronized php-1.46.0-wmf.3/extensions/Example/Example.php, wmf-config/InitialiseSettings.php: " + backport + " (duration: D)",
		"Finished sync: " + backport + " (duration: D)",
	}, "\n"); sal != want {
		t.Errorf("Server Admin Log:\n%s\nwant:\n%s", sal, want)
	}
	checkOneVoteEach(t, filepath.Join(data, "sandbox"), 445113, 445116)
}

func containsPrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// checkHostsHold checks that every server of the sandbox holds release
// id: its files are the release's and its marker names it.
func checkHostsHold(t *testing.T, sb, id string) {
	t.Helper()
	want := treeOf(t, filepath.Join(sb, "releases", id, "tree"))
	if !strings.Contains(want["wmf-config/InitialiseSettings.php"], "$wgExampleLimit = 20;") {
		t.Fatalf("release %s does not hold 445113", id)
	}
	servers, err := os.ReadDir(filepath.Join(sb, "servers"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range servers {
		if strings.HasPrefix(s.Name(), ".") {
			continue
		}
		n++
		dir := filepath.Join(sb, "servers", s.Name())
		marker, _ := os.Readlink(filepath.Join(dir, ".jouncebot-release"))
		if diff := treeDiff(want, treeOf(t, dir)); marker != id || len(diff) > 0 {
			t.Errorf("%s does not hold release %s (marker %q); differing paths: %v", s.Name(), id, marker, diff)
		}
	}
	if n != 8 {
		t.Errorf("%d servers in the sandbox, want 8", n)
	}
}

// treeOf reads every file under dir but .git and the release marker.
func treeOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == ".git" || d.Name() == ".jouncebot-release" || d.Name() == "~jouncebot" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// treeDiff returns the paths whose contents differ between a and b.
func treeDiff(a, b map[string]string) []string {
	var diff []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			diff = append(diff, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			diff = append(diff, k)
		}
	}
	sort.Strings(diff)
	return diff
}

// salMessages returns the messages of the Server Admin Log kept in the
// database at path, oldest first.
func salMessages(t *testing.T, path string) []string {
	t.Helper()
	db, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var msgs []string
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(store.SALEntries).ForEach(func(_, v []byte) error {
			var e struct{ Message string }
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			msgs = append(msgs, e.Message)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// checkOneVoteEach checks that the sandbox's fake Gerrit holds exactly
// one Code-Review +2 on each change.
func checkOneVoteEach(t *testing.T, sb string, changes ...int) {
	t.Helper()
	var st struct {
		Reviews []struct {
			Change int
			Labels map[string]int
		}
	}
	b, err := os.ReadFile(filepath.Join(sb, "gerrit", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	for _, n := range changes {
		votes := 0
		for _, r := range st.Reviews {
			if r.Change == n && r.Labels["Code-Review"] == 2 {
				votes++
			}
		}
		if votes != 1 {
			t.Errorf("%d Code-Review +2 on %d, want 1", votes, n)
		}
	}
}

// TestWriteUpgradeFixture writes the fixture, only when asked with
// -write-upgrade-fixture (see the comment at the top of this file): it
// deploys the sandbox's config change and its extension change, stops
// the bot once the deploy asks for the test, puts the placeholder for the
// data directory in the database and packs the data directory.
func TestWriteUpgradeFixture(t *testing.T) {
	t.Parallel()
	if !*writeUpgradeFixture {
		t.Skip("writes the upgrade fixture only with -write-upgrade-fixture")
	}
	upgradeNeedTools(t)
	cfgPath := upgradeDir(t)
	data := filepath.Join(filepath.Dir(cfgPath), "data")
	s := startUpgradeBot(t, cfgPath)
	s.expect("Try `jouncebot: plan")
	ch := s.app.Sandbox().Changes
	s.say("jouncebot: deploy " + strconv.Itoa(ch["config"]) + " " + strconv.Itoa(ch["extension"]))
	s.expectLine("the test question", testenv.Scale(2*time.Minute), func(l string) bool {
		t.Log(l)
		return strings.HasPrefix(l, `Reply "tested ok"`)
	})
	s.stop()
	replaceInDB(t, filepath.Join(data, "jouncebot.db"), data, upgradeDataPlaceholder)
	compactDB(t, filepath.Join(data, "jouncebot.db"))
	if err := writeTarGz(upgradeFixture, data); err != nil {
		t.Fatal(err)
	}
}

func upgradeNeedTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"git", "rsync"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, tool+" is not installed")
		}
	}
}

// upgradeDir copies testdata/upgrade's configuration into a new temporary
// directory and returns the configuration's path there (its data
// directory is "data" beside it).
func upgradeDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile("testdata/upgrade/jouncebot.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "jouncebot.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startUpgradeBot runs the configuration file at cfgPath, as main does,
// with a console the test types into as Amir.
func startUpgradeBot(t *testing.T, cfgPath string) *consoleSession {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	return runConsoleConfig(t, upgradeNow, cfg, app.Options{})
}

// replaceInDB replaces old with new in every value of every top-level
// bucket of the bbolt database at path: the fixture's stand-in for paths
// of the machine that wrote it. The values are JSON, and neither string
// holds a character JSON escapes.
func replaceInDB(t *testing.T, path, old, new string) {
	t.Helper()
	if strings.ContainsAny(old+new, "\"\\<>&") {
		t.Fatalf("cannot put %q for %q in JSON as they are", new, old)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			type kv struct{ k, v []byte }
			var changed []kv
			err := b.ForEach(func(k, v []byte) error {
				if v != nil && bytes.Contains(v, []byte(old)) {
					changed = append(changed, kv{bytes.Clone(k), bytes.ReplaceAll(v, []byte(old), []byte(new))})
				}
				return nil
			})
			for _, c := range changed {
				if err == nil {
					err = b.Put(c.k, c.v)
				}
			}
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// compactDB rewrites the bbolt database at path without its free pages,
// which still hold what replaceInDB replaced.
func compactDB(t *testing.T, path string) {
	t.Helper()
	src, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := bolt.Open(path+".compact", 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bolt.Compact(dst, src, 0); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".compact", path); err != nil {
		t.Fatal(err)
	}
}

// writeTarGz writes the tree under dir into a gzipped tar at path, its
// names relative to dir, without the machine's owners.
func writeTarGz(path, dir string) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		if strings.HasSuffix(p, ".pid") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if d.Type()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
			if filepath.IsAbs(link) {
				return fmt.Errorf("%s links to the absolute path %s", p, link)
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			h.Name += "/"
		}
		h.Uname, h.Gname, h.Uid, h.Gid = "", "", 0, 0
		// Times stay: rsync tells changed files by size and time.
		h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// extractTarGz unpacks the gzipped tar at path into dir.
func extractTarGz(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if !filepath.IsLocal(h.Name) {
			return fmt.Errorf("%s: %q is outside the archive's directory", path, h.Name)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeSymlink:
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = os.Symlink(h.Linkname, p)
			}
		case tar.TypeReg:
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = writeFrom(p, tr, fs.FileMode(h.Mode).Perm(), h.ModTime)
			}
		default:
			err = fmt.Errorf("%s: %q is neither file, directory nor symbolic link", path, h.Name)
		}
		if err != nil {
			return err
		}
	}
}

func writeFrom(path string, r io.Reader, perm fs.FileMode, mtime time.Time) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chtimes(path, time.Time{}, mtime)
}
