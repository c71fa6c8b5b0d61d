package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/jouncebot/jouncebot/bot/matrix/matrixtest"
	"github.com/jouncebot/jouncebot/store"
)

// A window notice handed to the homeserver but not yet accepted when the
// bot is killed (SIGKILL, the real program) is delivered after the
// restart, exactly once.
func TestNoticeQueuedThenKilledIsDeliveredOnce(t *testing.T) {
	srv := matrixtest.Start(t)
	botUser := srv.CreateUser(t, "deploybot", "bot-password")
	amir := srv.Client(t, srv.CreateUser(t, "amir", "amir-password"))
	ctx := context.Background()
	resp, err := amir.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomAliasName: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	room := resp.RoomID
	w := matrixtest.Watch(t, amir)

	// Every send is answered "too many requests" until the limits are
	// cleared, so the notice stays queued in the first process.
	p := srv.Proxy(t)
	tried := make(chan struct{})
	var once sync.Once
	p.Limit(1<<30, time.Second, func(r *http.Request) bool {
		if !matrixtest.IsSend(r) {
			return false
		}
		once.Do(func() { close(tried) })
		return true
	})

	// A window that opened ten minutes ago, so the first start owes its
	// start notice.
	dir := t.TempDir()
	opened := time.Now().UTC().Add(-10 * time.Minute)
	yaml := `bot:
  nick: jouncebot
  data_dir: data
networks:
  - name: matrix
    type: matrix
    homeserver: ` + p.URL + `
    user_id: "` + botUser.ID.String() + `"
    password: {file: matrix-password}
    rooms: ["#ops:` + srv.ServerName + `"]
windows:
  - name: Kill test window
    kind: other
    schedule: "` + fmt.Sprintf("%d %d * * *", opened.Minute(), opened.Hour()) + `"
    timezone: UTC
    duration: 1h
`
	cfg := filepath.Join(dir, "jouncebot.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "matrix-password"), []byte(botUser.Password), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func() (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(os.Args[0], "--config", cfg, "--no-console", "--log-level", "debug")
		cmd.Env = append(os.Environ(), "JOUNCEBOT_TEST_RUN_MAIN=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		logs := &bytes.Buffer{}
		cmd.Stderr = logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, logs
	}

	first, logs := start()
	select {
	case <-tried:
	case <-time.After(matrixtest.DefaultWait):
		first.Process.Kill()
		first.Wait()
		t.Fatalf("the bot never tried to send the notice; its log:\n%s", logs)
	}
	first.Process.Kill()
	first.Wait()

	p.ClearLimits()
	second, logs := start()
	notice := func(ev *event.Event) bool {
		return matrixtest.Message(room, botUser.ID, func(c *event.MessageEventContent) bool {
			return strings.Contains(c.Body, "It's time for Kill test window.")
		})(ev)
	}
	if _, err := w.WaitFor(matrixtest.DefaultWait, notice); err != nil {
		second.Process.Kill()
		second.Wait()
		t.Fatalf("the notice was not delivered after the restart: %v; the bot's log:\n%s", err, logs)
	}
	second.Process.Signal(syscall.SIGTERM)
	if err := second.Wait(); err != nil {
		t.Errorf("second run: %v; log:\n%s", err, logs)
	}

	// Everything the bot sent is in the room before this line.
	if _, err := amir.SendText(ctx, room, "sentinel"); err != nil {
		t.Fatal(err)
	}
	w.Wait(t, matrixtest.Message(room, amir.UserID, nil))
	n := 0
	for _, ev := range w.Events() {
		if notice(ev) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the notice arrived %d times; want once", n)
	}
	// And it is recorded as sent, so a third start does not send it again.
	db, err := store.Open(filepath.Join(dir, "data", "jouncebot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	end := opened.Truncate(time.Minute).Add(time.Hour).Format(time.RFC3339)
	recorded := 0
	db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(store.Notices).ForEach(func(k, v []byte) error {
			if strings.HasPrefix(string(k), "start|") && strings.HasSuffix(string(k), "|"+end) {
				recorded++
				if string(v) != "sent" {
					t.Errorf("notice %s is %q after delivery; want sent", k, v)
				}
			}
			return nil
		})
	})
	if recorded != 1 {
		t.Errorf("%d start notices of the window ending %s recorded; want 1", recorded, end)
	}
}
