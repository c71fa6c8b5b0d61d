package maint

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// State is where a run is.
type State string

// Run states. Waiting is a finished dry run waiting for "maint go";
// Expired one that waited longer than the wait expiry (its dry run is
// too old to go on from).
const (
	Running State = "running"
	Waiting State = "waiting"
	Done    State = "done"
	Failed  State = "failed"
	Stopped State = "stopped"
	Expired State = "expired"
)

// Ended reports whether the run is over.
func (s State) Ended() bool { return s == Done || s == Failed || s == Stopped || s == Expired }

// Phase is the dry run or the real run.
type Phase string

// Phases.
const (
	Dry  Phase = "dry"
	Real Phase = "real"
)

// Person is who started a run.
type Person struct {
	Name     string
	IRCNick  string
	MatrixID string
}

// Run is one maintenance script run, as kept in bbolt.
type Run struct {
	ID int
	// Nonce makes the run's job names unique on the host, also across
	// databases.
	Nonce   string
	Script  string
	Target  string
	Wikis   []string
	DryArgs []string // nil when the script has no dry-run form
	Args    []string // of the real run
	HasDry  bool
	Reason  string
	Change  int
	By      Person
	Origin  string // where to say progress (opaque, from the chat side)
	Created time.Time
	State   State
	Phase   Phase
	Steps   []Step
	// Token names the run's web page, /maint/<token>: random, so that
	// pages cannot be found by counting. Runs kept from before tokens
	// have none, and no page.
	Token string `json:",omitempty"`
	// Private is true when the script's output is private (its rule in
	// maint.scripts); PrivateKey then opens the page with the output,
	// /maint/<token>/<key>, a link given only to the security destination.
	Private    bool   `json:",omitempty"`
	PrivateKey string `json:",omitempty"`
	// DryFailed is true when the dry run failed on a wiki: the real run
	// starts only with an Override.
	DryFailed bool `json:",omitempty"`
	// Override records who started the real run despite a failed dry
	// run, and why.
	Override *Override `json:",omitempty"`
	// ExpiredAfter is how long the run waited for maint go before it
	// expired.
	ExpiredAfter time.Duration `json:",omitempty"`
	// StopBy names who stopped the run ("timeout" for the timeout).
	StopBy string `json:",omitempty"`
	// RealStarted is when the real run started (for the SAL duration).
	RealStarted time.Time `json:",omitzero"`
	SALStarted  bool      `json:",omitempty"`
	SALFinished bool      `json:",omitempty"`
	Ended       time.Time `json:",omitzero"`
}

// Override is a real run started despite a failed dry run.
type Override struct {
	By     string
	Reason string
	At     time.Time
}

// Step is one wiki of one phase: one job on the host.
type Step struct {
	Phase   Phase
	Wiki    string
	Job     string
	Started time.Time `json:",omitzero"` // set before the job is started
	Ended   time.Time `json:",omitzero"`
	Exit    *int      `json:",omitempty"`
	Gone    bool      `json:",omitempty"`
	Offset  int64     // output bytes read from the host
	Lines   int
	// Cut is true when the output grew past MaxKept; the rest is only in
	// the job's directory on the host.
	Cut bool `json:",omitempty"`
}

// MaxKept is the most output kept per wiki in the database.
const MaxKept = 8 << 20

// Args returns the arguments of a phase.
func (r *Run) PhaseArgs(p Phase) []string {
	if p == Dry {
		return r.DryArgs
	}
	return r.Args
}

// current returns the step of the current phase that has not ended.
func (r *Run) current() (int, bool) {
	for i := range r.Steps {
		if r.Steps[i].Phase == r.Phase && r.Steps[i].Ended.IsZero() {
			return i, true
		}
	}
	return -1, false
}

// stepsOf returns the indexes of a phase's steps.
func (r *Run) stepsOf(p Phase) []int {
	var out []int
	for i := range r.Steps {
		if r.Steps[i].Phase == p {
			out = append(out, i)
		}
	}
	return out
}

// dryEnded is when the dry run ended: when the wait for maint go began.
func (r *Run) dryEnded() time.Time {
	end := r.Created
	for _, i := range r.stepsOf(Dry) {
		if e := r.Steps[i].Ended; e.After(end) {
			end = e
		}
	}
	return end
}

// ranFor is how long the run's jobs have run, all wikis and both phases
// together, up to now: the time the timeout bounds (the wait for maint go
// is not in it).
func (r *Run) ranFor(now time.Time) time.Duration {
	var d time.Duration
	for _, st := range r.Steps {
		if st.Started.IsZero() {
			continue
		}
		end := st.Ended
		if end.IsZero() {
			end = now
		}
		d += end.Sub(st.Started)
	}
	return d
}

// failedWikis names the wikis of a phase that failed.
func (r *Run) failedWikis(p Phase) []string {
	var out []string
	for _, i := range r.stepsOf(p) {
		s := r.Steps[i]
		if !s.Ended.IsZero() && (s.Gone || (s.Exit != nil && *s.Exit != 0)) {
			out = append(out, s.Wiki)
		}
	}
	return out
}

func runKey(id int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(id)) }

func outputKey(id, step int) []byte { return append(runKey(id), []byte("/"+strconv.Itoa(step))...) }

var errNoRun = errors.New("no such run")

func getRun(tx *bolt.Tx, id int) (*Run, error) {
	v := tx.Bucket(store.MaintRuns).Get(runKey(id))
	if v == nil {
		return nil, errNoRun
	}
	var r Run
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("maint: decode run %d: %w", id, err)
	}
	return &r, nil
}

func putRun(tx *bolt.Tx, r *Run) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(store.MaintRuns).Put(runKey(r.ID), v)
}
