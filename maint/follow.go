package maint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// errEnded says the run was ended by someone else (a second follower never
// reports an end twice).
var errEnded = errors.New("run already ended")

// follow starts a goroutine following run id unless Run is not running
// (Run picks live runs up when it starts). When one follows it already,
// that one looks at the run again before it ends (a "maint go" may come
// while the dry run's follower is on its way out).
func (s *Service) follow(id int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		return
	}
	if _, ok := s.following[id]; ok {
		s.following[id] = true
		return
	}
	s.following[id] = false
	ctx, wg := s.ctx, s.wg
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			s.followRun(ctx, id)
			s.mu.Lock()
			again := s.following[id] && ctx.Err() == nil
			if again {
				s.following[id] = false
			} else {
				delete(s.following, id)
			}
			s.mu.Unlock()
			if !again {
				return
			}
		}
	}()
}

// followRun runs the current phase's wikis one after another, then ends
// the phase, until the run waits or ends or ctx is done.
func (s *Service) followRun(ctx context.Context, id int) {
	log := s.log.With("run", id)
	for ctx.Err() == nil {
		r, err := s.load(id)
		if err != nil {
			log.Error("load run", "err", err)
			return
		}
		if r.State != Running {
			return
		}
		i, ok := r.current()
		if !ok && r.StopBy == "" && len(r.stepsOf(r.Phase)) < len(r.Wikis) && r.ranFor(s.o.Now()) >= s.o.Timeout {
			// The wikis before used up the run's time: no next one.
			if err := s.update(id, func(x *Run) error { x.StopBy = "timeout"; return nil }); err != nil {
				log.Error("record timeout", "err", err)
				return
			}
			continue
		}
		if !ok && r.StopBy == "" && len(r.stepsOf(r.Phase)) < len(r.Wikis) {
			i, err = s.addStep(id)
			if err != nil {
				log.Error("record the next step", "err", err)
				return
			}
			ok = true
		}
		if !ok {
			s.endPhase(ctx, id)
			return
		}
		if !s.followStep(ctx, id, i) {
			return
		}
	}
}

// addStep records the next wiki's job before it is started.
func (s *Service) addStep(id int) (int, error) {
	var i int
	err := s.update(id, func(r *Run) error {
		n := len(r.stepsOf(r.Phase))
		i = len(r.Steps)
		r.Steps = append(r.Steps, Step{Phase: r.Phase, Wiki: r.Wikis[n], Job: fmt.Sprintf("%d-%s-%d-%s", r.ID, r.Phase, n, r.Nonce), Started: s.o.Now().UTC()})
		if r.Phase == Real && n == 0 {
			r.RealStarted = s.o.Now().UTC()
		}
		return nil
	})
	return i, err
}

// follower is the state of following one step.
type follower struct {
	started      bool // the host said it started the job (this process)
	failures     int  // polls in a row that could not reach the host
	saidLost     bool
	lastProgress time.Time
	linesSince   int
	stopSent     bool
	stopAt       time.Time // when this follower sent SIGTERM
	killSent     bool
}

// followStep starts step i's job (again: starting is idempotent) and
// polls it until it has ended; false means ctx is done.
func (s *Service) followStep(ctx context.Context, id, i int) bool {
	log := s.log.With("run", id, "step", i)
	f := &follower{lastProgress: s.o.Now()}
	for {
		r, err := s.load(id)
		if err != nil {
			log.Error("load run", "err", err)
			return false
		}
		st := r.Steps[i]
		if !st.Ended.IsZero() {
			return true
		}
		s.logStarted(ctx, r)
		if r.StopBy != "" && !f.stopSent {
			// Stopped: never start the job, and stop it if a process
			// before this one did (until the host says it did).
			f.started = true
			if err := s.o.Host.Stop(ctx, st.Job); err != nil {
				s.log.Warn("stop a maintenance job", "run", id, "err", err)
			} else {
				f.stopSent, f.stopAt = true, s.o.Now()
			}
		}
		if !f.started {
			argv := s.o.Host.Argv(r.Script, st.Wiki, r.PhaseArgs(st.Phase))
			if err := s.o.Host.Start(ctx, st.Job, argv); err != nil {
				log.Warn("start maintenance job", "err", err)
				s.unreachable(ctx, r, f)
			} else {
				f.started = true
				s.reached(ctx, r, f)
			}
		}
		if f.started {
			s.poll(ctx, r, i, f)
		}
		if r, err = s.load(id); err == nil && r.Steps[i].Ended.IsZero() {
			s.checkTimeout(ctx, r, i, f)
			s.checkKill(ctx, r, i, f)
			s.progress(ctx, r, i, f)
		}
		if err == nil && !r.Steps[i].Ended.IsZero() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(s.o.PollInterval):
		}
	}
}

