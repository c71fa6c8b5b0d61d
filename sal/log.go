// Package sal is the Server Admin Log: who changed what, when. People write
// to it with "!log <message>" in the channels and rooms configured for a
// project; the deploy engine writes its own lines with Append. Entries are
// durable in bbolt before anyone is told they were logged, indexed for
// full-text search, and copied to a wiki page and Phabricator tasks through
// a persisted outbox that survives those services being down.
//
// Wire it up once:
//
//	l := sal.New(db, cfg, sal.Options{Logger: log, Routes: routes, Notify: notify})
//	go l.Run(ctx) // the outbox; returns when ctx is done
//
// and hand every chat line to it:
//
//	if reply, ok := l.HandleLine(ctx, src, text); ok { … send reply (rich text) … }
//
// Parsing a line (Policy.Parse) is a pure function; storage (Append, Get,
// Search) and the outbox (Run) are the edges.
package sal

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/store"
)

// Log is the Server Admin Log. It is safe for concurrent use.
type Log struct {
	db      *store.DB
	cfg     *config.Config
	policy  *Policy
	log     *slog.Logger
	now     func() time.Time
	baseURL string

	outbox *outbox

	// onAppend learns each entry stored.
	onAppend func(Entry)

	// Appends are committed in groups: whoever holds commitMu commits
	// everything queued in pending in one transaction, so concurrent
	// appends share one fsync instead of queueing for one each.
	pendingMu sync.Mutex
	pending   []*appendReq
	commitMu  sync.Mutex
}

// Options are the Log's optional parts.
type Options struct {
	// Logger receives the log's diagnostics; nil discards them.
	Logger *slog.Logger
	// Routes are where entries are copied to (wiki pages, Phabricator).
	Routes []Route
	// Notify is told when a route starts failing and when it recovers.
	Notify func(ctx context.Context, n Notice)
	// Backoff bounds the wait between retries of a failing route. Zero
	// values mean 5s and 5m.
	MinBackoff, MaxBackoff time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// BaseURL is the public URL of the running web server, for permalinks
	// in replies and routes; empty when no web server runs, and then
	// replies carry no link.
	BaseURL string
	// SameRoom compares a room as configured for a project with the room
	// a !log line came from (usually (*bot.Bot).SameRoom, which knows the
	// room ids of Matrix aliases); nil compares the names.
	SameRoom func(network, configured, room string) bool
	// OnAppend, when set, learns each entry stored (for the metrics).
	OnAppend func(Entry)
}

// New returns the log stored in db, configured by cfg.
func New(db *store.DB, cfg *config.Config, opts Options) *Log {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Log{
		db:      db,
		cfg:     cfg,
		policy:  NewPolicy(cfg, opts.SameRoom),
		log:     opts.Logger.With("component", "sal"),
		now:     opts.Now,
		baseURL: strings.TrimRight(opts.BaseURL, "/"),
	}
	l.outbox = newOutbox(db, l.log, opts)
	l.onAppend = opts.OnAppend
	l.outbox.permalink = l.Permalink
	return l
}

// Policy returns the rules the log applies to chat lines.
func (l *Log) Policy() *Policy { return l.policy }

// Permalink is the web address of entry id, or "" when no web server runs.
func (l *Log) Permalink(id uint64) string {
	if l.baseURL == "" {
		return ""
	}
	return l.baseURL + "/sal/log/" + strconv.FormatUint(id, 10)
}

// HandleLine handles a chat line if it is a !log command: it stores the
// entry and returns the reply to send. handled is false when the line is
// not a !log command and should go to other handlers. Every reply but the
// permalink addresses the sender by a mention of src.Sender (their own id
// on Matrix, never a display name they chose).
func (l *Log) HandleLine(ctx context.Context, src Source, text string) (reply bot.Text, handled bool) {
	p := l.policy.Parse(src, text, l.now())
	to := func(s string) bot.Text { return bot.Join(src.mention(), bot.T(": "+s)) }
	switch p.Kind {
	case NotCommand:
		return nil, false
	case Missing:
		return to("Message missing. Nothing logged."), true
	case NotHere:
		return to("Not expecting to hear !log here"), true
	case NotIdentified:
		return to("Please identify to your account (e.g. with NickServ) first; only identified people can !log to " + p.Project + ". Nothing logged."), true
	case NotAllowed:
		return to("You are not on the list of people allowed to !log to " + p.Project + ". Nothing logged; ask an admin to add you to the project's allow list."), true
	case TooLong:
		return to(fmt.Sprintf("That message is too long for the log (at most %d characters). Nothing logged; put the details in a paste or a task and log a link.", MaxMessage)), true
	case Help:
		where := p.Project
		if l.baseURL != "" {
			where += " (" + l.baseURL + "/sal?project=" + url.QueryEscape(p.Project) + ")"
		}
		return to("\"!log <message>\" records <message> in the Server Admin Log for " + where + ". Search it with \"" + l.cfg.Bot.Nick + ": sal <words>\"; see \"" + l.cfg.Bot.Nick + ": help sal\"."), true
	}
	e, err := l.Append(ctx, p.Entry)
	if err != nil {
		l.log.Error("cannot store entry", "network", src.Network, "room", src.Room, "nick", src.Nick, "err", err)
		return to("Failed to log the message: the log could not be saved. Nothing logged; somebody should check the error logs."), true
	}
	link := l.Permalink(e.ID)
	if link == "" {
		return bot.T("Logged the message."), true
	}
	return bot.T("Logged the message at ").Append(bot.L(link, link)), true
}

