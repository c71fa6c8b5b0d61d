package matrix

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/bot/matrix/matrixtest"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/internal/testenv"
	"github.com/jouncebot/jouncebot/store"
)

// env is a homeserver with the bot's account, a configured person (alice)
// and a stranger (mallory).
type env struct {
	srv     *matrixtest.Server
	botUser matrixtest.User
	alice   *mautrix.Client
	aliceW  *matrixtest.Watcher
	mallory *mautrix.Client
	dbPath  string
	allowed map[string]bool
	log     *slog.Logger // the transport's log; testLog when nil
}

func newEnv(t *testing.T, opts ...matrixtest.Option) *env {
	t.Helper()
	srv := matrixtest.Start(t, opts...)
	e := &env{srv: srv, dbPath: filepath.Join(t.TempDir(), "jouncebot.db")}
	e.botUser = srv.CreateUser(t, "deploybot", "bot-password")
	e.alice = srv.Client(t, srv.CreateUser(t, "alice", "alice-password"))
	e.mallory = srv.Client(t, srv.CreateUser(t, "mallory", "mallory-password"))
	e.aliceW = matrixtest.Watch(t, e.alice)
	e.allowed = map[string]bool{e.alice.UserID.String(): true}
	return e
}

func (e *env) network(rooms ...string) config.Network {
	pw := config.NewSecret(e.botUser.Password)
	return config.Network{
		Name: "matrix", Type: "matrix", Homeserver: e.srv.URL, UserID: e.botUser.ID.String(),
		Password: &pw, Rooms: rooms, BridgePuppets: []string{"@irc_"},
	}
}

// running is one run of the transport.
type running struct {
	tr   *Transport
	rec  *recorder
	stop func()
}

// start runs the transport with a handler that answers "ping X" with a
// mention of the sender and "pong X", and records every message. The
// handler is called directly by the transport, so records are in the order
// the transport delivered them.
func (e *env) start(t *testing.T, n config.Network) *running {
	t.Helper()
	db, err := store.Open(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	log := e.log
	if log == nil {
		log = testLog(t)
	}
	tr, err := New(Config{Network: n, Nick: "jouncebot", DB: db, MayInvite: func(u string) bool { return e.allowed[u] }, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx, pingHandler(tr, rec)) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
		db.Close()
	}
	t.Cleanup(stop)
	select {
	case <-tr.Ready():
	case err := <-done:
		t.Fatalf("Run ended before ready: %v", err)
	case <-time.After(testenv.Scale(30 * time.Second)):
		t.Fatalf("transport not ready after 30s; status %q", tr.Status())
	}
	return &running{tr: tr, rec: rec, stop: stop}
}

func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

type recorder struct {
	mu   sync.Mutex
	msgs []bot.Message
}

func (r *recorder) add(m bot.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

func (r *recorder) texts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		out = append(out, m.Text)
	}
	return out
}

func (r *recorder) all() []bot.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bot.Message(nil), r.msgs...)
}

// pingHandler records every message and answers pings.
func pingHandler(tr bot.Transport, rec *recorder) bot.Handler {
	return bot.HandlerFunc(func(ctx context.Context, r *bot.Request) {
		rec.add(r.Message)
		text := r.Text
		if !r.Private {
			var ok bool
			if text, ok = strings.CutPrefix(text, "jouncebot: "); !ok {
				return
			}
		}
		arg, ok := strings.CutPrefix(text, "ping")
		if !ok {
			return
		}
		who := bot.M(bot.Person{Name: r.Nick, MatrixID: r.Account})
		_ = tr.Send(ctx, r.ReplyTarget(), bot.Join(who, bot.T(": pong"+arg)))
	})
}

func (e *env) publicRoom(t *testing.T) id.RoomID {
	t.Helper()
	resp, err := e.alice.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "deployments"})
	if err != nil {
		t.Fatal(err)
	}
	return resp.RoomID
}

func send(t *testing.T, cli *mautrix.Client, room id.RoomID, body string) {
	t.Helper()
	if _, err := cli.SendText(context.Background(), room, body); err != nil {
		t.Fatalf("send %q: %v", body, err)
	}
}

// waitReply waits for the bot's answer with this body in room.
func (e *env) waitReply(t *testing.T, room id.RoomID, body string) *event.MessageEventContent {
	t.Helper()
	ev := e.aliceW.Wait(t, matrixtest.Message(room, e.botUser.ID, func(c *event.MessageEventContent) bool { return c.Body == body }))
	return ev.Content.AsMessage()
}

