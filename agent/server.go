package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy"
)

// Server serves the deploy engine to the chat bot.
type Server struct {
	engine Engine
	events *Log
	cfg    *config.Config
	log    *slog.Logger
	audit  *Audit
	mux    *http.ServeMux
}

// NewServer returns the agent's HTTP handler around engine; events is the
// log the engine's Notifier writes to, cfg the agent's own configuration
// (its people and roles decide who may do what), audit where every request
// and decision is written (nil: nowhere).
func NewServer(engine Engine, events *Log, cfg *config.Config, audit *Audit, log *slog.Logger) *Server {
	s := &Server{engine: engine, events: events, cfg: cfg, audit: audit, log: log.With("component", "agent"), mux: http.NewServeMux()}
	s.mux.HandleFunc("POST /v1/{method}", s.handleCall)
	s.mux.HandleFunc("GET /v1/events", s.handleEvents)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Serve serves on ln with tc (mutual TLS) until ctx is done.
func (s *Server) Serve(ctx context.Context, ln net.Listener, tc *tls.Config) error {
	hs := &http.Server{Handler: s, TLSConfig: tc, ReadHeaderTimeout: 30 * time.Second,
		ReadTimeout: readTimeout, WriteTimeout: writeTimeout, IdleTimeout: idleTimeout,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		hs.Close()
	}()
	err := hs.Serve(tls.NewListener(ln, tc))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// need says what a method needs of the person who asked.
type need int

const (
	anyone     need = iota // read-only: any client past mutual TLS
	identified             // a person in the agent's people list
	deployer               // a person with the deployer role
)

var methods = map[string]need{
	"status": anyone, "plan": anyone, "summary": anyone, "record": anyone, "estimate": anyone, "history": anyone, "pending": anyone, "patchsets": anyone,
	"tested": identified,
	"start":  deployer, "revert": deployer, "continue": deployer, "abort": deployer, "approve": deployer, "decide": deployer,
}

func (s *Server) handleCall(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	n, known := methods[method]
	if !known {
		s.audit.refuse(method, clientName(r), "unknown method")
		http.Error(w, "unknown method", http.StatusNotFound)
		return
	}
	var c call
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&c); err != nil {
		s.audit.refuse(method, clientName(r), "the request body is not a call")
		http.Error(w, "bad request body", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	var rep reply
	who, how, err := s.authorise(method, n, &c)
	entry, aerr := s.audit.entry(method, n != anyone, clientName(r), c, who, how, err)
	if err == nil && aerr != nil && n != anyone {
		s.log.Error("audit log not written: request refused", "method", method, "err", aerr)
		err = &refusal{"The deploy agent cannot write its audit log, so it did nothing; its operator must look at the agent's disk."}
	}
	if err == nil {
		rep, err = s.dispatch(ctx, method, c, who)
		s.audit.outcome(entry, rep, err)
	}
	if err != nil {
		rep = reply{Error: err.Error()}
		switch {
		case errors.Is(err, deploy.ErrNoDecision):
			rep.Code = codeNoDecision
		case errors.Is(err, deploy.ErrNoTest):
			rep.Code = codeNoTest
		case errors.As(err, new(*refusal)):
			rep.Code = codeRefused
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rep)
}

// refusal is the agent's own no.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

// authorise maps the caller to a person in the agent's own people list
// and checks the method's need against that person's roles, whatever the
// chat side said about them. It logs every decision on a changing method.
func (s *Server) authorise(method string, n need, c *call) (deploy.Person, string, error) {
	if n == anyone {
		return deploy.Person{}, "read-only", nil
	}
	claimed := c.By.Name
	if c.Request != nil {
		claimed = c.Request.By.Name
	}
	if c.Revert != nil {
		claimed = c.Revert.By.Name
	}
	p, how := s.person(c.Caller)
	log := s.log.With("method", method, "network", c.Caller.Network, "kind", c.Caller.Kind, "account", c.Caller.Account, "claimed", claimed)
	switch {
	case p == nil:
		log.Warn("refused: the caller is not in the agent's people list", "why", how)
		return deploy.Person{}, how, &refusal{fmt.Sprintf("The deploy agent refused: it does not know %s (%s).", orSomeone(claimed), how)}
	case claimed != "" && !strings.EqualFold(claimed, p.Name):
		log.Warn("refused: the chat side named another person than the account maps to", "person", p.Name)
		return deploy.Person{}, how, &refusal{fmt.Sprintf("The deploy agent refused: the account belongs to %s, not %s.", p.Name, claimed)}
	case n == deployer && !p.Has(config.RoleDeployer):
		log.Warn("refused: no deployer role in the agent's people list", "person", p.Name)
		return deploy.Person{}, how, &refusal{fmt.Sprintf("The deploy agent refused: %s does not have the deployer role.", p.Name)}
	}
	log.Info("allowed", "person", p.Name)
	return deploy.PersonFrom(p), how, nil
}

// person finds the caller in the agent's own people, only through an
// identity the agent's configuration lets the chat side vouch for: an IRC
// account or Matrix user id on a network listed in agent.networks with that
// type, or the chat bot's console when agent.console_person is set. Never
// by name: a name is a claim anyone can make.
func (s *Server) person(c Caller) (*config.Person, string) {
	var a config.AgentServer
	if s.cfg.Agent != nil {
		a = *s.cfg.Agent
	}
	switch c.Kind {
	case "console":
		if a.ConsolePerson == "" {
			return nil, "the agent takes no requests from the chat bot's console: agent.console_person is not set"
		}
		return s.cfg.PersonByName(a.ConsolePerson), "the chat bot's console"
	case "irc", "matrix":
		n := a.AgentNetworkByName(c.Network)
		switch {
		case n == nil:
			return nil, fmt.Sprintf("network %q is not in the agent's agent.networks", c.Network)
		case n.Type != c.Kind:
			return nil, fmt.Sprintf("network %q is a %s network in the agent's agent.networks, not %s", c.Network, n.Type, c.Kind)
		case c.Account == "":
			return nil, "no account: the person is not logged in"
		case c.Kind == "irc":
			return s.cfg.PersonByIRCAccount(c.Account), "IRC account " + strconv.Quote(c.Account)
		}
		return s.cfg.PersonByMatrixID(c.Account), "Matrix user " + c.Account
	case "":
		return nil, "the request names no network and account; the agent identifies people only by account, never by name"
	}
	return nil, "unknown network kind " + strconv.Quote(c.Kind)
}

func orSomeone(name string) string {
	if name == "" {
		return "the person who asked"
	}
	return name
}

// dispatch runs the method with who standing in for every person the
// chat side named.
func (s *Server) dispatch(ctx context.Context, method string, c call, who deploy.Person) (reply, error) {
	e := s.engine
	c.N = max(c.N, 0) // the engine slices by it
	switch method {
	case "status":
		st, err := e.Status(ctx)
		return reply{Status: &st}, err
	case "plan":
		t, err := e.Plan(ctx, c.Changes)
		return reply{Text: t}, err
	case "summary":
		t, err := e.Summary(ctx, c.Changes)
		return reply{Summary: t}, err
	case "record":
		d, err := e.Record(c.ID)
		return reply{Deploy: d}, err
	case "estimate":
		d, from, err := e.Estimate(c.N)
		return reply{Estimate: d, From: from}, err
	case "history":
		h, err := e.History(c.N)
		return reply{History: h}, err
	case "pending":
		ev, ok, err := e.Pending(ctx)
		if !ok {
			return reply{}, err
		}
		return reply{ID: ev.Deploy, Text: ev.Text}, err
	case "patchsets":
		if len(c.Numbers) > maxPatchSets {
			return reply{}, &refusal{fmt.Sprintf("The deploy agent reads at most %d changes at once.", maxPatchSets)}
		}
		ps, err := e.PatchSets(ctx, c.Numbers)
		return reply{PatchSets: ps}, err
	case "tested":
		return reply{}, e.Tested(ctx, c.ID, who, c.OK)
	case "start":
		if c.Request == nil {
			return reply{}, errors.New("start without a request")
		}
		r := *c.Request
		r.By = who
		id, err := e.Start(ctx, r)
		return reply{ID: id}, err
	case "revert":
		if c.Revert == nil {
			return reply{}, errors.New("revert without a request")
		}
		r := *c.Revert
		r.By = who
		id, err := e.Revert(ctx, r)
		return reply{ID: id}, err
	case "continue":
		return reply{}, e.Continue(ctx, c.ID, who)
	case "abort":
		return reply{}, e.Abort(ctx, c.ID, who)
	case "approve":
		return reply{}, e.Approve(ctx, c.ID, who)
	case "decide":
		return reply{}, e.Decide(ctx, c.ID, who, c.Action, c.Reason)
	}
	return reply{}, fmt.Errorf("unknown method %q", method)
}

// maxPatchSets bounds the changes one patchsets call reads from Gerrit.
const maxPatchSets = 50

// Timeouts of the agent's HTTP server. A stream write that cannot go out
// within streamWriteTimeout (a client that stopped reading) ends the
// stream, so no client holds a goroutine; calls get writeTimeout.
const (
	readTimeout        = time.Minute
	writeTimeout       = 3 * time.Minute
	idleTimeout        = 2 * time.Minute
	streamWriteTimeout = 30 * time.Second
	pingEvery          = 15 * time.Second
)

// handleEvents streams the event log after the client's cursor as
// Server-Sent Events. The first message ("event: log") says which log
// this is and where the stream starts (Resume); then each event, "id:
// <seq>" and "data: <record JSON>", and then it waits for more. After the
// backlog it sends the pending question (without an id: it is asked
// again, not a new event) and a comment every 15 seconds so a dead link is
// noticed. With follow=false it ends after the backlog.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var cur Cursor
	cur.Log = q.Get("log")
	cur.Seq, _ = strconv.ParseUint(q.Get("after"), 10, 64)
	cur.None = !q.Has("after")
	if runs := q.Get("runs"); runs != "" {
		cur.Runs = strings.Split(runs, ",")
	}
	follow := q.Get("follow") != "false"
	s.audit.read(AuditLine{Time: time.Now().UTC(), Method: "events", Client: clientName(r), Decision: "allowed", How: "read-only"})
	res, err := s.events.Resume(cur)
	if err != nil {
		s.log.Error("resume the event log", "err", err)
		http.Error(w, "the agent cannot read its event log", http.StatusInternalServerError)
		return
	}
	rc := http.NewResponseController(w)
	// The stream reads nothing more: no read deadline (over HTTP/1.1 it
	// would end the stream), but every write has one.
	rc.SetReadDeadline(time.Time{})
	// send writes one message and flushes it, within streamWriteTimeout.
	send := func(format string, args ...any) bool {
		rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	hello, _ := json.Marshal(res)
	if !send(": jouncebot agent\n\nevent: log\ndata: %s\n\n", hello) {
		return
	}
	after := res.From
	ctx := r.Context()
	tick := time.NewTicker(pingEvery)
	defer tick.Stop()
	backlog, askedInBacklog := true, map[deploy.ID]bool{}
	for {
		changed := s.events.Changed()
		recs, err := s.events.After(after, 100)
		if err != nil {
			s.log.Error("read event log", "err", err)
			return
		}
		var buf bytes.Buffer
		for _, rec := range recs {
			b, _ := json.Marshal(rec)
			fmt.Fprintf(&buf, "id: %d\ndata: %s\n\n", rec.Seq, b)
			after = rec.Seq
			if backlog && rec.Event.Kind == deploy.EventNeeds {
				askedInBacklog[rec.Event.Deploy] = true
			}
		}
		if len(recs) == 100 {
			if !send("%s", buf.Bytes()) {
				s.log.Info("event stream ended: the chat bot did not take the events in time")
				return
			}
			continue
		}
		if backlog {
			backlog = false
			if ev, ok, err := s.engine.Pending(ctx); err == nil && ok && !askedInBacklog[ev.Deploy] {
				b, _ := json.Marshal(Record{Event: ev})
				fmt.Fprintf(&buf, "event: pending\ndata: %s\n\n", b)
			}
		}
		if buf.Len() > 0 && !send("%s", buf.Bytes()) {
			s.log.Info("event stream ended: the chat bot did not take the events in time")
			return
		}
		if !follow {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
			if !send(": ping\n\n") {
				s.log.Info("event stream ended: the chat bot did not take a ping in time")
				return
			}
		}
	}
}
