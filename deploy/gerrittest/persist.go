package gerrittest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// state is what a persistent server keeps on disk besides its
// repositories, so a restarted sandbox meets the same Gerrit.
type state struct {
	Accounts   map[string]*account
	Repos      []string // project names
	Changes    map[int]*change
	NextNum    int
	Reviews    []Review
	Submodules map[string]submoduleState
}

type submoduleState struct{ Core, Path string }

const stateFile = "state.json"

// save writes the server's state, with s.mu held, when the server is
// persistent. Errors are kept for Err: a sandbox that cannot write its
// state still works, it just forgets on restart.
func (s *Server) save() {
	if !s.persist {
		return
	}
	st := state{Accounts: s.accounts, Changes: s.changes, NextNum: s.nextNum, Reviews: s.reviews,
		Submodules: map[string]submoduleState{}}
	for p := range s.repos {
		st.Repos = append(st.Repos, p)
	}
	for p, t := range s.submodule {
		st.Submodules[p] = submoduleState{Core: t.core, Path: t.path}
	}
	b, err := json.Marshal(st)
	if err == nil {
		tmp := filepath.Join(s.root, stateFile+".new")
		if err = os.WriteFile(tmp, b, 0o644); err == nil {
			err = os.Rename(tmp, filepath.Join(s.root, stateFile))
		}
	}
	if err != nil {
		s.saveErr = fmt.Errorf("gerrittest: save state: %w", err)
	}
}

// load reads the state a persistent server saved in its root and
// schedules the gate for approved changes that had not merged.
func (s *Server) load() error {
	b, err := os.ReadFile(filepath.Join(s.root, stateFile))
	if err != nil {
		return err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("gerrittest: %s: %w", stateFile, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for u, a := range st.Accounts {
		s.accounts[u] = a
	}
	for _, p := range st.Repos {
		dir := filepath.Join(s.root, p+".git")
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("gerrittest: repository of %s: %w", p, err)
		}
		s.repos[p] = repo{dir: dir}
	}
	s.changes, s.nextNum, s.reviews = st.Changes, st.NextNum, st.Reviews
	if s.changes == nil {
		s.changes = map[int]*change{}
	}
	for p, t := range st.Submodules {
		s.submodule[p] = submoduleTarget{core: t.Core, path: t.Path}
	}
	s.persist = true
	for n, c := range s.changes {
		if c.Status == "NEW" && s.approved(c) {
			s.scheduleGate(n)
		}
	}
	return nil
}

// Err reports the last failure to save a persistent server's state.
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveErr
}
