package matrix

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/internal/backoff"
)

// roomInfo is what the transport knows about a joined room's members.
type roomInfo struct {
	loaded  bool
	members map[id.UserID]string // joined member -> display name
}

// pendingJoin is a room the bot wants to be in but is not yet: a
// configured room, or an invite it accepted.
type pendingJoin struct {
	room    string    // id or alias
	inviter id.UserID // empty for configured rooms
	direct  bool      // the invite is for a direct chat with inviter
	leave   bool      // reject the invite instead
	next    time.Time // next attempt
	bo      backoff.Backoff
}

// batch says how to treat the messages of one sync response.
type batch struct {
	// first is the first response of a login: it holds what was said
	// since the last saved sync token, i.e. while the bot was away. It is
	// acted on only with catchUp. The clock plays no part, so a homeserver
	// whose clock is ahead cannot make old commands look new.
	first   bool
	catchUp bool
}

// Timeline limits of the sync filter. The first sync of a session asks for
// a short timeline (what came before is history, skipped); later syncs ask
// for a long one, so a burst of questions between two syncs is not cut
// ("limited") and lost.
const (
	firstTimeline = 50
	laterTimeline = 1000
)

func (t *Transport) filter(timeline int) *mautrix.Filter {
	return &mautrix.Filter{
		EventFormat: mautrix.EventFormatClient,
		AccountData: &mautrix.FilterPart{Types: []event.Type{event.AccountDataDirectChats}},
		Presence:    &mautrix.FilterPart{NotTypes: []event.Type{{Type: "*"}}},
		Room: &mautrix.RoomFilter{
			AccountData: &mautrix.FilterPart{NotTypes: []event.Type{{Type: "*"}}},
			Ephemeral:   &mautrix.FilterPart{NotTypes: []event.Type{{Type: "*"}}},
			State:       &mautrix.FilterPart{Types: []event.Type{event.StateMember}},
			Timeline:    &mautrix.FilterPart{Types: []event.Type{event.EventMessage, event.EventEncrypted, event.StateMember}, Limit: timeline},
		},
	}
}

// syncLoop syncs until ctx is done or the token is rejected.
// resumed is true after a re-login during Run: what was said meanwhile was
// said while the bot was up, so it is handled like catch-up.
func (t *Transport) syncLoop(ctx context.Context, cli *mautrix.Client, h bot.Handler, resumed bool) error {
	// The filter goes inline with every /sync (the spec allows JSON in
	// place of a filter id): nothing to create or look up per session.
	firstJSON, err := json.Marshal(t.filter(firstTimeline))
	if err != nil {
		return err
	}
	laterJSON, err := json.Marshal(t.filter(laterTimeline))
	if err != nil {
		return err
	}
	since, err := t.st.nextBatch()
	if err != nil {
		return err
	}
	b := batch{first: true, catchUp: since != "" && (t.cfg.Network.CatchUp || resumed)}
	bo := backoff.New(backoff.Policy{Min: time.Second, Max: time.Minute})
	for {
		timeout := syncTimeout
		if b.first {
			timeout = 0
		}
		rctx, cancel := context.WithTimeout(ctx, timeout+requestTimeout)
		filterID := string(laterJSON)
		if b.first && !b.catchUp {
			filterID = string(firstJSON)
		}
		resp, err := cli.FullSyncRequest(rctx, mautrix.ReqSync{Timeout: int(timeout.Milliseconds()), Since: since, FilterID: filterID})
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if tokenRejected(err) {
				return errTokenRejected
			}
			d, ok := rateLimited(err, time.Second)
			if !ok {
				d = bo.Next()
			}
			if !transient(err) && since != "" {
				// A token the server no longer understands: start afresh
				// rather than fail forever; what was said meanwhile is
				// skipped like history.
				t.log.Error("sync token refused; starting a fresh sync", "err", err)
				since, b = "", batch{first: true}
			}
			t.setStatus("sync failing, retrying in " + d.Round(time.Millisecond).String() + ": " + errorText(err))
			t.log.Warn("sync failed", "retry_in", d, "err", err)
			if backoff.Sleep(ctx, d) != nil {
				return ctx.Err()
			}
			continue
		}
		bo.Reset()
		t.setStatus("connected")
		t.process(ctx, cli, h, resp, b)
		if err := t.st.saveNextBatch(resp.NextBatch); err != nil {
			t.log.Error("cannot save the sync token", "err", err)
		}
		since = resp.NextBatch
		if b.first {
			b.first = false
			t.once.Do(func() { close(t.ready) })
		}
	}
}

