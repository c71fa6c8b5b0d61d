// Package cdptest drives a headless Chromium from tests through the Chrome
// DevTools Protocol, with no library: start it with Start, open a tab with
// Page, navigate with Load, read the page with Eval, and take screenshots
// with Screenshot.
//
//	b := cdptest.Start(t, cdptest.Chromium(t))
//	tab := b.Page(t)
//	dom := b.Load(t, tab, srv.URL+"/")
package cdptest

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/internal/testenv"
)

// Chromium finds the browser, or skips the test unless the test servers
// are required (JOUNCEBOT_TEST_SERVERS=required), when its absence is a
// failure.
func Chromium(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Missing(t, "chromium is not installed; run scripts/install/chromium.sh")
	}
	return path
}

// Browser is a minimal Chrome DevTools Protocol client over
// --remote-debugging-pipe: JSON messages ended by a NUL byte, commands on
// the browser's fd 3, answers and events on its fd 4.
type Browser struct {
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

func Start(t *testing.T, browser string) *Browser {
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
	c := &Browser{w: cmdW, waiting: map[int]chan cdpAnswer{}}
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

// Call sends a command (to a page session when session is set) and waits
// for its answer.
func (c *Browser) Call(t *testing.T, session, method string, params any, result any) error {
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
	case <-time.After(30 * time.Second):
		t.Fatalf("cdp %s: no answer in 30s", method)
		return nil
	}
}

// Eval evaluates a JavaScript expression in the page and decodes its value.
// It fails (and can be retried) while the page is navigating.
func (c *Browser) Eval(t *testing.T, session, expr string, v any) error {
	t.Helper()
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := c.Call(t, session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res); err != nil {
		return err
	}
	if res.ExceptionDetails != nil {
		return fmt.Errorf("javascript: %s", res.ExceptionDetails.Text)
	}
	return json.Unmarshal(res.Result.Value, v)
}

// WaitJS polls a JavaScript condition until it is true.
func (c *Browser) WaitJS(t *testing.T, session, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ok bool
		if err := c.Eval(t, session, cond, &ok); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Page opens a blank tab and returns its session.
func (c *Browser) Page(t *testing.T) string {
	t.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := c.Call(t, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		t.Fatal(err)
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := c.Call(t, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(t, attached.SessionID, "Page.enable", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
	return attached.SessionID
}

// CheckNoDialogs fails if any page opened a JavaScript dialog.
func (c *Browser) CheckNoDialogs(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.dialogs) > 0 {
		t.Errorf("pages ran scripts that opened dialogs: %q", c.dialogs)
	}
}

// Load navigates the tab to u and returns the DOM the browser built, after
// the load event (and the scripts it would have run, had there been any).
func (c *Browser) Load(t *testing.T, session, u string) string {
	t.Helper()
	if err := c.Call(t, session, "Page.navigate", map[string]any{"url": u}, nil); err != nil {
		t.Fatal(err)
	}
	c.WaitJS(t, session, u, fmt.Sprintf(`location.href === %q && document.readyState === "complete"`, u))
	var dom string
	if err := c.Eval(t, session, "document.documentElement.outerHTML", &dom); err != nil {
		t.Fatal(err)
	}
	return dom
}

// Viewport sets the tab's size in CSS pixels, and whether it is a phone
// (touch, mobile layout).
func (c *Browser) Viewport(t *testing.T, session string, width, height int, mobile bool) {
	t.Helper()
	err := c.Call(t, session, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

// Screenshot writes a PNG of the whole page to dir/name and returns its
// path.
func (c *Browser) Screenshot(t *testing.T, session, dir, name string) string {
	t.Helper()
	var shot struct {
		Data string `json:"data"`
	}
	if err := c.Call(t, session, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &shot); err != nil {
		t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// ArtifactDir is where tests keep screenshots: $JOUNCEBOT_TEST_ARTIFACTS
// when set (created if needed), else a temporary directory of the test.
func ArtifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("JOUNCEBOT_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
