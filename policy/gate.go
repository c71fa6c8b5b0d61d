package policy

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// Request states.
const (
	Waiting = "waiting" // for approvals
	Started = "started" // all approvals in; the deploy started
	Failed  = "failed"  // all approvals in, but the deploy could not start
	Lapsed  = "lapsed"  // the timeout passed first
	Aborted = "aborted" // withdrawn by the asker
	Void    = "void"    // what was asked for changed (a new patchset)
)

// Approval is one person's approval of a request, under one rule. It
// approves the request as stored (its changes at their patchsets, its
// requester, reason and action) and nothing else: when any of them
// changes, the request and its approvals are void.
type Approval struct {
	By   string    `json:"by"`
	At   time.Time `json:"at"`
	Rule string    `json:"rule"`
	Role string    `json:"role,omitempty"`
	// Roles are the request's roles the approver could fill when they
	// approved (their own roles; every role for an admin only when the
	// policy says so). The slots are filled by matching, again at each
	// approval.
	Roles []string `json:"roles,omitempty"`
}

// String is "Rita (RelEng, Friday) at 14:05 UTC".
func (a Approval) String() string {
	return fmt.Sprintf("%s (%s) at %s", a.By, a.Rule, a.At.UTC().Format("15:04 UTC"))
}

// Request is a deploy or revert waiting for approvals.
type Request struct {
	ID     string `json:"id"` // "r1"
	Action Action `json:"action"`
	By     string `json:"by"`
	Origin string `json:"origin"`
	What   string `json:"what"` // "445113 and 445114"
	// PatchSets pins each change to the patchset it was at when asked
	// for (by change number); empty when Gerrit could not be read.
	PatchSets map[int]int `json:"patchsets,omitempty"`
	Force     bool        `json:"force,omitempty"`
	Reason    string      `json:"reason,omitempty"`
	Created   time.Time   `json:"created"`
	Deadline  time.Time   `json:"deadline"`
	Needs     []Need      `json:"needs"`
	Approved  []Approval  `json:"approved,omitempty"`
	State     string      `json:"state"`
	// Deploy is the engine's id once started; Error why it did not start.
	Deploy string `json:"deploy,omitempty"`
	Error  string `json:"error,omitempty"`
	// Payload is the caller's, given back to Start (the deploy request).
	Payload json.RawMessage `json:"payload"`
	// Asker is the asker's identity as the chat transport vouched for it
	// (opaque here), given back to Start: the deploy starts as the asker,
	// not as the last approver.
	Asker json.RawMessage `json:"asker,omitempty"`
}

// Missing lists the needs the approvals do not meet, each approver
// filling at most one need, matched so that as many as possible are met.
func (r Request) Missing() []Need {
	return Rules{}.Unmet(r.Needs, r.approvers())
}

func (r Request) approvers() []Approver {
	out := make([]Approver, len(r.Approved))
	for i, a := range r.Approved {
		out[i] = Approver{Name: a.By, Roles: a.Roles}
		if len(a.Roles) == 0 && a.Role != "" {
			out[i].Roles = []string{a.Role} // stored before approvals kept their roles
		}
	}
	return out
}

