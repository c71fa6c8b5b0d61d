package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/web/cdptest"
)

// The status page in a real browser, driven by a real sandbox deploy: it
// shows the running stage with its host counts, turns to "done" on its own
// (no reload), keeps a hostile change subject inert, and fits a phone.
// Screenshots at desktop and phone width go to the artefact directory.
func TestStatusPageInChromium(t *testing.T) {
	t.Parallel()
	browser := cdptest.Chromium(t)
	s := startOps(t, time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC), nil, app.Options{StatusEvery: 200 * time.Millisecond})
	s.expect("Try `jouncebot: plan")

	hostile := `<script>document.body.setAttribute('data-pwned','subject')</script><img src=x onerror="alert(1)"> Raise the limit`
	n, err := s.app.Sandbox().Server.Upload(gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: gerrittest.ConfigBranch, Owner: "alice",
		Subject: hostile, Footers: []string{"Bug: T1004"},
		Files: []gerrittest.File{{Path: "wmf-config/Hostile.php", Content: "<?php\n$wgHostile = true;\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	s.say(fmt.Sprintf("jouncebot: deploy %d", n))
	s.expect("amir, alice: Backport for [[gerrit:")

	// Without JavaScript the page says the same.
	code, plain := get(t, s.base+"/")
	if code != http.StatusOK || !strings.Contains(plain, "Deploy 1 — running") || !strings.Contains(plain, "1/1 synced") {
		t.Fatalf("GET / while waiting at the testservers: %d\n%s", code, plain[strings.Index(plain, "<main"):])
	}
	if strings.Contains(plain, "<script>document") {
		t.Fatal("the hostile subject is in the page unescaped")
	}

	c := cdptest.Start(t, browser)
	tab := c.Page(t)
	c.Viewport(t, tab, 1280, 900, false)
	c.Load(t, tab, s.base+"/")
	c.WaitJS(t, tab, "the live stream", `document.getElementById("liveness").textContent === "Live."`)
	var page struct {
		State, Stage, Hosts, Pwned string
		Changes                    []string
		Scripts                    int
		Last                       [][2]string
	}
	read := func() {
		t.Helper()
		err := c.Eval(t, tab, `JSON.parse(JSON.stringify({
			State: document.getElementById("deploy").dataset.state,
			Stage: document.getElementById("deploy").dataset.stage || "",
			Hosts: [...document.querySelectorAll("tr.stage")].map(r => r.dataset.stage + " " + r.querySelector(".hosts").textContent).join("; "),
			Pwned: document.body.getAttribute("data-pwned") || "",
			Changes: [...document.querySelectorAll("#deploy ul li")].map(li => li.textContent),
			Scripts: document.scripts.length,
			Last: [...document.querySelectorAll("#last a")].map(a => [a.textContent, a.href]),
		}))`, &page)
		if err != nil {
			t.Fatal(err)
		}
	}
	read()
	if page.State != "running" || page.Stage != "testservers" {
		t.Errorf("the page shows state %q at stage %q; want running at testservers", page.State, page.Stage)
	}
	if page.Hosts != "testservers 1/1 synced; canaries 0/2 synced; production 0/5 synced" {
		t.Errorf("host counts: %q", page.Hosts)
	}
	if len(page.Changes) != 1 || page.Changes[0] != fmt.Sprintf("%d: %s", n, hostile) {
		t.Errorf("changes shown: %q; want the subject as text", page.Changes)
	}
	if page.Pwned != "" || page.Scripts != 1 {
		t.Errorf("a script ran or got in: data-pwned=%q, %d script elements", page.Pwned, page.Scripts)
	}
	// The last line's wikitext is a link to the change in the sandbox's
	// Gerrit, labelled with its subject as text.
	wantLast := [2]string{hostile + " (T1004)", strings.TrimRight(s.app.Sandbox().URL, "/") + "/" + fmt.Sprint(n)}
	if len(page.Last) == 0 || page.Last[0] != wantLast {
		t.Errorf("links of the last line: %q; want %q", page.Last, wantLast)
	}
	dir := cdptest.ArtifactDir(t)
	c.Screenshot(t, tab, dir, "status-desktop.png")
	c.Viewport(t, tab, 390, 844, true)
	var overflow bool
	if err := c.Eval(t, tab, `document.documentElement.scrollWidth > window.innerWidth + 1`, &overflow); err != nil {
		t.Fatal(err)
	}
	if overflow {
		t.Error("the page scrolls sideways at phone width")
	}
	c.Screenshot(t, tab, dir, "status-phone.png")
	t.Logf("screenshots in %s", dir)

	// The page turns to done on its own: the marker set now would not
	// survive a reload.
	var ok bool
	if err := c.Eval(t, tab, `window.sameDocument = true`, &ok); err != nil {
		t.Fatal(err)
	}
	s.say("tested ok")
	s.expect("amir: deploy 1 is done")
	c.WaitJS(t, tab, "the deploy to show done", `document.getElementById("deploy").dataset.state === "none" &&
		[...document.querySelectorAll("section[aria-labelledby=h-recent] td")].some(td => td.textContent === "done")`)
	if err := c.Eval(t, tab, `window.sameDocument === true`, &ok); err != nil || !ok {
		t.Errorf("the page was reloaded to show the end (%v)", err)
	}
	read()
	if page.Pwned != "" {
		t.Errorf("a script ran after the live update: data-pwned=%q", page.Pwned)
	}
	c.CheckNoDialogs(t)
	c.Viewport(t, tab, 1280, 900, false)
	c.Screenshot(t, tab, dir, "status-done-desktop.png")
}
