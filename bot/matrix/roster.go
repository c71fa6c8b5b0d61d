package matrix

import (
	"context"
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
)

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
