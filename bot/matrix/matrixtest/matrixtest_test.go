package matrixtest_test

import (
	"context"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/jouncebot/jouncebot/bot/matrix/matrixtest"
)

func TestStartUsersAndMessages(t *testing.T) {
	srv := matrixtest.Start(t)
	alice := srv.Client(t, srv.CreateUser(t, "alice", "alice-password"))
	bob := srv.Client(t, srv.CreateUser(t, "bob", "bob-password"))
	w := matrixtest.Watch(t, bob)
	ctx := context.Background()
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendText(ctx, room.RoomID, "hello bob"); err != nil {
		t.Fatal(err)
	}
	w.Wait(t, matrixtest.Message(room.RoomID, alice.UserID, func(c *event.MessageEventContent) bool { return c.Body == "hello bob" }))
}