// poll reads the job once and keeps its new output and, once it has
// ended with all output read, its end, in one transaction.
func (s *Service) poll(ctx context.Context, r *Run, i int, f *follower) {
	st := r.Steps[i]
	status, err := s.o.Host.Poll(ctx, st.Job, st.Offset)
	if err != nil {
		s.log.Warn("poll maintenance job", "run", r.ID, "job", st.Job, "err", err)
		s.unreachable(ctx, r, f)
		return
	}
	s.reached(ctx, r, f)
	ended := (status.Exit != nil || status.Gone) && len(status.Output) < MaxChunk
	f.linesSince += bytes.Count(status.Output, []byte("\n"))
	err = s.o.DB.Update(func(tx *bolt.Tx) error {
		x, err := getRun(tx, r.ID)
		if err != nil {
			return err
		}
		xs := &x.Steps[i]
		if xs.Offset != st.Offset || !xs.Ended.IsZero() {
			return nil // someone else kept this output
		}
		if len(status.Output) > 0 {
			b := tx.Bucket(store.MaintOutput)
			k := outputKey(x.ID, i)
			kept := b.Get(k)
			if keep := min(len(status.Output), max(0, MaxKept-len(kept))); keep > 0 {
				if err := b.Put(k, append(bytes.Clone(kept), status.Output[:keep]...)); err != nil {
					return err
				}
			}
			xs.Cut = xs.Cut || len(kept)+len(status.Output) > MaxKept
			xs.Offset += int64(len(status.Output))
			xs.Lines += bytes.Count(status.Output, []byte("\n"))
		}
		if ended {
			xs.Ended, xs.Exit, xs.Gone = s.o.Now().UTC(), status.Exit, status.Gone
		}
		return putRun(tx, x)
	})
	if err != nil {
		s.log.Error("keep maintenance output", "run", r.ID, "err", err)
	}
}

// unreachable says once, after three failed calls in a row, that the
// host cannot be reached and that the script keeps running there.
func (s *Service) unreachable(ctx context.Context, r *Run, f *follower) {
	f.failures++
	if f.failures >= 3 && !f.saidLost {
		f.saidLost = true
		s.say(ctx, r, textf("Run %d: the maintenance host cannot be reached; a started script keeps running there, and the bot keeps trying.", r.ID))
	}
}

func (s *Service) reached(ctx context.Context, r *Run, f *follower) {
	if f.saidLost {
		s.say(ctx, r, textf("Run %d: the maintenance host answers again; following the script.", r.ID))
	}
	f.failures, f.saidLost = 0, false
}

// checkTimeout stops the job of a run whose jobs together have run
// longer than the timeout.
func (s *Service) checkTimeout(ctx context.Context, r *Run, i int, f *follower) {
	st := r.Steps[i]
	if f.stopSent || r.ranFor(s.o.Now()) < s.o.Timeout {
		return
	}
	if r.StopBy == "" {
		if err := s.update(r.ID, func(x *Run) error { x.StopBy = "timeout"; return nil }); err != nil {
			s.log.Error("record timeout", "run", r.ID, "err", err)
			return
		}
	}
	if err := s.o.Host.Stop(ctx, st.Job); err != nil {
		s.log.Warn("stop a job past its timeout", "run", r.ID, "err", err)
		return
	}
	f.stopSent, f.stopAt = true, s.o.Now()
}

