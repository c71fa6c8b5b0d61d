// Package wikitest runs a real MediaWiki (Debian's mediawiki package under
// PHP's built-in web server) for tests.
//
//	w := wikitest.Start(t)                       // a fresh wiki, stopped at cleanup
//	w.EditPage(t, "Deployments", text)           // as the administrator
//	c := w.Client(t)                             // a wiki.Client logged in as DeployBot@ci
//	w.Stop()                                     // the wiki goes down...
//	w.Restart(t)                                 // ...and comes back on the same URL
//
// Installing MediaWiki is not this package's job: scripts/install/mediawiki.sh
// does it. When php or MediaWiki is missing, Start skips the test, or fails
// it when JOUNCEBOT_TEST_SERVERS=required.
//
// The first Start in a test process creates a template wiki (install.php,
// ≈2 s) with the bot account DeployBot and the bot password DeployBot@ci;
// every Start copies the template into t.TempDir() (a few ms) and serves
// the copy on a free loopback port. The ParserFunctions extension is
// loaded with string functions, as on Wikimedia wikis.
package wikitest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/internal/testenv"
	"github.com/jouncebot/jouncebot/wiki"
)

// MediaWikiDir is where Debian installs MediaWiki.
const MediaWikiDir = "/usr/share/mediawiki"

// Account names in every test wiki.
const (
	BotName   = "DeployBot"
	BotUser   = "DeployBot@ci" // bot password login name
	AdminName = "Admin"
	adminUser = "Admin@test"
)

// Wiki is one running test wiki.
type Wiki struct {
	// URL is the wiki's base URL, e.g. http://127.0.0.1:40123.
	URL string
	// API is the URL of api.php.
	API string
	// BotUser and BotPassword log in as the bot (a member of the bot group).
	BotUser     string
	BotPassword string
	// Dir holds LocalSettings.php, the SQLite files and server.log.
	Dir string

	adminPassword string
	addr          string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	admin  *wiki.Client
}

type template struct {
	dir           string
	botPassword   string
	adminPassword string
	took          time.Duration
	err           error
}

var (
	tmplOnce sync.Once
	tmpl     template
)

// Available says why MediaWiki cannot run here, or "" when it can.
func Available() string {
	if _, err := exec.LookPath("php"); err != nil {
		return "php is not installed"
	}
	if _, err := os.Stat(filepath.Join(MediaWikiDir, "maintenance", "install.php")); err != nil {
		return "MediaWiki is not installed in " + MediaWikiDir
	}
	return ""
}

// Start creates a fresh wiki for t and serves it until t's cleanup.
func Start(t testing.TB) *Wiki {
	t.Helper()
	if why := Available(); why != "" {
		msg := why + "; run scripts/install/mediawiki.sh"
		testenv.Missing(t, "wikitest: "+msg)
	}
	tmplOnce.Do(func() { tmpl = makeTemplate() })
	if tmpl.err != nil {
		t.Fatalf("wikitest: creating the template wiki: %v", tmpl.err)
	}
	dir := filepath.Join(t.TempDir(), "wiki")
	if out, err := exec.Command("cp", "-a", tmpl.dir, dir).CombinedOutput(); err != nil {
		t.Fatalf("wikitest: copying the template wiki: %v: %s", err, out)
	}
	w := &Wiki{
		BotUser:       BotUser,
		BotPassword:   tmpl.botPassword,
		Dir:           dir,
		adminPassword: tmpl.adminPassword,
	}
	t.Cleanup(w.Stop)
	if err := w.start(); err != nil {
		t.Fatalf("wikitest: %v", err)
	}
	return w
}

// TemplateTime says how long creating the template wiki took (0 before
// the first Start).
func TemplateTime() time.Duration { return tmpl.took }

func (w *Wiki) start() error {
	var err error
	for range 3 { // a free port can be taken between probing and binding
		addr := w.addr
		if addr == "" {
			if addr, err = freeAddr(); err != nil {
				return err
			}
		}
		if err = w.serve(addr); err == nil {
			w.addr = addr
			w.URL = "http://" + addr
			w.API = w.URL + "/api.php"
			return nil
		}
	}
	return err
}

func freeAddr() (string, error) { return testenv.FreeAddr() }

