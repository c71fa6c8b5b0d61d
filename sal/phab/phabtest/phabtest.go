// Package phabtest is a Phabricator Conduit server for tests, faithful to
// the parts of the API jouncebot uses: POST /api/<method> with form fields
// params (JSON) and api.token (or the token in params.__conduit__), answers
// {"result", "error_code", "error_info"} with HTTP 200, and the methods
// maniphest.search, maniphest.edit (comment transactions), project.search
// and conduit.ping.
//
//	srv := phabtest.New(t, "api-token")
//	srv.AddTask(phabtest.Task{ID: 123})
//	… point the client at srv.URL …
//	srv.Comments(123)
package phabtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Task is a task on the fake server.
type Task struct {
	ID int
	// Subtype defaults to "default".
	Subtype string
	// ViewPolicy defaults to "public".
	ViewPolicy string
	// Projects are the tags' slugs; AddProject makes them exist.
	Projects []string
	// Hidden tasks are invisible to the bot, like a security task it is
	// not allowed to see: search finds nothing and edits fail.
	Hidden bool
}

// Server is the fake Phabricator.
type Server struct {
	*httptest.Server
	token string

	mu       sync.Mutex
	tasks    map[int]*Task
	comments map[int][]string
	projects map[string]string // slug -> PHID
	down     bool
	calls    []string
}

// New starts a server that accepts token; it is closed when the test ends.
func New(t testing.TB, token string) *Server {
	s := &Server{token: token, tasks: map[int]*Task{}, comments: map[int][]string{}, projects: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// AddTask creates or replaces a task.
func (s *Server) AddTask(t Task) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.Subtype == "" {
		t.Subtype = "default"
	}
	if t.ViewPolicy == "" {
		t.ViewPolicy = "public"
	}
	s.tasks[t.ID] = &t
}

// AddProject creates a project tag and returns its PHID.
func (s *Server) AddProject(slug string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.projects[slug]; ok {
		return p
	}
	phid := fmt.Sprintf("PHID-PROJ-%020d", len(s.projects)+1)
	s.projects[slug] = phid
	return phid
}

// Comments returns the comments made on a task, oldest first.
func (s *Server) Comments(id int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.comments[id])
}

// Calls returns the methods called so far.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// SetDown makes every request fail with HTTP 503 (or work again).
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

type answer struct {
	Result    any     `json:"result"`
	ErrorCode *string `json:"error_code"`
	ErrorInfo *string `json:"error_info"`
}

func fail(code, info string) answer { return answer{ErrorCode: &code, ErrorInfo: &info} }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	method, ok := strings.CutPrefix(r.URL.Path, "/api/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.calls = append(s.calls, method)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s.call(r, method))
}

func (s *Server) call(r *http.Request, method string) answer {
	if err := r.ParseForm(); err != nil {
		return fail("ERR-CONDUIT-CORE", "Unable to parse request.")
	}
	if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
		return fail("ERR-CONDUIT-CORE", "Conduit does not accept JSON request bodies; send form-encoded \"params\".")
	}
	params := map[string]json.RawMessage{}
	if p := r.PostForm.Get("params"); p != "" {
		if err := json.Unmarshal([]byte(p), &params); err != nil {
			return fail("ERR-CONDUIT-CORE", "Expected \"params\" to be a JSON object.")
		}
	}
	token := r.PostForm.Get("api.token")
	var meta struct {
		Token string `json:"token"`
	}
	if m, ok := params["__conduit__"]; ok {
		json.Unmarshal(m, &meta)
		if meta.Token != "" {
			token = meta.Token
		}
	}
	switch {
	case token == "":
		return fail("ERR-INVALID-SESSION", "Session key is not present.")
	case token != s.token:
		return fail("ERR-INVALID-AUTH", fmt.Sprintf("API token %q has the wrong length or does not exist.", token))
	}
	switch method {
	case "conduit.ping":
		return answer{Result: "localhost"}
	case "maniphest.search":
		return s.search(params)
	case "maniphest.edit":
		return s.edit(params)
	case "project.search":
		return s.projectSearch(params)
	}
	return fail("ERR-CONDUIT-CALL", fmt.Sprintf("Conduit method %q does not exist.", method))
}

