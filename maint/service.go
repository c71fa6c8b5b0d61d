package maint

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// Remote is what the service needs of the maintenance host; *Host
// implements it.
type Remote interface {
	Argv(script, wiki string, args []string) []string
	Start(ctx context.Context, job string, argv []string) error
	Poll(ctx context.Context, job string, offset int64) (Status, error)
	Stop(ctx context.Context, job string) error
	Kill(ctx context.Context, job string) error
	Remove(ctx context.Context, job string) error
}

// Options configure a Service.
type Options struct {
	DB    *store.DB
	Rules Rules
	Host  Remote
	// Timeout stops a run whose jobs together have run longer; KillAfter
	// is how long a stopped job has after SIGTERM before SIGKILL;
	// Retention is how long ended runs are kept.
	Timeout, KillAfter, Retention time.Duration
	// WaitExpiry is how long a finished dry run waits for maint go before
	// the run expires (default 24h): what it showed may no longer hold.
	WaitExpiry time.Duration
	// PollInterval is how often a live job is read; ProgressEvery how
	// often progress is said.
	PollInterval, ProgressEvery time.Duration
	// Notify says something where the run was asked for (origin is the
	// chat side's opaque place).
	Notify func(ctx context.Context, origin string, t bot.Text)
	// Private sends what names a private script's output to the security
	// destination (origin and by as for Notify); nil drops it.
	Private func(ctx context.Context, origin string, by Person, t bot.Text)
	// SAL writes a Server Admin Log line as the person; nil writes none.
	SAL func(ctx context.Context, by Person, message string) error
	// BaseURL is the web server's public URL, for links to /maint/<id>.
	BaseURL string
	Log     *slog.Logger
	Now     func() time.Time
}

// Service keeps, runs and follows maintenance script runs.
type Service struct {
	o   Options
	log *slog.Logger

	mu        sync.Mutex
	ctx       context.Context // set while Run runs
	wg        *sync.WaitGroup
	following map[int]bool // run id -> look again before ending
}

// NewService returns a service; Run follows the runs.
func NewService(o Options) *Service {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 6 * time.Hour
	}
	if o.KillAfter <= 0 {
		o.KillAfter = time.Minute
	}
	if o.Retention <= 0 {
		o.Retention = 30 * 24 * time.Hour
	}
	if o.WaitExpiry <= 0 {
		o.WaitExpiry = DefaultWaitExpiry
	}
	return &Service{o: o, log: o.Log.With("component", "maint"), following: map[int]bool{}}
}

// DefaultWaitExpiry is how long a dry run waits for maint go unless
// configured otherwise.
const DefaultWaitExpiry = 24 * time.Hour

// expire ends r if it has waited for maint go longer than the wait
// expiry, and reports whether it did. Callers that change r in a
// transaction record it; readers see it expired whether or not it has
// been recorded yet.
func (s *Service) expire(r *Run) bool {
	if r.State != Waiting {
		return false
	}
	end := r.dryEnded().Add(s.o.WaitExpiry)
	if s.o.Now().Before(end) {
		return false
	}
	r.State, r.Ended, r.ExpiredAfter = Expired, end.UTC(), s.o.WaitExpiry
	return true
}

// expireWaiting records the expiry of the runs that have waited too long
// for maint go, and tells where each was asked for.
func (s *Service) expireWaiting(ctx context.Context) {
	runs, err := s.List()
	if err != nil {
		s.log.Error("list runs to expire", "err", err)
		return
	}
	for _, r := range runs {
		if r.State != Expired {
			continue // List shows them expired before it is recorded
		}
		var ended *Run
		err := s.update(r.ID, func(x *Run) error {
			if !s.expire(x) {
				return errEnded
			}
			ended = x
			return nil
		})
		switch {
		case errors.Is(err, errEnded):
		case err != nil:
			s.log.Error("expire a maintenance run", "run", r.ID, "err", err)
		default:
			s.log.Info("maintenance run expired waiting for maint go", "run", r.ID)
			s.say(ctx, ended, s.mention(ended).Append(textf("Run %d: the dry run of %s waited %s for maint go and expired; nothing ran after it. %s", ended.ID, ended.What(Dry), waitText(ended.ExpiredAfter), s.againText(ended))))
		}
	}
}

