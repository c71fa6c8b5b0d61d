// Package matrix is jouncebot's Matrix transport, built on
// maunium.net/go/mautrix. It logs in, joins the configured rooms, accepts
// invites from people in the config, turns text messages into bot.Messages
// and sends replies as m.notice with HTML and proper mentions.
//
// Wire it into a bot like this:
//
//	tr, err := matrix.FromConfig(cfg, cfg.NetworkByName("matrix"), db, logger)
//	if err != nil { … }
//	b.Add(tr)
//
// What the transport promises:
//
//   - Sessions: the first start logs in with the password (or uses the
//     configured access token); the device id and token are kept in the
//     matrix.state bucket, so a restart reuses the device. A token the
//     homeserver stops accepting is replaced by a new password login on
//     the same device.
//   - Rooms: the configured rooms (ids or aliases) are joined at start and
//     retried until joined. Aliases are resolved at start and on join;
//     RoomID gives the room id of a configured alias (bot.RoomResolver), so
//     settings that name a room by alias match its messages. An alias the
//     homeserver does not know is a start-up warning. Invites from people in the config, and to
//     configured rooms, are accepted; all others are rejected, so no invite
//     is left hanging.
//   - No replays: the sync token is saved after every sync response, and
//     every event acted on is recorded in matrix.handled (for a week) before
//     the handler sees it, so a restart never runs a command twice.
//     Messages sent while the bot was stopped are skipped, unless the
//     network has catch_up: true; then those up to a day old are handled.
//     History the bot sees when it joins a room is never acted on.
//   - Messages: every m.text from someone else becomes a bot.Message
//     (reply fallbacks stripped); notices (other bots), emotes, media and
//     edits never do.
//   - Addressing: a message beginning with a mention pill of the bot, or
//     with the bot's nick, localpart, display name or user id followed by
//     ":" or ",", is delivered as "<nick>: rest", the form the commands
//     package parses. Other messages are delivered unchanged.
//   - Identity: Message.Account is the sender's user id, which the
//     homeserver authenticates, except for bridge puppets (bridge_puppets
//     prefixes, default "@irc_"), which are identified only when they match
//     trust_bridge_puppets.
//   - Private: a room is a direct-message room when it is not a configured
//     room and it is listed in the bot's m.direct account data or has
//     exactly two joined members.
//   - Replies are m.notice with a plain body, an HTML formatted_body and
//     m.mentions for every bot.Mention with a Matrix id (see render).
//   - Send to a user id ("@alice:example.org") goes to the bot's direct
//     room with that person (from m.direct), creating and inviting one when
//     there is none; invites marked is_direct are recorded in m.direct.
//   - Optional capabilities: Status (connected, retrying…), bot.Roster
//     (InRoom, by Matrix id), bot.Directer (DirectTarget: the person's
//     Matrix id, which Send turns into the direct room), bot.RoomResolver
//     (RoomID), bot.Joiner (Joined: the rooms the bot is in, from its joins
//     and the sync) and bot.Deliverer (Deliver: Send that waits for the
//     event id, with a transaction id made from the caller's key).
//   - Sending never blocks for long: Send renders the text and queues it,
//     waiting at most 5 s for space, and not at all while the homeserver is
//     unreachable (ErrQueueFull). One goroutine delivers the queue in order,
//     honouring M_LIMIT_EXCEEDED retry_after_ms and retrying network and
//     server errors with the same transaction id (so a retry never
//     duplicates a message) for up to 10 minutes. On stop it sends what is
//     queued for up to 3 s.
//
// Concurrency: per login, Run syncs in its own goroutine (and calls the
// handler there) and owns two more, the sender and the joiner; it waits for
// them before it returns. Send, Rooms, Status and Ready are safe to call from
// any goroutine, before, during or after Run.
//
// End-to-end encryption is not supported; a network with encryption: true
// is refused by New. The first new encrypted message in a room is answered
// once per run with a notice saying so, so people are not left wondering.
package matrix

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/sal/wikitext"
	"github.com/jouncebot/jouncebot/store"
)