func TestRoundTripInRoom(t *testing.T) {
	e := newEnv(t)
	room := e.publicRoom(t)
	r := e.start(t, e.network(room.String()))

	send(t, e.alice, room, "jouncebot: ping 1")
	got := e.waitReply(t, room, "alice: pong 1")

	want := &event.MessageEventContent{
		MsgType:       event.MsgNotice,
		Body:          "alice: pong 1",
		Format:        event.FormatHTML,
		FormattedBody: `<a href="https://matrix.to/#/@alice:localhost">alice</a>: pong 1`,
		Mentions:      &event.Mentions{UserIDs: []id.UserID{e.alice.UserID}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(event.MessageEventContent{})); diff != "" {
		t.Errorf("reply (-want +got):\n%s", diff)
	}
	msgs := r.rec.all()
	if len(msgs) != 1 {
		t.Fatalf("handler saw %d messages, want 1: %v", len(msgs), r.rec.texts())
	}
	m := msgs[0]
	m.ID, m.Time = "", time.Time{}
	wantMsg := bot.Message{Network: "matrix", Room: room.String(), Nick: "alice", Account: "@alice:localhost", Text: "jouncebot: ping 1",
		Sender: bot.Person{Name: "@alice:localhost", MatrixID: "@alice:localhost"}}
	if diff := cmp.Diff(wantMsg, m); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
}

func TestAddressingForms(t *testing.T) {
	e := newEnv(t)
	room := e.publicRoom(t)
	botCli := e.srv.Client(t, e.botUser)
	if err := botCli.SetDisplayName(context.Background(), "Deploy Bot"); err != nil {
		t.Fatal(err)
	}
	r := e.start(t, e.network(room.String()))

	pill := &event.MessageEventContent{
		MsgType: event.MsgText, Body: "Deploy Bot: ping pill", Format: event.FormatHTML,
		FormattedBody: `<a href="https://matrix.to/#/@deploybot:localhost">Deploy Bot</a>: ping pill`,
		Mentions:      &event.Mentions{UserIDs: []id.UserID{e.botUser.ID}},
	}
	if _, err := e.alice.SendMessageEvent(context.Background(), room, event.EventMessage, pill); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"deploybot, ping local", "Deploy Bot: ping name", "JounceBot: ping nick", "just chatting"} {
		send(t, e.alice, room, body)
	}
	send(t, e.alice, room, "jouncebot: ping last")
	e.waitReply(t, room, "alice: pong last")

	want := []string{"jouncebot: ping pill", "jouncebot: ping local", "jouncebot: ping name", "jouncebot: ping nick", "just chatting", "jouncebot: ping last"}
	if diff := cmp.Diff(want, r.rec.texts()); diff != "" {
		t.Errorf("delivered texts (-want +got):\n%s", diff)
	}
}