// Run follows every live run (re-attaching after a restart) and those
// started later, and removes ended runs older than the retention, until
// ctx is done; it waits for its followers before it returns.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	s.mu.Lock()
	s.ctx, s.wg = ctx, &wg
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.ctx = nil
		s.mu.Unlock()
		wg.Wait()
	}()
	runs, err := s.List()
	if err != nil {
		s.log.Error("list runs to re-attach", "err", err)
	}
	for _, r := range runs {
		s.logFinished(ctx, r) // ended just before a crash
		if r.State == Running {
			s.log.Info("re-attaching to a maintenance run", "run", r.ID)
			s.follow(r.ID)
		}
	}
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		s.expireWaiting(ctx)
		if err := s.prune(ctx); err != nil {
			s.log.Error("remove old maintenance runs", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Start validates a request, records it and starts following it (its
// dry run first when the script has one). The refusals are sentences for
// the person who asked.
func (s *Service) Start(ctx context.Context, req Request, by Person, origin string) (*Run, error) {
	req, err := s.o.Rules.Check(req)
	if err != nil {
		return nil, err
	}
	dry, real, hasDry := s.o.Rules.Phases(req)
	r := &Run{Script: req.Script, Target: req.Target, Wikis: req.Wikis, DryArgs: dry, Args: real, HasDry: hasDry,
		Nonce: strings.ToLower(rand.Text()[:8]), Token: strings.ToLower(rand.Text()), Private: s.o.Rules.Private(req.Script),
		Reason: req.Reason, Change: req.Change, By: by, Origin: origin, Created: s.o.Now().UTC(), State: Running, Phase: Real}
	if r.Private {
		r.PrivateKey = strings.ToLower(rand.Text())
	}
	if hasDry {
		r.Phase = Dry
	}
	err = s.o.DB.Update(func(tx *bolt.Tx) error {
		busy, err := s.busy(tx, r)
		if err != nil || busy != "" {
			return errors.Join(err, &RefusedError{Msg: busy})
		}
		seq, err := tx.Bucket(store.MaintRuns).NextSequence()
		if err != nil {
			return err
		}
		r.ID = int(seq)
		return putRun(tx, r)
	})
	var re *RefusedError
	if errors.As(err, &re) {
		return nil, re
	}
	if err != nil {
		return nil, fmt.Errorf("maint: record run: %w", err)
	}
	s.log.Info("maintenance run recorded", "run", r.ID, "script", r.Script, "target", r.Target, "by", by.Name)
	s.follow(r.ID)
	return r, nil
}

// busy says why r cannot start while another run of the script on one of
// its wikis has not ended ("" when it can).
func (s *Service) busy(tx *bolt.Tx, r *Run) (string, error) {
	var msg string
	err := tx.Bucket(store.MaintRuns).ForEach(func(_, v []byte) error {
		var o Run
		if err := jsonUnmarshal(v, &o); err != nil {
			return err
		}
		s.expire(&o) // an expired run holds no wiki
		if o.State.Ended() || o.Script != r.Script || msg != "" {
			return nil
		}
		for _, w := range r.Wikis {
			if slices.Contains(o.Wikis, w) {
				msg = fmt.Sprintf("Refused: run %d of %s on %s has not ended (%s); one run per script and wiki at a time. Stop it with: maint stop %d", o.ID, o.Script, w, stateText(&o), o.ID)
			}
		}
		return nil
	})
	return msg, err
}

// Go starts the real run of a run whose dry run has finished. After a
// failed dry run it needs a reason, which is recorded as an Override.
func (s *Service) Go(ctx context.Context, id int, by Person, reason string) (*Run, error) {
	var r *Run
	var expired error
	reason = strings.TrimSpace(reason)
	err := s.update(id, func(x *Run) error {
		if s.expire(x) {
			expired = &RefusedError{Msg: fmt.Sprintf("Refused: the dry run of run %d ended %s, more than %s ago: it is too old to go on from. %s",
				id, x.dryEnded().UTC().Format("2006-01-02 15:04 UTC"), waitText(x.ExpiredAfter), s.againText(x))}
			return nil // recorded expired
		}
		if x.State == Expired {
			return &RefusedError{Msg: fmt.Sprintf("Run %d is not waiting for maint go: it expired, its dry run older than %s. %s", id, waitText(x.ExpiredAfter), s.againText(x))}
		}
		if x.State != Waiting {
			return &RefusedError{Msg: fmt.Sprintf("Run %d is not waiting for maint go: it %s.", id, stateText(x))}
		}
		if x.DryFailed {
			if reason == "" {
				return &RefusedError{Msg: fmt.Sprintf("Refused: the dry run of run %d failed (%s), so its real run needs a reason: maint go %d <why the failure is fine>.", id, dryFailure(x), id)}
			}
			x.Override = &Override{By: by.Name, Reason: reason, At: s.o.Now().UTC()}
		}
		x.State, x.Phase = Running, Real
		r = x
		return nil
	})
	if err == nil && expired != nil {
		s.log.Info("maintenance run expired waiting for maint go", "run", id)
		err = expired
	}
	if err != nil {
		return nil, err
	}
	s.log.Info("maintenance run goes on to the real run", "run", id, "by", by.Name, "override", r.Override != nil)
	s.follow(id)
	return r, nil
}

// Stop stops a run: its job's process group on the host gets SIGTERM
// (and SIGKILL from the follower after KillAfter), and a run waiting for
// maint go ends.
func (s *Service) Stop(ctx context.Context, id int, by Person) (bot.Text, error) {
	var job string
	var ended *Run
	err := s.update(id, func(x *Run) error {
		s.expire(x) // recorded when it is due
		switch {
		case x.State.Ended():
			return &RefusedError{Msg: fmt.Sprintf("Run %d has already ended: it %s.", id, stateText(x))}
		case x.State == Waiting:
			x.State, x.StopBy, x.Ended = Stopped, by.Name, s.o.Now().UTC()
			ended = x
			return nil
		}
		x.StopBy = by.Name
		if i, ok := x.current(); ok {
			job = x.Steps[i].Job
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ended != nil {
		return bot.T(fmt.Sprintf("Run %d stopped before its real run; nothing ran on the wikis after the dry run.", id)), nil
	}
	if job != "" {
		if err := s.o.Host.Stop(ctx, job); err != nil {
			s.log.Warn("stop a maintenance job", "run", id, "err", err)
			return bot.T(fmt.Sprintf("Stopping run %d: the maintenance host did not answer; the bot keeps trying and says when the script has ended.", id)), nil
		}
	}
	return bot.T(fmt.Sprintf("Stopping run %d; the bot says when the script has ended.", id)), nil
}

// Get returns a run and its steps' output kept so far.
func (s *Service) Get(id int) (*Run, [][]byte, error) {
	var r *Run
	var outs [][]byte
	err := s.o.DB.View(func(tx *bolt.Tx) error {
		var err error
		if r, err = getRun(tx, id); err != nil {
			return err
		}
		b := tx.Bucket(store.MaintOutput)
		for i := range r.Steps {
			outs = append(outs, bytes.Clone(b.Get(outputKey(id, i))))
		}
		return nil
	})
	return r, outs, err
}

// IsNotFound reports whether err says there is no such run.
func IsNotFound(err error) bool { return errors.Is(err, errNoRun) }

// List returns every kept run, newest first.
func (s *Service) List() ([]*Run, error) {
	var out []*Run
	err := s.o.DB.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(store.MaintRuns).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var r Run
			if err := jsonUnmarshal(v, &r); err != nil {
				return err
			}
			s.expire(&r)
			out = append(out, &r)
		}
		return nil
	})
	return out, err
}

// prune removes ended runs older than the retention, and their jobs'
// directories on the host.
func (s *Service) prune(ctx context.Context) error {
	cut := s.o.Now().Add(-s.o.Retention)
	var jobs []string
	err := s.o.DB.Update(func(tx *bolt.Tx) error {
		runs, outs := tx.Bucket(store.MaintRuns), tx.Bucket(store.MaintOutput)
		var old []*Run
		err := runs.ForEach(func(_, v []byte) error {
			var r Run
			if err := jsonUnmarshal(v, &r); err != nil {
				return err
			}
			if r.State.Ended() && r.Ended.Before(cut) {
				old = append(old, &r)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range old {
			for i := range r.Steps {
				if err := outs.Delete(outputKey(r.ID, i)); err != nil {
					return err
				}
				jobs = append(jobs, r.Steps[i].Job)
			}
			if err := runs.Delete(runKey(r.ID)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if err := s.o.Host.Remove(ctx, j); err != nil {
			s.log.Warn("old job not removed from the maintenance host", "job", j, "err", err)
		}
	}
	return nil
}

// update changes a run in one transaction; f's error aborts it.
func (s *Service) update(id int, f func(r *Run) error) error {
	return s.o.DB.Update(func(tx *bolt.Tx) error {
		r, err := getRun(tx, id)
		if err != nil {
			if errors.Is(err, errNoRun) {
				return &RefusedError{Msg: fmt.Sprintf("There is no maintenance run %d.", id)}
			}
			return err
		}
		if err := f(r); err != nil {
			return err
		}
		return putRun(tx, r)
	})
}

func (s *Service) load(id int) (*Run, error) {
	var r *Run
	err := s.o.DB.View(func(tx *bolt.Tx) error {
		var err error
		r, err = getRun(tx, id)
		return err
	})
	return r, err
}

// say tells the run's origin.
func (s *Service) say(ctx context.Context, r *Run, t bot.Text) {
	if s.o.Notify != nil {
		s.o.Notify(context.WithoutCancel(ctx), r.Origin, t)
	}
}

// URL is the web page of a run ("" without a base URL, and for a run
// kept from before pages had tokens).
func (s *Service) URL(r *Run) string {
	if s.o.BaseURL == "" || r.Token == "" {
		return ""
	}
	return strings.TrimRight(s.o.BaseURL, "/") + "/maint/" + r.Token
}

// PrivateURL is the page with a private run's output ("" when there is
// none).
func (s *Service) PrivateURL(r *Run) string {
	if u := s.URL(r); u != "" && r.Private && r.PrivateKey != "" {
		return u + "/" + r.PrivateKey
	}
	return ""
}

// Page returns the run whose page token is token and its output kept so
// far; the output of a private run only with its private key.
func (s *Service) Page(token, key string) (*Run, [][]byte, error) {
	var id int
	err := s.o.DB.View(func(tx *bolt.Tx) error {
		return tx.Bucket(store.MaintRuns).ForEach(func(_, v []byte) error {
			var r Run
			if err := jsonUnmarshal(v, &r); err != nil {
				return err
			}
			if r.Token != "" && subtle.ConstantTimeCompare([]byte(r.Token), []byte(token)) == 1 {
				id = r.ID
			}
			return nil
		})
	})
	if err != nil {
		return nil, nil, err
	}
	if id == 0 {
		return nil, nil, errNoRun
	}
	r, outs, err := s.Get(id)
	if err != nil {
		return nil, nil, err
	}
	s.expire(r)
	private := r.Private || s.o.Rules.Private(r.Script) // marked private since it ran
	open := private && r.PrivateKey != "" && subtle.ConstantTimeCompare([]byte(r.PrivateKey), []byte(key)) == 1
	switch {
	case key != "" && !open:
		return nil, nil, errNoRun
	case private && !open:
		outs = nil
	}
	return r, outs, nil
}