// Config is what New needs.
type Config struct {
	// Network is the network's section of the configuration (type "matrix").
	Network config.Network
	// Nick is the name the commands package expects messages to be
	// addressed to ("<nick>: command"), normally bot.nick from the config.
	Nick string
	// DB keeps the session, the sync token and the handled events.
	DB *store.DB
	// MayInvite reports whether an invite from this user id is accepted.
	// Nil accepts none.
	MayInvite func(userID string) bool
	// Log receives the transport's log; nil discards it.
	Log *slog.Logger
	// Links render the wikitext of plain text in the HTML body; nil links
	// bare URLs only.
	Links *wikitext.Renderer
}

// Tunables, changed by tests.
var (
	syncTimeout    = 30 * time.Second // long-poll of one /sync
	enqueueTimeout = 5 * time.Second  // Send waits this long for queue space
	maxSendAge     = 10 * time.Minute // a reply still undelivered after this is dropped
	flushTimeout   = 3 * time.Second  // sending what is queued when stopping
	catchUpMaxAge  = 24 * time.Hour   // catch_up never acts on older commands
	requestTimeout = 30 * time.Second // any other request
	queueSize      = 256
)

// Transport is a bot.Transport for one Matrix account.
type Transport struct {
	cfg   Config
	log   *slog.Logger
	st    *state
	queue chan *outgoing
	ready chan struct{}
	once  sync.Once

	txnBase     string
	txnSeq      atomic.Uint64
	unreachable atomic.Bool // the last send failed for want of a homeserver

	mu         sync.Mutex
	status     string
	cli        *mautrix.Client // the logged-in client while a session runs
	pending    *outgoing       // taken from the queue, not yet delivered
	rooms      map[id.RoomID]*roomInfo
	aliases    map[string]id.RoomID // room alias -> id
	configured map[id.RoomID]bool   // configured room ids (never private)
	direct     map[id.RoomID]bool   // rooms in m.direct
	directOf   event.DirectChatsEventContent
	names      []string // display names of the bot
	joins      map[string]*pendingJoin
	joinWake   chan struct{}
	warned     map[id.RoomID]bool // rooms told that encrypted messages cannot be read
	in         map[id.RoomID]bool // rooms the bot is joined to
	inChanged  chan struct{}      // closed and replaced when in changes
}

// New returns a transport for the network. It does not connect: Run does.
func New(c Config) (*Transport, error) {
	n := c.Network
	if n.Type != "matrix" {
		return nil, fmt.Errorf("matrix: network %q has type %q, not matrix", n.Name, n.Type)
	}
	if n.Encryption {
		return nil, fmt.Errorf("matrix: network %q asks for encryption, which this build of jouncebot does not support; set encryption: false and use unencrypted rooms", n.Name)
	}
	if c.DB == nil {
		return nil, errors.New("matrix: a database is needed to remember the session and handled messages")
	}
	if n.Password.Value() == "" && n.AccessToken.Value() == "" {
		return nil, fmt.Errorf("matrix: network %q needs a password or an access token", n.Name)
	}
	if c.Nick == "" {
		c.Nick = id.UserID(n.UserID).Localpart()
	}
	if c.MayInvite == nil {
		c.MayInvite = func(string) bool { return false }
	}
	log := c.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Transport{
		cfg:        c,
		log:        log.With("component", "matrix", "network", n.Name),
		st:         &state{db: c.DB, network: n.Name},
		queue:      make(chan *outgoing, queueSize),
		ready:      make(chan struct{}),
		txnBase:    fmt.Sprintf("jb%x", time.Now().UnixNano()),
		status:     "not started",
		rooms:      map[id.RoomID]*roomInfo{},
		aliases:    map[string]id.RoomID{},
		configured: map[id.RoomID]bool{},
		direct:     map[id.RoomID]bool{},
		joins:      map[string]*pendingJoin{},
		joinWake:   make(chan struct{}, 1),
		warned:     map[id.RoomID]bool{},
		in:         map[id.RoomID]bool{},
		inChanged:  make(chan struct{}),
	}
	for _, r := range n.Rooms {
		if strings.HasPrefix(r, "!") {
			t.configured[id.RoomID(r)] = true
		}
	}
	return t, nil
}