// process acts on one sync response.
func (t *Transport) process(ctx context.Context, cli *mautrix.Client, h bot.Handler, resp *mautrix.RespSync, b batch) {
	for _, ev := range resp.AccountData.Events {
		if ev.Type.Type == event.AccountDataDirectChats.Type {
			ev.Type.Class = event.AccountDataEventType
			if err := ev.Content.ParseRaw(ev.Type); err == nil {
				if d, ok := ev.Content.Parsed.(*event.DirectChatsEventContent); ok {
					t.setDirect(*d)
				}
			}
		}
	}
	for roomID, inv := range resp.Rooms.Invite {
		t.onInvite(cli, roomID, inv)
	}
	for roomID := range resp.Rooms.Leave {
		t.mu.Lock()
		delete(t.rooms, roomID)
		t.mu.Unlock()
		t.setIn(roomID, false)
		t.log.Info("no longer in room", "room", roomID)
	}
	for roomID, room := range resp.Rooms.Join {
		t.setIn(roomID, true)
		if room.Timeline.Limited && !b.first {
			t.log.Warn("the server cut a room's timeline; messages before the cut were not seen", "room", roomID, "events", len(room.Timeline.Events))
		}
		for _, ev := range room.State.Events {
			t.trackMember(roomID, ev)
		}
		joined := ownJoin(room.Timeline.Events, cli.UserID)
		for i, ev := range room.Timeline.Events {
			ev.RoomID = roomID
			switch {
			case ev.Type == event.StateMember:
				t.trackMember(roomID, ev)
			case i < joined:
				// History from before the bot joined: never acted on.
			case ev.Type == event.EventMessage:
				t.onMessage(ctx, cli, h, ev, b)
			case ev.Type == event.EventEncrypted:
				t.onEncrypted(cli, ev, b)
			}
		}
	}
}

// ownJoin returns the index of the bot's own join in a timeline, or 0.
func ownJoin(evs []*event.Event, self id.UserID) int {
	at := 0
	for i, ev := range evs {
		if ev.Type != event.StateMember || ev.GetStateKey() != self.String() {
			continue
		}
		_ = ev.Content.ParseRaw(ev.Type)
		if ev.Content.AsMember().Membership != event.MembershipJoin {
			continue
		}
		if prev := ev.Unsigned.PrevContent; prev != nil {
			_ = prev.ParseRaw(ev.Type)
			if prev.AsMember().Membership == event.MembershipJoin {
				continue // a profile change, not a join
			}
		}
		at = i
	}
	return at
}

// trackMember keeps the member list of a loaded room current.
func (t *Transport) trackMember(room id.RoomID, ev *event.Event) {
	if ev.Type != event.StateMember || ev.StateKey == nil {
		return
	}
	_ = ev.Content.ParseRaw(ev.Type)
	m := ev.Content.AsMember()
	user := id.UserID(*ev.StateKey)
	t.mu.Lock()
	defer t.mu.Unlock()
	info := t.rooms[room]
	if info == nil || !info.loaded {
		return
	}
	if m.Membership == event.MembershipJoin {
		info.members[user] = m.Displayname
	} else {
		delete(info.members, user)
	}
}

