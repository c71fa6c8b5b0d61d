package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/jouncebot/jouncebot/deploy"
)

// AuditFile is the agent's audit log, in its data directory: one JSON
// line per request (who the chat side said asked, the client certificate,
// the agent's decision and why) and one per outcome of an allowed change.
const AuditFile = "agent-audit.jsonl"

// Audit appends the agent's audit lines to a file. Lines of changing
// requests are synced to disk before the agent acts on them. Allowed reads
// of one method by one client are written once every readEvery, with how
// many more there were (the chat bot's live status page reads the status
// every second). A file moved away (rotated) is made anew at its path.
type Audit struct {
	path string

	mu    sync.Mutex
	f     *os.File
	reads map[string]*readCount // method and client -> reads since its last line
}

// readEvery is how often an allowed read of one method is written.
const readEvery = time.Minute

type readCount struct {
	written time.Time
	more    int
}

// OpenAudit opens (or creates) the audit file at path for appending.
func OpenAudit(path string) (*Audit, error) {
	f, err := openAuditFile(path)
	if err != nil {
		return nil, err
	}
	return &Audit{path: path, f: f, reads: map[string]*readCount{}}, nil
}

func openAuditFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("agent: open audit log: %w", err)
	}
	return f, nil
}

// Close closes the file.
func (a *Audit) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.f.Close()
}

// AuditLine is one line of the audit file.
type AuditLine struct {
	Time   time.Time `json:"time"`
	Seq    uint64    `json:"seq"` // pairs an outcome with its request
	Method string    `json:"method"`
	// Client is the name on the client certificate.
	Client  string    `json:"client,omitempty"`
	Caller  Caller    `json:"caller"`
	Claimed string    `json:"claimed,omitempty"`
	Changes []string  `json:"changes,omitempty"`
	Deploy  deploy.ID `json:"deploy,omitempty"`
	// Decision is "allowed" or "refused"; Outcome "ok" or "failed".
	Decision string `json:"decision,omitempty"`
	Person   string `json:"person,omitempty"`
	How      string `json:"how,omitempty"`
	Outcome  string `json:"outcome,omitempty"`
	Error    string `json:"error,omitempty"`
	// More is how many more allowed reads of this method by this client
	// there were since its previous line, not written one by one.
	More int `json:"more,omitempty"`
}

var auditSeq struct {
	sync.Mutex
	n uint64
}

// entry writes the request and the decision on it, and returns the line
// for its outcome; an error means the line is not on disk.
func (a *Audit) entry(method string, changing bool, client string, c call, who deploy.Person, how string, err error) (AuditLine, error) {
	auditSeq.Lock()
	auditSeq.n++
	l := AuditLine{Time: time.Now().UTC(), Seq: auditSeq.n, Method: method, Client: client, Caller: c.Caller, Claimed: c.By.Name,
		Deploy: c.ID, Changes: c.Changes, Decision: "allowed", Person: who.Name, How: how}
	auditSeq.Unlock()
	switch {
	case c.Request != nil:
		l.Claimed, l.Changes = c.Request.By.Name, c.Request.Changes
	case c.Revert != nil:
		l.Claimed, l.Changes = c.Revert.By.Name, c.Revert.Changes
	}
	if err != nil {
		l.Decision, l.Error = "refused", err.Error()
	}
	var werr error
	if changing || err != nil {
		werr = a.write(l, changing)
	} else {
		a.read(l)
	}
	l.Decision, l.Error, l.How = "", "", ""
	l.Caller, l.Claimed, l.Client = Caller{}, "", ""
	if !changing {
		l.Method = "" // read-only calls have no outcome line
	}
	return l, werr
}

// refuse writes a request the agent could not read (an unknown method, a
// body that is not a call); method is cut short, as anyone may send it.
func (a *Audit) refuse(method, client, why string) {
	if len(method) > 64 {
		method = method[:64]
	}
	auditSeq.Lock()
	auditSeq.n++
	l := AuditLine{Time: time.Now().UTC(), Seq: auditSeq.n, Method: method, Client: client, Decision: "refused", Error: why}
	auditSeq.Unlock()
	a.write(l, false)
}

// outcome writes how an allowed change ended.
func (a *Audit) outcome(l AuditLine, rep reply, err error) {
	if l.Method == "" {
		return
	}
	l.Time, l.Outcome = time.Now().UTC(), "ok"
	if rep.ID != "" {
		l.Deploy = rep.ID
	}
	if err != nil {
		l.Outcome, l.Error = "failed", err.Error()
	}
	a.write(l, true)
}

// read writes an allowed read, or counts it when its method was written
// for this client less than readEvery ago.
func (a *Audit) read(l AuditLine) {
	if a == nil {
		return
	}
	key := l.Method + "\x00" + l.Client
	a.mu.Lock()
	rc := a.reads[key]
	if rc != nil && l.Time.Sub(rc.written) < readEvery {
		rc.more++
		a.mu.Unlock()
		return
	}
	if rc != nil {
		l.More = rc.more
	}
	a.reads[key] = &readCount{written: l.Time}
	a.mu.Unlock()
	a.write(l, false)
}

func (a *Audit) write(l AuditLine, sync bool) error {
	if a == nil {
		return nil
	}
	b, _ := json.Marshal(l)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reopen()
	if _, err := a.f.Write(append(b, '\n')); err != nil {
		return err
	}
	if sync {
		return a.f.Sync()
	}
	return nil
}

// reopen opens the file at the audit path again when the open one was
// moved away (rotated) or deleted. On any error it keeps the open file.
func (a *Audit) reopen() {
	at, err := os.Stat(a.path)
	if err == nil {
		if open, err := a.f.Stat(); err != nil || os.SameFile(at, open) {
			return
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return
	}
	f, err := openAuditFile(a.path)
	if err != nil {
		return
	}
	a.f.Close()
	a.f = f
}

// clientName is the name on the client's verified certificate.
func clientName(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	c := r.TLS.PeerCertificates[0]
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	return c.Subject.CommonName
}
