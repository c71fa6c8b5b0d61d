package deploy

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/jouncebot/jouncebot/deploy/record"
	"github.com/jouncebot/jouncebot/deploy/step"
)

// sentence is an error whose text is for users.
type sentence = step.Sentence

// answers words what a chat request is about and what went wrong with
// it for the person who asked: the deploy an id names, a refusal, and an
// internal error, logged, as a sentence that does not leak it.
type answers struct {
	records
	log *slog.Logger
}

// internal logs err and returns a sentence that does not leak it.
func (r *answers) internal(what string, err error) error {
	r.log.Error(what, "err", err)
	return sentence("jouncebot hit an internal error while " + what + "; the details are in its log.")
}

// target is the deploy id names, or the sentence saying there is none; an
// empty id is the current deploy.
func (r *answers) target(id ID) (*Deploy, error) {
	if id == "" {
		d, _, err := r.current()
		if err != nil {
			return nil, r.internal("reading the deploy lock", err)
		}
		if d == nil {
			return nil, sentence("There is no deploy in progress.")
		}
		return d, nil
	}
	d, err := r.load(id)
	if errors.Is(err, record.ErrNoDeploy) {
		return nil, sentence(fmt.Sprintf("There is no deploy %s.", id))
	}
	if err != nil {
		return nil, r.internal("reading the deploy", err)
	}
	return d, nil
}

// refusedOr returns err when it is a sentence for the user (a check made
// inside a transaction), else the internal error about what.
func (r *answers) refusedOr(what string, err error) error {
	var s sentence
	if errors.As(err, &s) {
		return err
	}
	return r.internal(what, err)
}