// FromConfig returns the transport for network n of cfg: addressed by
// bot.nick, accepting invites from the people in the config.
func FromConfig(cfg *config.Config, n *config.Network, db *store.DB, log *slog.Logger) (*Transport, error) {
	if n == nil {
		return nil, errors.New("matrix: no such network in the configuration")
	}
	return New(Config{
		Network:   *n,
		Nick:      cfg.Bot.Nick,
		DB:        db,
		MayInvite: func(u string) bool { return cfg.PersonByMatrixID(u) != nil },
		Log:       log,
		Links:     wikitext.FromConfig(cfg),
	})
}

// Network is the configured name of the network.
func (t *Transport) Network() string { return t.cfg.Network.Name }

// Rooms are the configured rooms, as written in the config (ids or aliases).
func (t *Transport) Rooms() []string { return append([]string(nil), t.cfg.Network.Rooms...) }

// Status says whether the transport is connected, for the status command.
func (t *Transport) Status() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status
}

func (t *Transport) setStatus(s string) {
	t.mu.Lock()
	t.status = s
	t.mu.Unlock()
}

// Ready is closed once the transport has joined its rooms and processed its
// first sync: from then on every new message is delivered.
func (t *Transport) Ready() <-chan struct{} { return t.ready }

// errTokenRejected ends a session so that Run logs in again.
var errTokenRejected = errors.New("the homeserver rejected the access token")

// Run logs in, joins the rooms and delivers messages to h until ctx is
// done. It retries unreachable homeservers on its own; it returns early
// only when the login is refused for good (wrong password, foreign token).
func (t *Transport) Run(ctx context.Context, h bot.Handler) error {
	resumed := false
	for {
		t.setStatus("logging in")
		cli, err := t.login(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.setStatus("stopped")
				return ctx.Err()
			}
			t.setStatus("stopped: " + err.Error())
			return err
		}
		err = t.session(ctx, cli, h, resumed)
		resumed = true
		if errors.Is(err, errTokenRejected) && t.cfg.Network.Password.Value() != "" {
			t.log.Warn("access token rejected; logging in again")
			s, err := t.st.loadSession()
			if err == nil {
				s.AccessToken = "" // keep the device, so the login reuses it
				err = t.st.saveSession(s)
			}
			if err != nil {
				return err
			}
			continue
		}
		if ctx.Err() != nil {
			t.setStatus("stopped")
			return ctx.Err()
		}
		if errors.Is(err, errTokenRejected) {
			err = fmt.Errorf("matrix: the homeserver rejected the access_token of %s; give a new one or a password", t.cfg.Network.UserID)
		}
		t.setStatus("stopped: " + err.Error())
		return err
	}
}

// session runs the sender and the sync loop with one login.
func (t *Transport) session(ctx context.Context, cli *mautrix.Client, h bot.Handler, resumed bool) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t.mu.Lock()
	t.cli = cli
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.cli = nil
		t.mu.Unlock()
	}()
	var wg sync.WaitGroup
	wg.Go(func() { t.sender(sctx, ctx, cli) })
	defer wg.Wait()
	defer cancel()
	if err := t.st.prune(time.Now()); err != nil {
		t.log.Warn("cannot forget old handled events", "err", err)
	}
	t.loadProfile(sctx, cli)
	t.resolveAliases(sctx, cli)
	for _, r := range t.cfg.Network.Rooms {
		t.wantJoin(r, "", false)
	}
	t.retryJoins(sctx, cli) // before the first sync, so Ready means joined
	wg.Go(func() { t.joiner(sctx, cli) })
	return t.syncLoop(sctx, cli, h, resumed)
}
