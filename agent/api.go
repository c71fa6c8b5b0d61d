// Package agent splits jouncebot in two: the deploy agent, which runs the
// deploy engine on the deployment host and holds the Gerrit password, the
// staging checkout and the keys to the servers, and the chat bot, which
// talks to it over mutual TLS and holds none of them.
//
// The protocol is net/http with JSON: one POST /v1/<method> per Service
// method, and GET /v1/events, a Server-Sent Events stream of the agent's
// durable event log from the client's cursor on. On the agent:
//
//	srv := agent.NewServer(engine, eventLog, cfg, log)
//	err := srv.Serve(ctx, listener, tlsConfig)
//
// On the chat side a *Client is the engine (deploy.Service, Record,
// Estimate), and Client.Run delivers events to a deploy.Notifier:
//
//	c := agent.NewClient(agent.ClientOptions{Name: "eqiad", Address: …, TLS: …, DB: db, Notify: n})
//	go c.Run(ctx)
//
// The agent decides: every request carries who asked (network, account,
// the person the chat side mapped), and the agent maps the account again
// against its own people list and roles before it acts.
package agent

import (
	"context"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy"
)

// Caller is who asked, as the chat transport vouched for them: the
// network's kind ("irc", "matrix", "console"), its configured name and the
// services account or Matrix user id.
type Caller struct {
	Kind    string `json:"kind,omitempty"`
	Network string `json:"network,omitempty"`
	Account string `json:"account,omitempty"`
}

type callerKey struct{}

// WithCaller returns ctx carrying who asked; the chat side sets it for
// each chat message, and the Client sends it with every request.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller ctx carries.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// call is the body of every POST /v1/<method>.
type call struct {
	Caller  Caller                `json:"caller"`
	ID      deploy.ID             `json:"id,omitempty"`
	By      deploy.Person         `json:"by"`
	OK      bool                  `json:"ok,omitempty"`
	Action  string                `json:"action,omitempty"`
	Reason  string                `json:"reason,omitempty"`
	Changes []string              `json:"changes,omitempty"`
	Numbers []int                 `json:"numbers,omitempty"`
	N       int                   `json:"n,omitempty"`
	Request *deploy.Request       `json:"request,omitempty"`
	Revert  *deploy.RevertRequest `json:"revert,omitempty"`
}

// reply is the answer to a call. Error is a sentence for the person who
// asked; Code names the engine's sentinel errors.
type reply struct {
	Error    string         `json:"error,omitempty"`
	Code     string         `json:"code,omitempty"`
	ID       deploy.ID      `json:"id,omitempty"`
	Status   *deploy.Status `json:"status,omitempty"`
	Text     bot.Text       `json:"text,omitempty"`
	Summary  string         `json:"summary,omitempty"`
	Deploy   *deploy.Deploy `json:"deploy,omitempty"`
	Estimate time.Duration  `json:"estimate,omitempty"`
	From     string         `json:"from,omitempty"`
	History  []deploy.Took  `json:"history,omitempty"`
	// PatchSets are the current patchsets by change number.
	PatchSets map[int]int `json:"patchsets,omitempty"`
}

// Error codes carried in reply.Code.
const (
	codeNoDecision = "no_decision"
	codeNoTest     = "no_test"
	codeRefused    = "refused"
)

// Engine is what the agent serves: the deploy engine (*deploy.Engine).
type Engine interface {
	deploy.Service
	Record(id deploy.ID) (*deploy.Deploy, error)
	Estimate(n int) (time.Duration, string, error)
	History(n int) ([]deploy.Took, error)
	Pending(ctx context.Context) (deploy.Event, bool, error)
	// PatchSets reads the changes' current patchsets in the engine's
	// Gerrit, to pin a request waiting for approvals to them.
	PatchSets(ctx context.Context, changes []int) (map[int]int, error)
}
