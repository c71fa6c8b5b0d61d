package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
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

// botProcess is jouncebot run as its own program, with its log readable.
type botProcess struct {
	cmd *exec.Cmd

	mu      sync.Mutex
	log     strings.Builder
	changed chan struct{} // closed and replaced on every log line
	done    chan struct{} // closed when the log ends
}

func startBot(t *testing.T, args ...string) *botProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "JOUNCEBOT_TEST_RUN_MAIN=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &botProcess{cmd: cmd, changed: make(chan struct{}), done: make(chan struct{})}
	go b.read(stderr)
	t.Cleanup(func() {
		b.kill()
		if t.Failed() {
			t.Logf("jouncebot log:\n%s", b.logText())
		}
	})
	return b
}

func (b *botProcess) read(r io.Reader) {
	defer close(b.done)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		b.mu.Lock()
		b.log.WriteString(sc.Text() + "\n")
		close(b.changed)
		b.changed = make(chan struct{})
		b.mu.Unlock()
	}
}

func (b *botProcess) logText() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.log.String()
}

// waitLog waits until the log has a line containing s.
func (b *botProcess) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.NewTimer(matrixtest.DefaultWait)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		found, changed := strings.Contains(b.log.String(), s), b.changed
		b.mu.Unlock()
		if found {
			return
		}
		select {
		case <-changed:
		case <-b.done:
			t.Fatalf("jouncebot ended without logging %q", s)
		case <-deadline.C:
			t.Fatalf("jouncebot did not log %q", s)
		}
	}
}

// kill stops the process with SIGKILL, as a crash or the OOM killer would.
func (b *botProcess) kill() {
	b.cmd.Process.Kill()
	<-b.done
	b.cmd.Wait()
}

// stop stops it with SIGTERM and checks that it exits cleanly.
func (b *botProcess) stop(t *testing.T) {
	t.Helper()
	b.cmd.Process.Signal(syscall.SIGTERM)
	<-b.done
	if err := b.cmd.Wait(); err != nil {
		t.Errorf("jouncebot exit: %v", err)
	}
}

// A window notice is never lost or repeated by a kill (SIGKILL, the real
// program): killed while the notice waits in its queue, the next start
// sends it; killed after the homeserver stored it but before the bot heard
// so, the next start sends it again with the same transaction id and the
// homeserver keeps one. The room sees it exactly once.
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
	p := srv.Proxy(t)

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
	args := []string{"--config", cfg, "--no-console"}
	isNotice := matrixtest.Message(room, botUser.ID, func(c *event.MessageEventContent) bool {
		return strings.Contains(c.Body, "It's time for Kill test window.")
	})
	sends := make(chan struct{}, 1)
	sent := func(r *http.Request) bool {
		if !matrixtest.IsSend(r) {
			return false
		}
		select {
		case sends <- struct{}{}:
		default:
		}
		return true
	}
	waitSend := func() {
		t.Helper()
		select {
		case <-sends:
		case <-time.After(matrixtest.DefaultWait):
			t.Fatal("the bot did not try to send the notice")
		}
	}

	// 1. Every send is answered "too many requests": the notice stays in
	// the bot's queue, never reaching the homeserver, until the kill.
	p.Limit(1<<30, time.Second, sent)
	first := startBot(t, args...)
	waitSend()
	first.kill()

	// 2. Sends reach the homeserver, but its answers are lost: the notice
	// is in the room, and the bot is killed before it hears so.
	p.ClearLimits()
	p.Hold(sent)
	second := startBot(t, args...)
	w.Wait(t, isNotice)
	second.kill()

	// 3. A normal start sends it again, under the same transaction id,
	// and the homeserver keeps the one it has.
	p.ClearLimits()
	third := startBot(t, args...)
	third.waitLog(t, "notice delivered")
	third.stop(t)

	// Everything the bot sent is in the room before this line.
	if _, err := amir.SendText(ctx, room, "sentinel"); err != nil {
		t.Fatal(err)
	}
	w.Wait(t, matrixtest.Message(room, amir.UserID, nil))
	n := 0
	for _, ev := range w.Events() {
		if isNotice(ev) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the notice is in the room %d times; want once", n)
	}
	// It is recorded as sent, so no later start sends it.
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
