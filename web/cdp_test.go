package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/internal/testenv"
	"github.com/jouncebot/jouncebot/sal"
	"github.com/jouncebot/jouncebot/web/cdptest"
)

// cdp is a minimal Chrome DevTools Protocol client over
// --remote-debugging-pipe: JSON messages ended by a NUL byte, commands on
// the browser's fd 3, answers and events on its fd 4.
type cdp struct {
	w       *os.File
	mu      sync.Mutex
	next    int
	waiting map[int]chan cdpAnswer
	dialogs []string // messages of alert/confirm/prompt dialogs pages opened
}

type cdpAnswer struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func startCDP(t *testing.T, browser string) *cdp {
	t.Helper()
	toBrowser, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmdR, fromBrowser, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{toBrowser, fromBrowser}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	toBrowser.Close()
	fromBrowser.Close()
	c := &cdp{w: cmdW, waiting: map[int]chan cdpAnswer{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := bufio.NewReader(cmdR)
		for {
			msg, err := r.ReadBytes(0)
			if err != nil {
				return
			}
			var m struct {
				ID        int    `json:"id"`
				Method    string `json:"method"`
				SessionID string `json:"sessionId"`
				Params    struct {
					Message string `json:"message"`
				} `json:"params"`
				cdpAnswer
			}
			if json.Unmarshal(msg[:len(msg)-1], &m) != nil {
				continue
			}
			if m.Method == "Page.javascriptDialogOpening" {
				// Script ran: note it, and dismiss the dialog so the page
				// does not hang.
				c.mu.Lock()
				c.dialogs = append(c.dialogs, m.Params.Message)
				c.next++
				b, _ := json.Marshal(map[string]any{"id": c.next, "sessionId": m.SessionID, "method": "Page.handleJavaScriptDialog", "params": map[string]any{"accept": false}})
				c.w.Write(append(b, 0))
				c.mu.Unlock()
				continue
			}
			if m.ID == 0 {
				continue // another event
			}
			c.mu.Lock()
			ch := c.waiting[m.ID]
			delete(c.waiting, m.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- m.cdpAnswer
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		cmdW.Close()
		cmdR.Close()
		<-done
	})
	return c
}

// call sends a command (to a page session when session is set) and waits
// for its answer.
func (c *cdp) call(t *testing.T, session, method string, params any, result any) error {
	t.Helper()
	c.mu.Lock()
	c.next++
	id := c.next
	ch := make(chan cdpAnswer, 1)
	c.waiting[id] = ch
	c.mu.Unlock()
	msg := map[string]any{"id": id, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	b, _ := json.Marshal(msg)
	c.mu.Lock()
	_, err := c.w.Write(append(b, 0))
	c.mu.Unlock()
	if err != nil {
		t.Fatalf("cdp %s: %v", method, err)
	}
	select {
	case a := <-ch:
		if a.Error != nil {
			return fmt.Errorf("%s: %s", method, a.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(a.Result, result)
		}
		return nil
	case <-time.After(testenv.Scale(30 * time.Second)):
		t.Fatalf("cdp %s: no answer in 30s", method)
		return nil
	}
}

// eval evaluates a JavaScript expression in the page and decodes its value.
// It fails (and can be retried) while the page is navigating.
func (c *cdp) eval(t *testing.T, session, expr string, v any) error {
	t.Helper()
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := c.call(t, session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res); err != nil {
		return err
	}
	if res.ExceptionDetails != nil {
		return fmt.Errorf("javascript: %s", res.ExceptionDetails.Text)
	}
	return json.Unmarshal(res.Result.Value, v)
}

// waitJS polls a JavaScript condition until it is true.
func (c *cdp) waitJS(t *testing.T, session, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(testenv.Scale(30 * time.Second))
	for {
		var ok bool
		if err := c.eval(t, session, cond, &ok); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// page opens a blank tab and returns its session.
func (c *cdp) page(t *testing.T) string {
	t.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := c.call(t, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		t.Fatal(err)
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := c.call(t, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		t.Fatal(err)
	}
	if err := c.call(t, attached.SessionID, "Page.enable", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
	return attached.SessionID
}

// checkNoDialogs fails if any page opened a JavaScript dialog.
func (c *cdp) checkNoDialogs(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.dialogs) > 0 {
		t.Errorf("pages ran scripts that opened dialogs: %q", c.dialogs)
	}
}

// load navigates the tab to u and returns the DOM the browser built, after
// the load event (and the scripts it would have run, had there been any).
func (c *cdp) load(t *testing.T, session, u string) string {
	t.Helper()
	if err := c.call(t, session, "Page.navigate", map[string]any{"url": u}, nil); err != nil {
		t.Fatal(err)
	}
	c.waitJS(t, session, u, fmt.Sprintf(`location.href === %q && document.readyState === "complete"`, u))
	var dom string
	if err := c.eval(t, session, "document.documentElement.outerHTML", &dom); err != nil {
		t.Fatal(err)
	}
	return dom
}

// TestChromiumSearchForm types a hostile search into the form on /sal,
// submits it, and checks the results page in the browser.
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

	c := startCDP(t, browser)
	s := c.page(t)
	c.load(t, s, srv.URL+"/sal")

	fill := fmt.Sprintf(`(() => {
		document.querySelector("input[name=q]").value = %q;
		document.querySelector("input[name=nick]").value = "mallory";
		document.querySelector("form.search button[type=submit]").click();
		return true;
	})()`, hostileSearch)
	var ok bool
	if err := c.eval(t, s, fill, &ok); err != nil {
		t.Fatal(err)
	}
	c.waitJS(t, s, "the results page", `document.readyState === "complete" && location.search.includes("nick=mallory")`)

	var page struct {
		URL, Title, Q, Nick, Pwned string
		Items                      []string
		Scripts                    int
	}
	err := c.eval(t, s, `JSON.parse(JSON.stringify({
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
	c.checkNoDialogs(t)
	if len(page.Items) != 1 || !strings.Contains(page.Items[0], "mallory: restarted "+hostileSearch) {
		t.Errorf("results: %q", page.Items)
	}
}