// checkKill sends SIGKILL to the process group of a job still there
// KillAfter after this follower sent it SIGTERM.
func (s *Service) checkKill(ctx context.Context, r *Run, i int, f *follower) {
	if !f.stopSent || f.killSent || s.o.Now().Sub(f.stopAt) < s.o.KillAfter {
		return
	}
	s.log.Warn("a stopped maintenance job is still there after the grace period; killing it", "run", r.ID, "job", r.Steps[i].Job)
	if err := s.o.Host.Kill(ctx, r.Steps[i].Job); err != nil {
		s.log.Warn("kill a maintenance job", "run", r.ID, "err", err)
		return
	}
	f.killSent = true
}

// progress says, at most every ProgressEvery, how much output came.
func (s *Service) progress(ctx context.Context, r *Run, i int, f *follower) {
	now := s.o.Now()
	if now.Sub(f.lastProgress) < s.o.ProgressEvery {
		return
	}
	s.say(ctx, r, progressText(r, i, f.linesSince, now.Sub(f.lastProgress)))
	f.lastProgress, f.linesSince = now, 0
}

// logStarted writes the SAL's Started line before the real run's first
// job starts, then records it: a crash in between writes it again rather
// than never.
func (s *Service) logStarted(ctx context.Context, r *Run) {
	if r.Phase != Real || r.SALStarted || r.StopBy != "" {
		return
	}
	s.salLine(ctx, r, "Started maintenance script "+salSubject(r))
	if err := s.update(r.ID, func(x *Run) error { x.SALStarted = true; return nil }); err != nil {
		s.log.Error("record the SAL line", "run", r.ID, "err", err)
	}
}

// logFinished writes the SAL's Finished line of an ended run whose
// Started line was written, then records it.
func (s *Service) logFinished(ctx context.Context, r *Run) {
	if !r.SALStarted || r.SALFinished || !r.State.Ended() {
		return
	}
	s.salLine(ctx, r, fmt.Sprintf("Finished maintenance script %s (duration: %s, %s)", salSubject(r), duration(r.Ended.Sub(r.RealStarted)), exitText(r)))
	if err := s.update(r.ID, func(x *Run) error { x.SALFinished = true; return nil }); err != nil {
		s.log.Error("record the SAL line", "run", r.ID, "err", err)
	}
}

func (s *Service) salLine(ctx context.Context, r *Run, msg string) {
	if s.o.SAL == nil {
		return
	}
	if err := s.o.SAL(context.WithoutCancel(ctx), r.By, msg); err != nil {
		s.log.Error("SAL line not written", "run", r.ID, "err", err)
	}
}

// endPhase ends the dry run (waiting for maint go) or the run, recording
// the end before saying it, so that it is said once.
func (s *Service) endPhase(ctx context.Context, id int) {
	var r *Run
	err := s.update(id, func(x *Run) error {
		if x.State != Running {
			return errEnded
		}
		switch {
		case x.StopBy != "":
			x.State = Stopped
		case x.Phase == Dry:
			x.State, x.DryFailed = Waiting, len(x.failedWikis(Dry)) > 0
		case len(x.failedWikis(Real)) > 0:
			x.State = Failed
		default:
			x.State = Done
		}
		if x.State != Waiting {
			x.Ended = s.o.Now().UTC()
		}
		r = x
		return nil
	})
	if err != nil {
		if !errors.Is(err, errEnded) {
			s.log.Error("end maintenance phase", "run", id, "err", err)
		}
		return
	}
	_, outs, err := s.Get(id)
	if err != nil {
		s.log.Error("read maintenance output", "run", id, "err", err)
	}
	s.log.Info("maintenance phase ended", "run", id, "phase", r.Phase, "state", r.State)
	s.sayPrivate(ctx, r, outs)
	if r.State == Waiting {
		s.say(ctx, r, s.dryText(r, outs))
		return
	}
	s.logFinished(ctx, r)
	s.say(ctx, r, s.endText(r, outs))
}
