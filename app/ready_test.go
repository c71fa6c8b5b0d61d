package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lrstanley/girc"

	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/bot/irc/irctest"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// /readyz follows the real IRC server: ready once the bot is connected,
// not ready (with the reason under ?verbose) when the server is stopped,
// ready again after the bot reconnected. /livez stays 200 throughout.
func TestReadyzFollowsIRC(t *testing.T) {
	t.Parallel()
	ircd := irctest.Start(t)
	alice := ircd.Client(t, irctest.ClientConfig{Nick: "alice"})
	alice.Join(t, "#ops")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pw"), []byte("x"), 0o600)
	addr := freeAddr(t)
	cfg, err := config.Parse([]byte(`
bot: {nick: jouncebot, data_dir: data, http: "`+addr+`", base_url: "http://`+addr+`"}
networks:
  - {name: libera, type: irc, server: "`+ircd.Addr+`", channels: [{name: "#ops"}]}
windows:
  - {name: UTC afternoon backport window, kind: backport, schedule: "0 14 * * *", duration: 1h}
deploy:
  gerrit: {url: "http://127.0.0.1:1/", username: bot, password: {file: pw}}
`), "jouncebot.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	// No grace: a network down is not ready at once.
	a, err := app.New(app.Options{Config: cfg, Log: slog.New(slog.DiscardHandler), ReadyGrace: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + addr

	waitStatus(t, base+"/readyz", http.StatusOK, "")
	alice.WaitEvent(t, func(e *girc.Event) bool {
		return e.Command == girc.JOIN && e.Source != nil && e.Source.Name == "jouncebot"
	})

	ircd.Stop()
	body := waitStatus(t, base+"/readyz?verbose", http.StatusServiceUnavailable, "[-]network libera failed")
	for _, want := range []string{"[+]database ok", "[+]calendar ok", "readyz check failed"} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz?verbose with IRC down lacks %q:\n%s", want, body)
		}
	}
	if code, _ := get(t, base+"/livez"); code != http.StatusOK {
		t.Errorf("/livez with IRC down: %d", code)
	}
	if v := mustValue(t, scrape(t, base), "jouncebot_chat_connected", "network=libera"); v != 0 {
		t.Errorf("jouncebot_chat_connected with IRC down = %v", v)
	}

	ircd.Restart(t)
	body = waitStatus(t, base+"/readyz?verbose", http.StatusOK, "[+]network libera ok")
	if !strings.Contains(body, "readyz check passed") {
		t.Errorf("/readyz?verbose after the reconnect:\n%s", body)
	}
	if code, text := get(t, base+"/readyz"); code != http.StatusOK || text != "ok\n" {
		t.Errorf("/readyz after the reconnect: %d %q", code, text)
	}
	after := scrape(t, base)
	if v := mustValue(t, after, "jouncebot_chat_connected", "network=libera"); v != 1 {
		t.Errorf("jouncebot_chat_connected after the reconnect = %v", v)
	}
	if v := mustValue(t, after, "jouncebot_chat_reconnects_total", "network=libera"); v != 1 {
		t.Errorf("jouncebot_chat_reconnects_total after one outage = %v", v)
	}
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitStatus polls u until it answers code with a body containing want,
// failing after two minutes (reconnects back off for a while).
func waitStatus(t *testing.T, u string, code int, want string) string {
	t.Helper()
	deadline := time.Now().Add(testenv.Scale(2 * time.Minute))
	for {
		c, body := get(t, u)
		if c == code && strings.Contains(body, want) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered %d with %q; last %d:\n%s", u, code, want, c, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