// ErrInvalid is wrapped by errors for entries that cannot be logged.
var ErrInvalid = errors.New("invalid entry")

// Append stores an entry, indexes it and queues it for the routes, all in
// one transaction that is on disk when Append returns. The entry's ID is
// assigned, its Time defaults to now, its Message is stripped of formatting
// codes, and its Tasks and Changes are found in the message. The deploy
// engine logs its own lines with it (Nick is the deployer, Project the SAL
// project, Message the line).
func (l *Log) Append(ctx context.Context, e Entry) (Entry, error) {
	return l.AppendWith(ctx, e, nil)
}

// AppendWith is Append, running also (when not nil) in the transaction
// that stores the entry: the deploy agent's client moves its cursor there,
// so an agent's line is logged once whatever crashes when.
func (l *Log) AppendWith(ctx context.Context, e Entry, also func(tx *bolt.Tx) error) (Entry, error) {
	if err := l.prepare(&e); err != nil {
		return e, err
	}
	if err := ctx.Err(); err != nil {
		return e, err
	}
	req := &appendReq{entry: e, also: also, done: make(chan struct{})}
	l.commit(req)
	if req.err == nil {
		l.outbox.kick()
		if l.onAppend != nil {
			l.onAppend(req.entry)
		}
	}
	return req.entry, req.err
}

// prepare checks and completes an entry before it is stored.
func (l *Log) prepare(e *Entry) error {
	e.Message = strings.TrimSpace(StripFormatting(e.Message))
	e.Nick = strings.TrimSpace(StripFormatting(e.Nick))
	switch {
	case e.Message == "":
		return fmt.Errorf("sal: append: %w: the message is empty", ErrInvalid)
	case e.Nick == "":
		return fmt.Errorf("sal: append: %w: the nick is empty", ErrInvalid)
	case e.Project == "":
		return fmt.Errorf("sal: append: %w: the project is empty", ErrInvalid)
	case len(e.Message) > 4*MaxMessage:
		return fmt.Errorf("sal: append: %w: the message is longer than %d bytes", ErrInvalid, 4*MaxMessage)
	}
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	e.Time = e.Time.UTC().Truncate(time.Second)
	e.Tasks = FindTasks(e.Message)
	e.Changes = FindChanges(e.Message)
	return nil
}

type appendReq struct {
	entry Entry
	also  func(tx *bolt.Tx) error
	err   error
	done  chan struct{}
}

// commit stores req, together with whatever else is pending.
func (l *Log) commit(req *appendReq) {
	l.pendingMu.Lock()
	l.pending = append(l.pending, req)
	l.pendingMu.Unlock()

	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	select {
	case <-req.done: // an earlier leader committed it
		return
	default:
	}
	l.pendingMu.Lock()
	batch := l.pending
	l.pending = nil
	l.pendingMu.Unlock()

	err := l.db.Update(func(tx *bolt.Tx) error {
		for _, r := range batch {
			if err := l.putReq(tx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		// Commit one by one so a bad entry fails alone.
		for _, r := range batch {
			r.err = l.db.Update(func(tx *bolt.Tx) error { return l.putReq(tx, r) })
			close(r.done)
		}
		return
	}
	for _, r := range batch {
		r.err = err
		close(r.done)
	}
}

// putReq writes one request's entry and runs its also.
func (l *Log) putReq(tx *bolt.Tx, r *appendReq) error {
	if err := l.put(tx, &r.entry); err != nil {
		return err
	}
	if r.also != nil {
		return r.also(tx)
	}
	return nil
}

// put writes one entry, its index postings and its outbox items.
func (l *Log) put(tx *bolt.Tx, e *Entry) error {
	b := tx.Bucket(store.SALEntries)
	// Ids only grow, so full pages never get another key: fill them.
	b.FillPercent = 0.95
	id, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("sal: next id: %w", err)
	}
	e.ID = id
	if _, v := b.Cursor().Last(); v != nil {
		// Keep entries in time order even when the clock steps back or
		// lines from two networks arrive out of order: date-range search
		// relies on it.
		var prev struct {
			Time time.Time `json:"time"`
		}
		if json.Unmarshal(v, &prev) == nil && e.Time.Before(prev.Time) {
			e.Time = prev.Time
		}
	}
	val, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("sal: encode entry: %w", err)
	}
	if err := b.Put(idKey(id), val); err != nil {
		return fmt.Errorf("sal: store entry %d: %w", id, err)
	}
	idx := tx.Bucket(store.SALIndex)
	for _, t := range tokens(e) {
		if err := addPosting(idx, t, id); err != nil {
			return fmt.Errorf("sal: index entry %d: %w", id, err)
		}
	}
	return l.outbox.enqueue(tx, *e)
}

func idKey(id uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, id)
	return k
}

// ErrNotFound is returned by Get for an id that was never logged.
var ErrNotFound = errors.New("sal: no such entry")

// Get returns the entry with the id.
func (l *Log) Get(ctx context.Context, id uint64) (Entry, error) {
	var e Entry
	err := l.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(store.SALEntries).Get(idKey(id))
		if v == nil {
			return ErrNotFound
		}
		return json.Unmarshal(v, &e)
	})
	return e, err
}

// Projects returns the configured project names, in configuration order.
func (l *Log) Projects() []string {
	var out []string
	for _, p := range l.cfg.SAL.Projects {
		out = append(out, p.Name)
	}
	return out
}

// Run delivers queued entries to the routes until ctx is done.
func (l *Log) Run(ctx context.Context) error { return l.outbox.run(ctx) }
