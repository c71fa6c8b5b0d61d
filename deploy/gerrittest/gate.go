package gerrittest

import (
	"fmt"
	"strings"
	"time"
)

// scheduleGate makes the gate look at change n after the gate delay, with
// s.mu held.
func (s *Server) scheduleGate(n int) {
	if s.closed {
		return
	}
	t := time.AfterFunc(s.gate.Delay, func() { s.gateTry(n) })
	s.timers = append(s.timers, t)
}

// gateTry merges change n if it is approved, verified, mergeable and its
// dependencies have merged; if only the dependencies are missing it looks
// again later.
func (s *Server) gateTry(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.changes[n]
	if s.closed || c == nil || c.Status != "NEW" || s.gate.Never {
		return
	}
	if !s.approved(c) || c.Unmergeable {
		return
	}
	if !s.depsMerged(c) {
		s.scheduleGate(n)
		return
	}
	if err := s.merge(c); err != nil {
		c.Messages = append(c.Messages, message{User: "jenkins-bot", Text: "Gate failed: " + err.Error(), Date: time.Now().UTC()})
	}
	s.save()
}

// approved reports whether the current patchset has Code-Review +2, no −2
// and no negative Verified.
func (s *Server) approved(c *change) bool {
	ps := c.current().Number
	plus2 := false
	for _, v := range c.Votes {
		if v.PatchSet != ps {
			continue
		}
		switch {
		case v.Label == "Code-Review" && v.Value == 2:
			plus2 = true
		case v.Label == "Code-Review" && v.Value == -2, v.Label == "Verified" && v.Value < 0:
			return false
		}
	}
	return plus2
}

func (s *Server) depsMerged(c *change) bool {
	if len(s.openAncestors(c)) > 0 {
		return false
	}
	for _, id := range footerValues(c.current().Message, "Depends-On") {
		merged := false
		for _, o := range s.changes {
			if o.ChangeID == id && o.Status == "MERGED" {
				merged = true
			}
		}
		if !merged {
			return false
		}
	}
	return true
}

// merge lands the change on its branch: fast-forward when it is based on
// the tip, else a rebase recorded as a new patchset, as Gerrit's "rebase if
// necessary" does. An extension's merge bumps core's submodule pointer.
func (s *Server) merge(c *change) error {
	r := s.repos[c.Project]
	branch := "refs/heads/" + c.Branch
	tip := r.resolve(branch)
	ps := c.current()
	now := time.Now().UTC()
	sha := ps.Commit
	if ps.Parent != tip {
		nsha, ok, err := r.cherryPick(ps.Commit, tip, now)
		if err != nil {
			return err
		}
		if !ok {
			c.Unmergeable = true
			return fmt.Errorf("merge conflict")
		}
		sha = nsha
		nps := &patchSet{Number: ps.Number + 1, Commit: sha, Parent: tip, Uploader: "jenkins-bot", Created: now,
			Kind: "TRIVIAL_REBASE", Message: ps.Message, Subject: ps.Subject, Author: ps.Author}
		if err := r.updateRef(changeRef(c.Number, nps.Number), sha); err != nil {
			return err
		}
		c.PatchSets = append(c.PatchSets, nps)
		for _, v := range c.Votes { // trivial rebases keep votes
			v.PatchSet = nps.Number
		}
	}
	if err := r.updateRef(branch, sha); err != nil {
		return err
	}
	c.Status, c.Submitted, c.Updated = "MERGED", now, now
	s.setVote(c, "jenkins-bot", "Verified", 2)
	c.Messages = append(c.Messages, message{User: "jenkins-bot", Text: "Change has been successfully merged", Date: now, PatchSet: c.current().Number})
	if sub, ok := s.submodule[c.Project]; ok {
		if err := s.bump(sub, c, sha, now); err != nil {
			return err
		}
	}
	// Others waiting on this one may now go.
	for _, o := range s.changes {
		if o.Status == "NEW" && s.approved(o) {
			s.scheduleGate(o.Number)
		}
	}
	return nil
}

// bump commits the new submodule pointer to core's branch with the same
// Change-Id, as Gerrit's superproject subscription does at WMF.
func (s *Server) bump(sub submoduleTarget, c *change, sha string, now time.Time) error {
	cr := s.repos[sub.core]
	branch := "refs/heads/" + c.Branch
	tip := cr.resolve(branch)
	if tip == "" {
		return nil
	}
	msg := fmt.Sprintf("Update git submodules\n\n* Update %s from branch '%s'\n  to %s\n  - %s\n\n    Change-Id: %s\n\nChange-Id: %s\n",
		sub.path, c.Branch, sha, c.current().Subject, c.ChangeID, c.ChangeID)
	bsha, err := cr.commit(tip, []File{{Path: sub.path, Mode: "160000", Content: sha}}, msg, Person{"Gerrit Code Review", "gerrit@example.org"}, now)
	if err != nil {
		return err
	}
	return cr.updateRef(branch, bsha)
}

func footerValues(msg, key string) []string {
	var out []string
	for _, l := range splitLines(msg) {
		if v, ok := cutPrefixFold(l, key+":"); ok {
			out = append(out, trim(v))
		}
	}
	return out
}

func splitLines(s string) []string { return strings.Split(s, "\n") }

func trim(s string) string { return strings.TrimSpace(s) }

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return "", false
}
