package matrix

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/jouncebot/jouncebot/bot"
)

// Compile-time checks of the optional capabilities.
var (
	_ bot.Roster   = (*Transport)(nil)
	_ bot.Directer = (*Transport)(nil)
	_ bot.Status   = (*Transport)(nil)

	_ bot.RoomResolver = (*Transport)(nil)
	_ bot.Joiner       = (*Transport)(nil)
	_ bot.Deliverer    = (*Transport)(nil)
)

// Joined reports whether the bot is in room (an id or a configured alias)
// now, as its joins and the sync say; changed is closed at the next change.
func (t *Transport) Joined(room string) (joined bool, changed <-chan struct{}) {
	rid, known := t.RoomID(room)
	t.mu.Lock()
	defer t.mu.Unlock()
	return known && t.in[id.RoomID(rid)], t.inChanged
}

// setIn records that the bot is in room, or no longer is.
func (t *Transport) setIn(room id.RoomID, in bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.in[room] == in {
		return
	}
	if in {
		t.in[room] = true
	} else {
		delete(t.in, room)
	}
	close(t.inChanged)
	t.inChanged = make(chan struct{})
}

// RoomID is the room id messages from room carry: room itself for an id,
// the room an alias points to once it is resolved (at start or on join).
func (t *Transport) RoomID(room string) (string, bool) {
	if !strings.HasPrefix(room, "#") {
		return room, strings.HasPrefix(room, "!")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	rid, ok := t.aliases[room]
	return rid.String(), ok
}

// resolveAliases looks up the configured room aliases before the rooms are
// joined, so settings that name a room by alias work from the first
// message. An alias the homeserver does not know is a clear warning: its
// room cannot be joined and nothing said there matches it. Other failures
// are left to the joins, which retry.
func (t *Transport) resolveAliases(ctx context.Context, cli *mautrix.Client) {
	for i, r := range t.cfg.Network.Rooms {
		if !strings.HasPrefix(r, "#") {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		resp, err := cli.ResolveAlias(rctx, id.RoomAlias(r))
		cancel()
		switch {
		case err == nil:
			t.noteAlias(r, resp.RoomID)
		case errors.Is(err, mautrix.MNotFound):
			t.log.Warn("configured room alias does not exist on the homeserver: the bot cannot join that room and settings naming it match nothing; correct the alias or give the room id",
				"alias", r, "key", fmt.Sprintf("rooms[%d]", i), "err", err)
		default:
			t.log.Debug("cannot resolve room alias yet; joining will retry", "alias", r, "err", err)
		}
	}
}

// noteAlias records that a configured alias names roomID.
func (t *Transport) noteAlias(alias string, roomID id.RoomID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.aliases[alias] != roomID {
		t.aliases[alias] = roomID
		close(t.inChanged) // Joined(alias) may answer differently now
		t.inChanged = make(chan struct{})
	}
	t.configured[roomID] = true
}

// InRoom reports whether p (by Matrix id) is joined to room, an id or a
// configured alias. known is false when p has no Matrix id, or the
// transport is not logged in or cannot list the room's members.
func (t *Transport) InRoom(ctx context.Context, room string, p bot.Person) (present, known bool) {
	user := id.UserID(p.MatrixID)
	if !validUserID(user) {
		return false, false
	}
	t.mu.Lock()
	cli := t.cli
	t.mu.Unlock()
	if cli == nil {
		return false, false
	}
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	roomID, err := t.resolve(rctx, cli, room)
	if err != nil || strings.HasPrefix(room, "@") {
		return false, false
	}
	info, err := t.members(rctx, cli, roomID)
	if err != nil {
		return false, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_, present = info.members[user]
	return present, true
}

// DirectTarget is where a private message to p goes: the direct room with
// their Matrix id, which Send finds or opens.
func (t *Transport) DirectTarget(_ context.Context, p bot.Person) (bot.Target, bool) {
	if !validUserID(id.UserID(p.MatrixID)) {
		return bot.Target{}, false
	}
	return bot.Target{Network: t.Network(), Room: p.MatrixID, Private: true}, true
}

// members returns the room's member list, fetching it when the transport
// has not yet; the sync keeps it current afterwards.
func (t *Transport) members(ctx context.Context, cli *mautrix.Client, room id.RoomID) (*roomInfo, error) {
	t.mu.Lock()
	info := t.rooms[room]
	t.mu.Unlock()
	if info != nil && info.loaded {
		return info, nil
	}
	resp, err := cli.JoinedMembers(ctx, room)
	if err != nil {
		return nil, err
	}
	info = &roomInfo{loaded: true, members: map[id.UserID]string{}}
	for u, m := range resp.Joined {
		info.members[u] = m.DisplayName
	}
	t.mu.Lock()
	t.rooms[room] = info
	t.mu.Unlock()
	return info, nil
}