// onMessage turns a text message into a bot.Message for h, at most once.
func (t *Transport) onMessage(ctx context.Context, cli *mautrix.Client, h bot.Handler, ev *event.Event, b batch) {
	if ev.Sender == cli.UserID {
		return
	}
	_ = ev.Content.ParseRaw(ev.Type)
	c := ev.Content.AsMessage()
	if c.MsgType != event.MsgText || c.NewContent != nil || c.RelatesTo.GetReplaceID() != "" {
		return // notices (other bots), emotes, media and edits are not commands
	}
	sent := time.UnixMilli(ev.Timestamp)
	if b.first && (!b.catchUp || time.Since(sent) > catchUpMaxAge) {
		return // said while the bot was away
	}
	fresh, err := t.st.markHandled(ev.ID.String(), time.Now())
	if err != nil {
		t.log.Error("not acting on a message that cannot be recorded as handled", "event", ev.ID, "err", err)
		return
	}
	if !fresh {
		return
	}
	if c.RelatesTo.GetReplyTo() != "" {
		c.RemoveReplyFallback()
		c.Body = event.TrimReplyFallbackText(c.Body)
	}
	private, nick, ownName := t.roomFacts(ctx, cli, ev.RoomID, ev.Sender)
	a := addressing{nick: t.cfg.Nick, userID: cli.UserID, names: t.botNames(cli, ownName)}
	formatted := ""
	if c.Format == event.FormatHTML {
		formatted = c.FormattedBody
	}
	text := a.normalise(c.Body, formatted)
	h.Handle(ctx, bot.NewRequest(bot.Message{
		ID:      ev.ID.String(),
		Network: t.Network(),
		Room:    ev.RoomID.String(),
		Private: private,
		Nick:    nick,
		Account: t.account(ev.Sender),
		Sender:  bot.Person{Name: ev.Sender.String(), MatrixID: ev.Sender.String()},
		Text:    text,
		Time:    sent,
	}, t))
}

// encryptedNotice is said once per room and run when someone writes there
// encrypted: without it the bot would seem to ignore them (Element
// encrypts new direct chats by default).
var encryptedNotice = bot.T("I cannot read encrypted messages, so I did not see that. Please talk to me in a room without encryption.")

// onEncrypted answers the first new encrypted message in a room with
// encryptedNotice.
func (t *Transport) onEncrypted(cli *mautrix.Client, ev *event.Event, b batch) {
	if ev.Sender == cli.UserID || b.first {
		return
	}
	t.mu.Lock()
	warned := t.warned[ev.RoomID]
	t.warned[ev.RoomID] = true
	t.mu.Unlock()
	if warned {
		return
	}
	if fresh, err := t.st.markHandled(ev.ID.String(), time.Now()); err != nil || !fresh {
		return
	}
	t.log.Info("encrypted message; saying that it cannot be read", "room", ev.RoomID, "sender", ev.Sender)
	if err := t.Send(context.Background(), bot.Target{Network: t.Network(), Room: ev.RoomID.String()}, encryptedNotice); err != nil {
		t.log.Warn("cannot queue the encryption notice", "room", ev.RoomID, "err", err)
	}
}

// account is the identity the homeserver vouches for: the user id, except
// for bridge puppets that are not trusted.
func (t *Transport) account(u id.UserID) string {
	s := string(u)
	n := t.cfg.Network
	if n.TrustBridgePuppets != "" && strings.HasPrefix(s, n.TrustBridgePuppets) {
		return s
	}
	for _, p := range n.BridgePuppets {
		if strings.HasPrefix(s, p) {
			return ""
		}
	}
	return s
}

func (t *Transport) botNames(cli *mautrix.Client, roomName string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	names := append([]string{cli.UserID.Localpart(), roomName}, t.names...)
	return names
}