// Pinned is "445113 at patchset 2 and 445114 at patchset 1" ("" when
// nothing is pinned).
func (r Request) Pinned() string {
	nums := make([]int, 0, len(r.PatchSets))
	for n := range r.PatchSets {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	var out []string
	for _, n := range nums {
		out = append(out, fmt.Sprintf("%d at patchset %d", n, r.PatchSets[n]))
	}
	return joinList(out)
}

// NeedText is "Jeena's approval" or "one SRE person's approval".
func NeedText(n Need, roleNames map[string]string) string {
	if n.Person != "" {
		return n.Person
	}
	name := roleNames[n.Role]
	if name == "" {
		name = n.Role
	}
	return "one " + name + " person"
}

// GateOptions configure a Gate.
type GateOptions struct {
	// Start starts the deploy of a fully approved request and returns the
	// engine's id, or a sentence saying why it could not start.
	Start func(ctx context.Context, r Request) (string, error)
	// Notify tells the request's origin about a lapse.
	Notify func(ctx context.Context, origin string, t bot.Text)
	// RoleNames are the names people read for roles.
	RoleNames map[string]string
	// AdminHasEveryRole lets admins fill approvals of any role.
	AdminHasEveryRole bool
	// Current reads the changes' current patchsets from Gerrit, to void
	// a request whose changes got a new patchset; nil skips the check
	// (the engine checks again when the deploy starts).
	Current func(ctx context.Context, changes []int) (map[int]int, error)
	// Now is the clock deadlines are read against (time.Now when nil).
	Now func() time.Time
	Log *slog.Logger
}

// Gate keeps deploy requests that wait for approvals, in bbolt: a request
// is stored before the asker is answered, each approval is stored (with an
// audit record) before it is acknowledged, and a restart keeps waiting
// where it was.
type Gate struct {
	db   *store.DB
	o    GateOptions
	log  *slog.Logger
	mu   sync.Mutex // one approval or lapse at a time
	kick chan struct{}
}

// NewGate returns a gate over db.
func NewGate(db *store.DB, o GateOptions) *Gate {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Gate{db: db, o: o, log: o.Log.With("component", "policy"), kick: make(chan struct{}, 1)}
}

// GateError is a sentence for the person who asked.
type GateError string

func (e GateError) Error() string { return string(e) }

// Ask stores r as waiting and returns it with its id.
func (g *Gate) Ask(r Request) (Request, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r.State = Waiting
	err := g.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.PolicyRequests)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		r.ID = "r" + strconv.FormatUint(seq, 10)
		if err := putRequest(b, r); err != nil {
			return err
		}
		return audit(tx, r.Created, r.By, fmt.Sprintf("asked for %s %s (request %s), waiting for %d approvals until %s", r.Action, r.What, r.ID, len(r.Needs), r.Deadline.UTC().Format(time.RFC3339)))
	})
	if err != nil {
		return Request{}, fmt.Errorf("policy: store request: %w", err)
	}
	select {
	case g.kick <- struct{}{}:
	default:
	}
	return r, nil
}

// Waiting lists the requests still waiting for approvals.
func (g *Gate) Waiting() ([]Request, error) {
	all, err := g.all()
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(r Request) bool { return r.State != Waiting }), nil
}

// Get returns request id.
func (g *Gate) Get(id string) (Request, bool, error) {
	var r Request
	var ok bool
	err := g.db.View(func(tx *bolt.Tx) error {
		var err error
		r, ok, err = getRequest(tx.Bucket(store.PolicyRequests), id)
		return err
	})
	return r, ok, err
}

