package matrix

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// setDirect replaces what the transport knows of the bot's m.direct
// account data: for each person, the direct rooms with them.
func (t *Transport) setDirect(d event.DirectChatsEventContent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.directOf = d
	t.direct = map[id.RoomID]bool{}
	for _, rooms := range d {
		for _, r := range rooms {
			t.direct[r] = true
		}
	}
}

// noteDirect records locally, at once, that room is a direct chat with
// user; addDirect saves it in m.direct once the room is joined.
func (t *Transport) noteDirect(user id.UserID, room id.RoomID, add bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := event.DirectChatsEventContent{}
	for u, rooms := range t.directOf {
		d[u] = slices.Clone(rooms)
	}
	if add {
		if !slices.Contains(d[user], room) {
			d[user] = append(d[user], room)
		}
		t.direct[room] = true
	} else {
		d[user] = slices.DeleteFunc(d[user], func(r id.RoomID) bool { return r == room })
		delete(t.direct, room)
	}
	t.directOf = d
}

// directRoom returns the bot's direct room with user, creating one (and
// inviting user) when m.direct lists none.
func (t *Transport) directRoom(ctx context.Context, cli *mautrix.Client, user id.UserID) (id.RoomID, error) {
	t.mu.Lock()
	rooms := t.directOf[user]
	t.mu.Unlock()
	if len(rooms) > 0 {
		return rooms[len(rooms)-1], nil
	}
	resp, err := cli.CreateRoom(ctx, &mautrix.ReqCreateRoom{
		Preset:   "trusted_private_chat",
		IsDirect: true,
		Invite:   []id.UserID{user},
	})
	if err != nil {
		return "", fmt.Errorf("open a direct chat with %s: %w", user, err)
	}
	t.log.Info("opened a direct chat", "user", user, "room", resp.RoomID)
	if err := t.addDirect(ctx, cli, user, resp.RoomID); err != nil {
		t.log.Warn("cannot record the direct chat in m.direct", "room", resp.RoomID, "err", err)
	}
	return resp.RoomID, nil
}

// addDirect records room as a direct chat with user in m.direct. It reads
// the account data afresh first, so it keeps what other clients added.
func (t *Transport) addDirect(ctx context.Context, cli *mautrix.Client, user id.UserID, room id.RoomID) error {
	d := event.DirectChatsEventContent{}
	if err := cli.GetAccountData(ctx, event.AccountDataDirectChats.Type, &d); err != nil && !errors.Is(err, mautrix.MNotFound) {
		return err
	}
	if d == nil {
		d = event.DirectChatsEventContent{}
	}
	if !slices.Contains(d[user], room) {
		d[user] = append(d[user], room)
	}
	t.setDirect(d)
	return cli.SetAccountData(ctx, event.AccountDataDirectChats.Type, d)
}