func cursor() map[string]any {
	return map[string]any{"limit": 100, "after": nil, "before": nil, "order": nil}
}

func (s *Server) search(params map[string]json.RawMessage) answer {
	var c struct {
		IDs []int `json:"ids"`
	}
	if raw, ok := params["constraints"]; ok {
		if err := json.Unmarshal(raw, &c); err != nil {
			return fail("ERR-CONDUIT-CORE", "Constraint \"ids\" has an invalid value.")
		}
	}
	var att struct {
		Projects bool `json:"projects"`
	}
	json.Unmarshal(params["attachments"], &att)
	data := []any{}
	for _, id := range c.IDs {
		t, ok := s.tasks[id]
		if !ok || t.Hidden {
			continue
		}
		item := map[string]any{
			"id": t.ID, "type": "TASK", "phid": taskPHID(t.ID),
			"fields": map[string]any{
				"name": fmt.Sprintf("Task %d", t.ID), "subtype": t.Subtype,
				"status": map[string]any{"value": "open", "name": "Open"},
				"policy": map[string]any{"view": t.ViewPolicy, "interact": "users", "edit": "users"},
			},
			"attachments": map[string]any{},
		}
		if att.Projects {
			phids := []string{}
			for _, slug := range t.Projects {
				phids = append(phids, s.projects[slug])
			}
			item["attachments"] = map[string]any{"projects": map[string]any{"projectPHIDs": phids}}
		}
		data = append(data, item)
	}
	return answer{Result: map[string]any{"data": data, "maps": map[string]any{}, "query": map[string]any{"queryKey": nil}, "cursor": cursor()}}
}

func taskPHID(id int) string { return fmt.Sprintf("PHID-TASK-%020d", id) }

func (s *Server) edit(params map[string]json.RawMessage) answer {
	var obj string
	json.Unmarshal(params["objectIdentifier"], &obj)
	var xs []struct {
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(params["transactions"], &xs); err != nil || len(xs) == 0 {
		return fail("ERR-CONDUIT-CORE", "Parameter \"transactions\" must be a list of transactions.")
	}
	id, err := strconv.Atoi(strings.TrimPrefix(obj, "T"))
	t, ok := s.tasks[id]
	if err != nil || !strings.HasPrefix(obj, "T") || !ok || t.Hidden {
		return fail("ERR-CONDUIT-CORE", fmt.Sprintf("Object %q does not exist.", obj))
	}
	var phids []map[string]string
	for _, x := range xs {
		if x.Type != "comment" {
			return fail("ERR-CONDUIT-CORE", fmt.Sprintf("Transaction type %q is not supported by this test server.", x.Type))
		}
		var v string
		if err := json.Unmarshal(x.Value, &v); err != nil || v == "" {
			return fail("ERR-CONDUIT-CORE", "Comment transactions need a non-empty string value.")
		}
		s.comments[id] = append(s.comments[id], v)
		phids = append(phids, map[string]string{"phid": fmt.Sprintf("PHID-XACT-TASK-%d%d", id, len(s.comments[id]))})
	}
	return answer{Result: map[string]any{"object": map[string]any{"id": id, "phid": taskPHID(id)}, "transactions": phids}}
}

func (s *Server) projectSearch(params map[string]json.RawMessage) answer {
	var c struct {
		Slugs []string `json:"slugs"`
	}
	json.Unmarshal(params["constraints"], &c)
	data := []any{}
	for _, slug := range c.Slugs {
		if phid, ok := s.projects[slug]; ok {
			data = append(data, map[string]any{"type": "PROJ", "phid": phid, "fields": map[string]any{"name": slug, "slug": slug}})
		}
	}
	return answer{Result: map[string]any{"data": data, "maps": map[string]any{}, "query": map[string]any{"queryKey": nil}, "cursor": cursor()}}
}
