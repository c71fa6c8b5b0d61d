package matrix

import (
	"context"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/bot/matrix/matrixtest"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/store"
)

// logout invalidates an access token, as an admin or a password change
// would.
func (e *env) logout(t *testing.T, token string) {
	t.Helper()
	cli, err := mautrix.NewClient(e.srv.URL, e.botUser.ID, token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Logout(context.Background()); err != nil {
		t.Fatalf("logout: %v", err)
	}
}

func TestAccessTokenFromConfig(t *testing.T) {
	e := newEnv(t)
	room := e.publicRoom(t)
	tok := config.NewSecret(e.srv.Client(t, e.botUser).AccessToken)
	n := e.network(room.String())
	n.Password, n.AccessToken = nil, &tok
	r := e.start(t, n)
	send(t, e.alice, room, "jouncebot: ping token")
	e.waitReply(t, room, "alice: pong token")
	r.stop()

	// A configured token that no longer works: without a password, Run
	// says so; with one, it logs in with the password.
	e.logout(t, tok.Value())
	db, err := store.Open(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(Config{Network: n, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	err = tr.Run(context.Background(), bot.HandlerFunc(func(context.Context, *bot.Request) {}))
	want := "matrix: the homeserver rejected the access_token of @deploybot:localhost; give a new one or a password"
	if err == nil || err.Error() != want {
		t.Errorf("Run = %v, want %q", err, want)
	}
	db.Close()

	pw := config.NewSecret(e.botUser.Password)
	n.Password = &pw
	e.start(t, n)
	send(t, e.alice, room, "jouncebot: ping password")
	e.waitReply(t, room, "alice: pong password")
}

func TestRejectedTokenLogsInAgainOnTheSameDevice(t *testing.T) {
	e := newEnv(t)
	room := e.publicRoom(t)
	n := e.network(room.String())

	r := e.start(t, n)
	s1, err := r.tr.st.loadSession()
	if err != nil {
		t.Fatal(err)
	}
	// Invalidated while running: the sync notices, the transport logs in
	// again and carries on.
	e.logout(t, s1.AccessToken)
	send(t, e.alice, room, "jouncebot: ping after logout")
	e.waitReply(t, room, "alice: pong after logout")
	s2, _ := r.tr.st.loadSession()
	r.stop()

	// Invalidated while stopped: the next start logs in again.
	e.logout(t, s2.AccessToken)
	r = e.start(t, n)
	send(t, e.alice, room, "jouncebot: ping after restart")
	e.waitReply(t, room, "alice: pong after restart")
	s3, _ := r.tr.st.loadSession()
	if s1.DeviceID != s2.DeviceID || s2.DeviceID != s3.DeviceID || s1.AccessToken == s2.AccessToken || s2.AccessToken == s3.AccessToken {
		t.Errorf("sessions: %s/%t, %s/%t, %s: want one device and new tokens", s1.DeviceID, s1.AccessToken == s2.AccessToken, s2.DeviceID, s2.AccessToken == s3.AccessToken, s3.DeviceID)
	}
}

func TestWrongPasswordEndsRun(t *testing.T) {
	e := newEnv(t)
	n := e.network()
	pw := config.NewSecret("wrong")
	n.Password = &pw
	tr, err := New(Config{Network: n, DB: openDB(t, e.dbPath)})
	if err != nil {
		t.Fatal(err)
	}
	err = tr.Run(context.Background(), bot.HandlerFunc(func(context.Context, *bot.Request) {}))
	want := "matrix: the homeserver refused the login of @deploybot:localhost; check the user_id and password: M_FORBIDDEN: The username or password was incorrect or the account does not exist."
	if err == nil || err.Error() != want {
		t.Errorf("Run = %v, want %q", err, want)
	}
}

func TestRoomAlias(t *testing.T) {
	e := newEnv(t)
	resp, err := e.alice.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{Preset: "public_chat", RoomAliasName: "deployments"})
	if err != nil {
		t.Fatal(err)
	}
	alias := "#deployments:localhost"
	r := e.start(t, e.network(alias))
	if got := r.tr.Rooms(); len(got) != 1 || got[0] != alias {
		t.Fatalf("Rooms() = %v", got)
	}
	announce(t, r.tr, id.RoomID(alias), "to the alias")
	e.waitReply(t, resp.RoomID, "to the alias")
	send(t, e.alice, resp.RoomID, "jouncebot: ping alias")
	e.waitReply(t, resp.RoomID, "alice: pong alias")
	if m := r.rec.all(); len(m) != 1 || m[0].Private || m[0].Room != resp.RoomID.String() {
		t.Errorf("messages %+v, want one not private in %s", m, resp.RoomID)
	}
}

func TestSendToUserUsesTheDirectRoom(t *testing.T) {
	e := newEnv(t)
	r := e.start(t, e.network())
	ctx := context.Background()
	toAlice := id.RoomID(e.alice.UserID.String())
	fromBot := func(room id.RoomID, body string) func(*event.Event) bool {
		return matrixtest.Message(room, e.botUser.ID, func(c *event.MessageEventContent) bool { return c.Body == body })
	}

	// No direct room yet: the bot opens one and invites alice.
	announce(t, r.tr, toAlice, "hello alice")
	dm := e.aliceW.WaitAnyInvite(t)
	if _, err := e.alice.JoinRoomByID(ctx, dm); err != nil {
		t.Fatal(err)
	}
	e.aliceW.Wait(t, fromBot(dm, "hello alice"))
	announce(t, r.tr, toAlice, "again")
	e.aliceW.Wait(t, fromBot(dm, "again"))

	// A direct chat alice opens becomes the one the bot uses.
	resp, err := e.alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{e.botUser.ID}})
	if err != nil {
		t.Fatal(err)
	}
	e.aliceW.Wait(t, matrixtest.Member(resp.RoomID, e.botUser.ID, event.MembershipJoin))
	announce(t, r.tr, toAlice, "third")
	e.aliceW.Wait(t, fromBot(resp.RoomID, "third"))
}

func TestEncryptedRoomIsToldOnce(t *testing.T) {
	e := newEnv(t)
	r := e.start(t, e.network())
	ctx := context.Background()
	resp, err := e.alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
		Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{e.botUser.ID},
		InitialState: []*event.Event{{Type: event.StateEncryption, Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	dm := resp.RoomID
	e.aliceW.Wait(t, matrixtest.Member(dm, e.botUser.ID, event.MembershipJoin))
	secret := &event.EncryptedEventContent{Algorithm: id.AlgorithmMegolmV1, MegolmCiphertext: []byte("AwgAEnACgAkLmt"), SessionID: "s", SenderKey: "k"}
	for range 2 {
		if _, err := e.alice.SendMessageEvent(ctx, dm, event.EventEncrypted, secret); err != nil {
			t.Fatal(err)
		}
	}
	send(t, e.alice, dm, "ping plain")
	e.waitReply(t, dm, "alice: pong plain")
	if got := e.botNotices(dm, "I cannot read"); len(got) != 1 || got[0] != encryptedNotice.String() {
		t.Errorf("notices about encryption: %q, want exactly one", got)
	}
	if msgs := r.rec.texts(); len(msgs) != 1 {
		t.Errorf("handler saw %q, want only the plain ping", msgs)
	}
}

func TestRosterAndDirectTarget(t *testing.T) {
	e := newEnv(t)
	room := e.publicRoom(t)
	r := e.start(t, e.network(room.String()))
	ctx := context.Background()
	tests := []struct {
		name           string
		person         bot.Person
		present, known bool
	}{
		{"in the room", bot.Person{Name: "Alice", MatrixID: "@alice:localhost"}, true, true},
		{"not in the room", bot.Person{Name: "Mallory", MatrixID: "@mallory:localhost"}, false, true},
		{"no matrix id", bot.Person{Name: "Kosta", IRCNick: "kharlan"}, false, false},
	}
	for _, tt := range tests {
		present, known := r.tr.InRoom(ctx, room.String(), tt.person)
		if present != tt.present || known != tt.known {
			t.Errorf("%s: InRoom = %t, %t; want %t, %t", tt.name, present, known, tt.present, tt.known)
		}
	}
	// Mallory joins: the sync keeps the member list current.
	if _, err := e.mallory.JoinRoomByID(ctx, room); err != nil {
		t.Fatal(err)
	}
	send(t, e.mallory, room, "jouncebot: ping mallory")
	e.waitReply(t, room, "mallory: pong mallory")
	if present, known := r.tr.InRoom(ctx, room.String(), tests[1].person); !present || !known {
		t.Errorf("after joining, InRoom(mallory) = %t, %t", present, known)
	}

	if _, ok := r.tr.DirectTarget(ctx, tests[2].person); ok {
		t.Errorf("DirectTarget for someone without a Matrix id")
	}
	to, ok := r.tr.DirectTarget(ctx, tests[1].person)
	if !ok {
		t.Fatal("no DirectTarget for mallory")
	}
	malloryW := matrixtest.Watch(t, e.mallory)
	if err := r.tr.Send(ctx, to, bot.T("your patch is queued")); err != nil {
		t.Fatal(err)
	}
	dm := malloryW.WaitAnyInvite(t)
	if _, err := e.mallory.JoinRoomByID(ctx, dm); err != nil {
		t.Fatal(err)
	}
	malloryW.Wait(t, matrixtest.Message(dm, e.botUser.ID, func(c *event.MessageEventContent) bool { return c.Body == "your patch is queued" }))
}