func TestRoundTripInDirectMessage(t *testing.T) {
	e := newEnv(t)
	e.start(t, e.network())
	resp, err := e.alice.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{
		Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{e.botUser.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	dm := resp.RoomID
	e.aliceW.Wait(t, matrixtest.Member(dm, e.botUser.ID, event.MembershipJoin))

	send(t, e.alice, dm, "ping dm")
	got := e.waitReply(t, dm, "alice: pong dm")
	if got.MsgType != event.MsgNotice || got.Mentions == nil || !cmp.Equal(got.Mentions.UserIDs, []id.UserID{e.alice.UserID}) {
		t.Errorf("reply = %+v, want an m.notice mentioning alice", got)
	}
}

func TestDirectMessageIsPrivate(t *testing.T) {
	e := newEnv(t)
	r := e.start(t, e.network())
	resp, err := e.alice.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{
		Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{e.botUser.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.aliceW.Wait(t, matrixtest.Member(resp.RoomID, e.botUser.ID, event.MembershipJoin))
	send(t, e.alice, resp.RoomID, "ping")
	e.waitReply(t, resp.RoomID, "alice: pong")
	msgs := r.rec.all()
	if len(msgs) != 1 || !msgs[0].Private || msgs[0].Room != resp.RoomID.String() {
		t.Errorf("messages = %+v, want one private message in the DM room", msgs)
	}
}

// Invites arrive together on a server that allows the bot one join or
// leave per 300 ms: the stranger's is rejected and alice's accepted, each
// retried after retry_after_ms as needed.
func TestInvites(t *testing.T) {
	e := newEnv(t, matrixtest.WithRateLimit(1, 300*time.Millisecond))
	e.start(t, e.network())
	ctx := context.Background()
	malloryW := matrixtest.Watch(t, e.mallory)
	invite := func(cli *mautrix.Client) id.RoomID {
		t.Helper()
		var room id.RoomID
		err := matrixtest.WaitOutLimits(ctx, func() error {
			resp, err := cli.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{e.botUser.ID}})
			if err == nil {
				room = resp.RoomID
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return room
	}
	strange, friendly := invite(e.mallory), invite(e.alice)

	// The stranger's invite is rejected, not left pending.
	malloryW.Wait(t, matrixtest.Member(strange, e.botUser.ID, event.MembershipLeave))
	e.aliceW.Wait(t, matrixtest.Member(friendly, e.botUser.ID, event.MembershipJoin))
	members, err := e.mallory.JoinedMembers(ctx, strange)
	if err != nil {
		t.Fatal(err)
	}
	if _, in := members.Joined[e.botUser.ID]; in {
		t.Errorf("bot joined the stranger's room")
	}
}

func TestRestartSkipsMessagesSentWhileDown(t *testing.T) {
	e := newEnv(t)
	room := e.publicRoom(t)
	n := e.network(room.String())

	r1 := e.start(t, n)
	send(t, e.alice, room, "jouncebot: ping 1")
	e.waitReply(t, room, "alice: pong 1")
	r1.stop()
	dev1 := e.savedDevice(t)

	send(t, e.alice, room, "jouncebot: ping while down")

	r2 := e.start(t, n)
	send(t, e.alice, room, "jouncebot: ping 2")
	e.waitReply(t, room, "alice: pong 2")
	if diff := cmp.Diff([]string{"jouncebot: ping 2"}, r2.rec.texts()); diff != "" {
		t.Errorf("second run handled (-want +got):\n%s", diff)
	}
	r2.stop()
	if dev2 := e.savedDevice(t); dev2 != dev1 {
		t.Errorf("restart made a new device: %s, then %s", dev1, dev2)
	}
}

func TestRestartCatchUpRunsEachCommandOnce(t *testing.T) {
	e := newEnv(t)
	room := e.publicRoom(t)
	n := e.network(room.String())
	n.CatchUp = true

	r1 := e.start(t, n)
	token, err := r1.tr.st.nextBatch()
	if err != nil || token == "" {
		t.Fatalf("sync token %q, %v", token, err)
	}
	send(t, e.alice, room, "jouncebot: ping 1")
	e.waitReply(t, room, "alice: pong 1")
	r1.stop()
	// As if the bot had died after acting on "ping 1" but before saving
	// the sync token: the next run gets "ping 1" again.
	e.setNextBatch(t, token)

	send(t, e.alice, room, "jouncebot: ping while down")

	r2 := e.start(t, n)
	send(t, e.alice, room, "jouncebot: ping 2")
	e.waitReply(t, room, "alice: pong 2")
	want := []string{"jouncebot: ping while down", "jouncebot: ping 2"}
	if diff := cmp.Diff(want, r2.rec.texts()); diff != "" {
		t.Errorf("second run handled (-want +got):\n%s", diff)
	}
}

func (e *env) withState(t *testing.T, f func(st *state)) {
	t.Helper()
	db, err := store.Open(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f(&state{db: db, network: "matrix"})
}

func (e *env) savedDevice(t *testing.T) (dev string) {
	e.withState(t, func(st *state) {
		s, err := st.loadSession()
		if err != nil {
			t.Fatal(err)
		}
		dev = s.DeviceID
	})
	if dev == "" {
		t.Fatal("no device saved")
	}
	return dev
}

func (e *env) setNextBatch(t *testing.T, tok string) {
	e.withState(t, func(st *state) {
		if err := st.saveNextBatch(tok); err != nil {
			t.Fatal(err)
		}
	})
}

func openDB(t testing.TB, path string) *store.DB {
	t.Helper()
	db, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestBridgePuppets(t *testing.T) {
	e := newEnv(t)
	room := e.publicRoom(t)
	puppet := e.srv.Client(t, e.srv.CreateUser(t, "irc_bob", "bob-password"))
	if _, err := puppet.JoinRoomByID(context.Background(), room); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		trust string
		want  string
	}{
		{"", ""},
		{"@irc_", "@irc_bob:localhost"},
	}
	for _, tt := range tests {
		n := e.network(room.String())
		n.TrustBridgePuppets = tt.trust
		r := e.start(t, n)
		send(t, puppet, room, "jouncebot: ping trust="+tt.trust)
		e.waitReply(t, room, "irc_bob: pong trust="+tt.trust)
		msgs := r.rec.all()
		if len(msgs) != 1 || msgs[0].Account != tt.want {
			t.Errorf("trust_bridge_puppets %q: messages %+v, want one with Account %q", tt.trust, msgs, tt.want)
		}
		r.stop()
	}
}
