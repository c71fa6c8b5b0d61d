package deploy

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
)

// SecurityFailure is a failure that names a local security patch: the
// public sentence says what happened and where the details went; the
// details go only to the security destination.
func (j *Job) SecurityFailure(public, private string) error {
	d, _ := j.Deploy()
	where := "sent to the security contacts privately"
	if d != nil && j.e.o.SecurityWhere != nil {
		where = j.e.o.SecurityWhere(d.By)
	}
	return &Failure{Msg: public + "; details " + where + ".", Private: private}
}

// sayRefusalPrivately sends the private details of a refused deploy
// request (uncommitted changes in staging) to the security destination;
// the refusal itself says only that they were sent.
func (a *announcer) sayRefusalPrivately(ctx context.Context, r Request, err error) {
	var f *Failure
	if !errors.As(err, &f) || f.Private == "" || a.notify == nil {
		return
	}
	a.notify.Notify(context.WithoutCancel(ctx), Event{Origin: r.Origin, Kind: EventSecurity,
		Text: bot.T("Deploy request by " + r.By.Name + " refused: " + f.Private), Time: time.Now().UTC(), By: r.By})
}

// privateFailure is the event that sends a failure's private details
// to the security destination (EventSecurity), none when err has none.
// No history holds them: chat and status show the history.
func privateFailure(d *Deploy, err error) []Event {
	var f *Failure
	if !errors.As(err, &f) || f.Private == "" {
		return nil
	}
	return []Event{{Kind: EventSecurity, By: d.By, Text: bot.T("Deploy " + string(d.ID) + ": " + f.Private)}}
}

// privateChanges is the event that sends the subjects and tasks of a
// deploy's changes marked private in Gerrit to the security destination
// (every other text calls them gerrit.PrivateSubject); none when no
// change is private.
func privateChanges(d *Deploy, changes []Change) []Event {
	var details []string
	for _, c := range changes {
		if c.PrivateText != "" {
			details = append(details, c.PrivateText)
		}
	}
	if len(details) == 0 {
		return nil
	}
	return []Event{{Kind: EventSecurity, By: d.By,
		Text: bot.T("Deploy " + string(d.ID) + ": " + strings.Join(details, "; ") + `; public texts call it "` + gerrit.PrivateSubject + `".`)}}
}