// roomFacts says whether room is a direct-message room, the sender's nick
// there and the bot's own display name there. The member list is fetched
// once per room and then kept current from the sync.
func (t *Transport) roomFacts(ctx context.Context, cli *mautrix.Client, room id.RoomID, sender id.UserID) (private bool, nick, own string) {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	info, err := t.members(rctx, cli, room)
	cancel()
	if err != nil {
		t.log.Warn("cannot list room members", "room", room, "err", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	nick = sender.Localpart()
	if info != nil {
		if dn := info.members[sender]; dn != "" {
			nick = dn
		}
		own = info.members[cli.UserID]
	}
	private = !t.configured[room] && (t.direct[room] || (info != nil && len(info.members) == 2))
	return private, nick, own
}

// onInvite accepts invites from people the config knows and to configured
// rooms, and rejects the rest, so no invite is left hanging.
func (t *Transport) onInvite(cli *mautrix.Client, room id.RoomID, inv *mautrix.SyncInvitedRoom) {
	var inviter id.UserID
	direct := false
	for _, ev := range inv.State.Events {
		if ev.Type == event.StateMember && ev.GetStateKey() == cli.UserID.String() {
			inviter = ev.Sender
			_ = ev.Content.ParseRaw(ev.Type)
			direct = ev.Content.AsMember().IsDirect
		}
	}
	t.mu.Lock()
	configured := t.configured[room]
	t.mu.Unlock()
	if who := t.account(inviter); configured || (who != "" && t.cfg.MayInvite(who)) {
		t.log.Info("accepting invite", "room", room, "inviter", inviter)
		if direct {
			t.noteDirect(inviter, room, true)
		}
		t.wantJoin(room.String(), inviter, direct)
		return
	}
	t.log.Info("rejecting invite from someone not in the config", "room", room, "inviter", inviter)
	t.want(&pendingJoin{room: room.String(), inviter: inviter, leave: true})
}

// wantJoin adds a room to join and wakes the joiner.
func (t *Transport) wantJoin(room string, inviter id.UserID, direct bool) {
	t.want(&pendingJoin{room: room, inviter: inviter, direct: direct})
}

func (t *Transport) want(j *pendingJoin) {
	j.bo = backoff.Backoff{Policy: backoff.Policy{Min: 2 * time.Second, Max: 10 * time.Minute}}
	t.mu.Lock()
	if _, ok := t.joins[j.room]; !ok {
		t.joins[j.room] = j
	}
	t.mu.Unlock()
	select {
	case t.joinWake <- struct{}{}:
	default:
	}
}

// joiner makes the pending joins as they fall due, until ctx is done.
func (t *Transport) joiner(ctx context.Context, cli *mautrix.Client) {
	for {
		t.retryJoins(ctx, cli)
		wait := time.Hour
		t.mu.Lock()
		for _, j := range t.joins {
			wait = min(wait, time.Until(j.next))
		}
		t.mu.Unlock()
		timer := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-t.joinWake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// retryJoins makes the joins (and invite rejections) that are due. A
// configured room is retried until it works; an accepted invite that
// cannot be joined is rejected; a rejection is retried while the failure
// is transient. So no invite is left hanging.
func (t *Transport) retryJoins(ctx context.Context, cli *mautrix.Client) {
	t.mu.Lock()
	var due []*pendingJoin
	for _, j := range t.joins {
		if !time.Now().Before(j.next) {
			due = append(due, j)
		}
	}
	t.mu.Unlock()
	for _, j := range due {
		var roomID id.RoomID
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		var err error
		if j.leave {
			_, err = cli.LeaveRoom(rctx, id.RoomID(j.room))
		} else {
			var resp *mautrix.RespJoinRoom
			if resp, err = cli.JoinRoom(rctx, j.room, nil); err == nil {
				roomID = resp.RoomID
			}
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			t.joined(ctx, cli, j, roomID)
			continue
		}
		d, ok := rateLimited(err, time.Second)
		if !ok {
			d = j.bo.Next()
		}
		t.mu.Lock()
		switch {
		case transient(err) || (!j.leave && j.inviter == ""):
			j.next = time.Now().Add(d)
			t.log.Warn("cannot join or leave room; will retry", "room", j.room, "leave", j.leave, "retry_in", d, "err", err)
		case j.leave:
			delete(t.joins, j.room)
			t.log.Warn("cannot reject invite", "room", j.room, "err", err)
		default:
			j.leave, j.next = true, time.Time{}
			t.log.Warn("cannot accept invite; rejecting it", "room", j.room, "err", err)
		}
		forget := j.leave && j.direct
		t.mu.Unlock()
		if forget {
			t.noteDirect(j.inviter, id.RoomID(j.room), false)
		}
	}
}

// joined records a join or rejection that worked.
func (t *Transport) joined(ctx context.Context, cli *mautrix.Client, j *pendingJoin, roomID id.RoomID) {
	t.mu.Lock()
	delete(t.joins, j.room)
	if j.leave {
		t.mu.Unlock()
		t.log.Info("rejected invite", "room", j.room)
		return
	}
	delete(t.rooms, roomID) // member list fetched afresh
	t.mu.Unlock()
	if strings.HasPrefix(j.room, "#") {
		t.noteAlias(j.room, roomID)
	}
	t.setIn(roomID, true)
	t.log.Info("joined room", "room", j.room, "id", roomID)
	if j.direct {
		if err := t.addDirect(ctx, cli, j.inviter, roomID); err != nil {
			t.log.Warn("cannot record the direct chat in m.direct", "room", roomID, "err", err)
		}
	}
}