func (w *Wiki) serve(addr string) error {
	logf, err := os.OpenFile(filepath.Join(w.Dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	// php -S caches compiled files (opcache is on for the built-in
	// server) and by default looks at a file's mtime at most every 2 s:
	// a test that edits LocalSettings.php and asks the wiki at once would
	// get the old settings. Look at every request.
	cmd := exec.Command("php", "-d", "opcache.revalidate_freq=0", "-S", addr, "-t", MediaWikiDir)
	cmd.Dir = w.Dir
	cmd.Env = append(os.Environ(), "MW_CONFIG_FILE="+filepath.Join(w.Dir, "LocalSettings.php"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting php -S: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	w.mu.Lock()
	w.cmd, w.exited = cmd, exited
	w.mu.Unlock()
	url := "http://" + addr + "/api.php?action=query&meta=siteinfo&format=json"
	for deadline := time.Now().Add(testenv.Scale(15 * time.Second)); time.Now().Before(deadline); {
		select {
		case <-exited:
			return fmt.Errorf("php -S on %s exited at once; see %s", addr, filepath.Join(w.Dir, "server.log"))
		default:
		}
		resp, err := probe.Get(url)
		if err == nil {
			ok := resp.StatusCode == 200 && resp.Header.Get("Content-Type") != "" &&
				strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json")
			resp.Body.Close()
			if ok {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond) // polling for readiness, not synchronisation
	}
	w.Stop()
	return fmt.Errorf("the wiki on %s did not answer within 15s; see %s", addr, filepath.Join(w.Dir, "server.log"))
}

var probe = &http.Client{Timeout: 5 * time.Second}

// Stop kills the web server (the wiki goes down; its data stays).
// Calling it on a stopped wiki does nothing.
func (w *Wiki) Stop() {
	w.mu.Lock()
	cmd, exited := w.cmd, w.exited
	w.cmd = nil
	w.mu.Unlock()
	if cmd == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
}

// Restart serves the wiki again on the same address after Stop.
func (w *Wiki) Restart(t testing.TB) {
	t.Helper()
	var err error
	for range 50 { // the old socket may take a moment to be released
		if err = w.serve(w.addr); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("wikitest: restarting the wiki on %s: %v", w.addr, err)
}

// Client returns a new client logged in as the bot (it logs in on first
// use). Options in opt other than API, User and Password are kept.
func (w *Wiki) Client(t testing.TB, opt ...wiki.Options) *wiki.Client {
	t.Helper()
	var o wiki.Options
	if len(opt) > 0 {
		o = opt[0]
	}
	o.API, o.User, o.Password = w.API, w.BotUser, config.NewSecret(w.BotPassword)
	c, err := wiki.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// EditPage saves text as the page's new content, as the administrator.
func (w *Wiki) EditPage(t testing.TB, title, text string) {
	t.Helper()
	w.mu.Lock()
	if w.admin == nil {
		w.admin, _ = wiki.New(wiki.Options{API: w.API, User: adminUser, Password: config.NewSecret(w.adminPassword)})
	}
	admin := w.admin
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.Edit(ctx, title, func(string) string { return text }, "test setup"); err != nil {
		t.Fatalf("wikitest: editing %q as admin: %v", title, err)
	}
}

// ServerLog returns what the web server wrote so far (one line per request).
func (w *Wiki) ServerLog() string {
	b, _ := os.ReadFile(filepath.Join(w.Dir, "server.log"))
	return string(b)
}

func makeTemplate() (tm template) {
	start := time.Now()
	defer func() { tm.took = time.Since(start) }()
	removeStaleTemplates()
	dir, err := os.MkdirTemp("", "jouncebot-wikitest-"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return template{err: err}
	}
	tm.dir = filepath.Join(dir, "wiki")
	tm.botPassword = secret() // bot password secrets must match [0-9a-w]{32,}
	tm.adminPassword = secret()
	if err := os.Mkdir(tm.dir, 0o755); err != nil {
		return template{err: err}
	}
	settings := filepath.Join(tm.dir, "LocalSettings.php")
	maint := filepath.Join(MediaWikiDir, "maintenance")
	steps := [][]string{
		{filepath.Join(maint, "install.php"), "--dbtype", "sqlite", "--dbpath", filepath.Join(tm.dir, "data"),
			"--dbname", "wiki", "--server", "http://127.0.0.1", "--scriptpath", "", "--lang", "en",
			"--pass", "Adm-" + tm.adminPassword, "--confpath", tm.dir, "TestWiki", AdminName},
		{filepath.Join(maint, "createAndPromote.php"), "--bot", BotName, "Bot-" + tm.botPassword},
		{filepath.Join(maint, "createBotPassword.php"), "--appid", "ci",
			"--grants", "basic,highvolume,editpage,createeditmovepage", BotName, tm.botPassword},
		{filepath.Join(maint, "createBotPassword.php"), "--appid", "test",
			"--grants", "basic,highvolume,editpage,editprotected,createeditmovepage,delete", AdminName, tm.adminPassword},
	}
	for i, args := range steps {
		if i == 1 {
			if err := tweakSettings(settings); err != nil {
				return template{err: err}
			}
		}
		cmd := exec.Command("php", args...)
		cmd.Dir = tm.dir
		cmd.Env = append(os.Environ(), "MW_CONFIG_FILE="+settings)
		if out, err := cmd.CombinedOutput(); err != nil {
			return template{err: fmt.Errorf("%s: %v: %s", filepath.Base(args[0]), err, bytes.TrimSpace(out))}
		}
	}
	return tm
}

// tweakSettings makes the wiki copyable and usable on any port, and lets
// bots edit without rate limits.
func tweakSettings(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "$wgServer = "):
			l = "$wgServer = WebRequest::detectServer();"
		case strings.HasPrefix(l, "$wgSQLiteDataDir = "):
			l = `$wgSQLiteDataDir = __DIR__ . "/data";`
		}
		out = append(out, l)
	}
	out = append(out,
		"# Added by wikitest.",
		"$wgGroupPermissions['bot']['noratelimit'] = true;",
		"$wgEnableEmail = false;",
		`wfLoadExtension( "ParserFunctions" );`,
		"$wgPFEnableStringFunctions = true;",
		"")
	s := strings.Join(out, "\n")
	if !strings.Contains(s, "WebRequest::detectServer()") || !strings.Contains(s, `__DIR__ . "/data"`) {
		return errors.New("LocalSettings.php written by install.php has no $wgServer or $wgSQLiteDataDir line")
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

func secret() string {
	b := make([]byte, 20)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// removeStaleTemplates deletes template wikis left by test processes that
// are gone (their pid is in the directory name).
func removeStaleTemplates() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "jouncebot-wikitest-*-*"))
	for _, d := range dirs {
		f := strings.Split(filepath.Base(d), "-")
		pid, err := strconv.Atoi(f[2])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); errors.Is(err, os.ErrNotExist) {
			os.RemoveAll(d)
		}
	}
}