func (g *Gate) all() ([]Request, error) {
	var out []Request
	err := g.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(store.PolicyRequests).ForEach(func(k, v []byte) error {
			var r Request
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("policy: request %s: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	slices.SortFunc(out, func(a, b Request) int { return a.Created.Compare(b.Created) })
	return out, err
}

// Approve records who's approval of request id (or of the only waiting
// request when id is "") at now. When it was the last one needed, the
// deploy starts. It returns the request as it is afterwards; errors of
// type GateError are sentences for who.
func (g *Gate) Approve(ctx context.Context, id string, who Person, now time.Time) (Request, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, err := g.find(id)
	if err != nil {
		return Request{}, err
	}
	if r.State == Waiting && !now.Before(r.Deadline) {
		r = g.lapse(ctx, r, now)
	}
	switch {
	case r.State == Lapsed:
		return r, GateError(fmt.Sprintf("Request %s lapsed at %s; %s must ask again.", r.ID, r.Deadline.UTC().Format("15:04 UTC"), r.By))
	case r.State != Waiting:
		return r, GateError(fmt.Sprintf("Request %s no longer waits for approvals (%s).", r.ID, r.State))
	case who.is(r.By):
		return r, GateError(fmt.Sprintf("%s asked for request %s; the approvals must come from someone else.", r.By, r.ID))
	case slices.ContainsFunc(r.Approved, func(a Approval) bool { return who.is(a.By) }):
		return r, GateError(fmt.Sprintf("You already approved request %s; each approval must come from a different person.", r.ID))
	}
	if changed, err := g.changed(ctx, r); err != nil {
		return r, err
	} else if changed != "" {
		r.State, r.Error = Void, changed
		if err := g.save(r, who.Name, fmt.Sprintf("request %s void: %s", r.ID, changed)); err != nil {
			return r, err
		}
		return r, GateError(fmt.Sprintf("Request %s is void: %s; its approvals do not carry over. %s must ask again.", r.ID, changed, r.By))
	}
	rules := Rules{AdminHasEveryRole: g.o.AdminHasEveryRole}
	me := who.Approver()
	for _, n := range r.Needs {
		if n.Role != "" && rules.fills(me, n) && !slices.Contains(me.Roles, n.Role) {
			me.Roles = append(slices.Clip(me.Roles), n.Role)
		}
	}
	me.Admin = false // its roles are now explicit
	n, ok := Rules{}.Helps(r.Needs, r.approvers(), me)
	if !ok {
		var want []string
		for _, n := range r.Missing() {
			want = append(want, NeedText(n, g.o.RoleNames))
		}
		return r, GateError(fmt.Sprintf("Thanks, %s, but request %s waits for approval from %s, and you are not one of them.", who.Name, r.ID, joinList(want)))
	}
	var roles []string
	for _, need := range r.Needs {
		if need.Role != "" && slices.Contains(me.Roles, need.Role) && !slices.Contains(roles, need.Role) {
			roles = append(roles, need.Role)
		}
	}
	a := Approval{By: who.Name, At: now.UTC(), Rule: n.Rule, Role: n.Role, Roles: roles}
	r.Approved = append(r.Approved, a)
	done := len(r.Missing()) == 0
	if done {
		r.State = Started
	}
	if err := g.save(r, who.Name, fmt.Sprintf("approved request %s under %s", r.ID, n.Rule)); err != nil {
		return r, err
	}
	if !done {
		return r, nil
	}
	dep, err := g.o.Start(ctx, r)
	if err != nil {
		r.State, r.Error = Failed, err.Error()
	}
	r.Deploy = dep
	if serr := g.save(r, r.By, fmt.Sprintf("request %s %s: %s", r.ID, r.State, dep+r.Error)); serr != nil {
		g.log.Error("record started request", "request", r.ID, "err", serr)
	}
	return r, err
}

// changed says how r's changes moved away from the patchsets it pins (""
// when they did not, or nothing can be checked).
func (g *Gate) changed(ctx context.Context, r Request) (string, error) {
	if g.o.Current == nil || len(r.PatchSets) == 0 {
		return "", nil
	}
	nums := make([]int, 0, len(r.PatchSets))
	for n := range r.PatchSets {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	cur, err := g.o.Current(ctx, nums)
	if err != nil {
		g.log.Warn("read current patchsets", "request", r.ID, "err", err)
		return "", GateError(fmt.Sprintf("I cannot read Gerrit to check that request %s's changes are still the patchsets asked for, so your approval was not recorded; try again in a minute.", r.ID))
	}
	var moved []string
	for _, n := range nums {
		if p, ok := cur[n]; ok && p != r.PatchSets[n] {
			moved = append(moved, fmt.Sprintf("change %d is at patchset %d now, but the request was for patchset %d", n, p, r.PatchSets[n]))
		}
	}
	return strings.Join(moved, "; "), nil
}

func (g *Gate) find(id string) (Request, error) {
	if id != "" {
		r, ok, err := g.Get(id)
		if err != nil {
			return Request{}, err
		}
		if !ok {
			return Request{}, GateError(fmt.Sprintf("There is no deploy request %s.", id))
		}
		return r, nil
	}
	w, err := g.Waiting()
	if err != nil {
		return Request{}, err
	}
	switch len(w) {
	case 0:
		return Request{}, GateError("No deploy request waits for an approval.")
	case 1:
		return w[0], nil
	}
	var ids []string
	for _, r := range w {
		ids = append(ids, r.ID)
	}
	return Request{}, GateError("Several requests wait for approvals (" + joinList(ids) + "); say which, e.g. `approve " + ids[0] + "`.")
}

// Abort withdraws a waiting request; only its asker (or an admin) may.
func (g *Gate) Abort(id string, who Person) (Request, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, err := g.find(id)
	if err != nil {
		return Request{}, err
	}
	switch {
	case r.State != Waiting:
		return r, GateError(fmt.Sprintf("Request %s no longer waits for approvals (%s).", r.ID, r.State))
	case !who.is(r.By) && !who.Admin:
		return r, GateError(fmt.Sprintf("Only %s, who asked for request %s, can withdraw it.", r.By, r.ID))
	}
	r.State = Aborted
	return r, g.save(r, who.Name, "withdrew request "+r.ID)
}

// Lapse ends every waiting request whose deadline is not after now, and
// tells their origins.
func (g *Gate) Lapse(ctx context.Context, now time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	w, err := g.Waiting()
	if err != nil {
		return err
	}
	for _, r := range w {
		if !now.Before(r.Deadline) {
			g.lapse(ctx, r, now)
		}
	}
	return nil
}

func (g *Gate) lapse(ctx context.Context, r Request, now time.Time) Request {
	r.State = Lapsed
	if err := g.save(r, r.By, "request "+r.ID+" lapsed"); err != nil {
		g.log.Error("record lapse", "request", r.ID, "err", err)
		return r
	}
	var want []string
	for _, n := range r.Missing() {
		want = append(want, NeedText(n, g.o.RoleNames))
	}
	msg := fmt.Sprintf("Request %s by %s to %s %s lapsed at %s without approval from %s; nothing was done. Ask again when they are around.",
		r.ID, r.By, r.Action, r.What, r.Deadline.UTC().Format("15:04 UTC"), joinList(want))
	if g.o.Notify != nil {
		g.o.Notify(ctx, r.Origin, bot.T(msg))
	}
	return r
}

// Run lapses requests as their deadlines pass, until ctx is done.
func (g *Gate) Run(ctx context.Context) {
	for {
		next := time.Hour
		if w, err := g.Waiting(); err == nil {
			for _, r := range w {
				next = min(next, r.Deadline.Sub(g.o.Now()))
			}
		}
		t := time.NewTimer(max(next, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-g.kick:
		case <-t.C:
			if err := g.Lapse(ctx, g.o.Now()); err != nil {
				g.log.Error("lapse requests", "err", err)
			}
		}
		t.Stop()
	}
}

func (g *Gate) save(r Request, who, what string) error {
	err := g.db.Update(func(tx *bolt.Tx) error {
		if err := putRequest(tx.Bucket(store.PolicyRequests), r); err != nil {
			return err
		}
		return audit(tx, time.Now(), who, what)
	})
	if err != nil {
		return fmt.Errorf("policy: save request %s: %w", r.ID, err)
	}
	return nil
}

func putRequest(b *bolt.Bucket, r Request) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put([]byte(r.ID), v)
}

func getRequest(b *bolt.Bucket, id string) (Request, bool, error) {
	v := b.Get([]byte(strings.ToLower(id)))
	if v == nil {
		return Request{}, false, nil
	}
	var r Request
	if err := json.Unmarshal(v, &r); err != nil {
		return Request{}, false, fmt.Errorf("policy: request %s: %w", id, err)
	}
	return r, true, nil
}

// audit appends an audit record in the same transaction as the change.
func audit(tx *bolt.Tx, at time.Time, who, what string) error {
	b := tx.Bucket(store.Audit)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	key := make([]byte, 8)
	binary.BigEndian.PutUint64(key, seq)
	rec, _ := json.Marshal(map[string]any{"at": at.UTC(), "who": who, "what": what})
	return b.Put(key, rec)
}

// IsGateError reports whether err is a sentence for the user.
func IsGateError(err error) bool {
	var ge GateError
	return errors.As(err, &ge)
}
