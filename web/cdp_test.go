package web

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jouncebot/jouncebot/sal"
	"github.com/jouncebot/jouncebot/web/cdptest"
)

func TestChromiumSearchForm(t *testing.T) {
	browser := cdptest.Chromium(t)
	l := newLog(t)
	hostileSearch := `apache2 "><script>document.body.setAttribute('data-pwned','q')</script>`
	appendAll(t, l,
		sal.Entry{Nick: "alice", Project: "production", Message: "restarted apache2 on mw1001"},
		sal.Entry{Nick: "mallory", Project: "production", Message: "restarted " + hostileSearch},
		sal.Entry{Nick: "bob", Project: "releng", Message: "scap sync-world"},
	)
	srv := httptest.NewServer(withoutCSP{New(Options{SAL: l, Links: links})})
	t.Cleanup(srv.Close)

	c := cdptest.Start(t, browser)
	s := c.Page(t)
	c.Load(t, s, srv.URL+"/sal")

	fill := fmt.Sprintf(`(() => {
		document.querySelector("input[name=q]").value = %q;
		document.querySelector("input[name=nick]").value = "mallory";
		document.querySelector("form.search button[type=submit]").click();
		return true;
	})()`, hostileSearch)
	var ok bool
	if err := c.Eval(t, s, fill, &ok); err != nil {
		t.Fatal(err)
	}
	c.WaitJS(t, s, "the results page", `document.readyState === "complete" && location.search.includes("nick=mallory")`)

	var page struct {
		URL, Title, Q, Nick, Pwned string
		Items                      []string
		Scripts                    int
	}
	err := c.Eval(t, s, `JSON.parse(JSON.stringify({
		URL: location.href, Title: document.title,
		Q: document.querySelector("input[name=q]").value,
		Nick: document.querySelector("input[name=nick]").value,
		Pwned: document.body.getAttribute("data-pwned") || "",
		Items: [...document.querySelectorAll("ul.log li")].map(li => li.textContent.replace(/\s+/g, " ").trim()),
		Scripts: document.scripts.length,
	}))`, &page)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(page.URL, srv.URL+"/sal?") || page.Title != "Server Admin Log" {
		t.Errorf("after submitting: %s %q", page.URL, page.Title)
	}
	if page.Q != hostileSearch || page.Nick != "mallory" {
		t.Errorf("the form shows q=%q nick=%q; want what was typed", page.Q, page.Nick)
	}
	if page.Pwned != "" || page.Scripts != 0 {
		t.Errorf("the search ran a script: data-pwned=%q, %d script elements", page.Pwned, page.Scripts)
	}
	c.CheckNoDialogs(t)
	if len(page.Items) != 1 || !strings.Contains(page.Items[0], "mallory: restarted "+hostileSearch) {
		t.Errorf("results: %q", page.Items)
	}
}
