package deploy

import (
	"context"
	"errors"
	"time"

	"github.com/jouncebot/jouncebot/bot"
)

// securityFailure is a failure that names a local security patch: the
// public sentence says what happened and where the details went; the
// details go only to the security destination.
func (j *Job) securityFailure(public, private string) error {
	d, _ := j.Deploy()
	where := "sent to the security contacts privately"
	if d != nil && j.a.o.SecurityWhere != nil {
		where = j.a.o.SecurityWhere(d.By)
	}
	return &Failure{Msg: public + "; details " + where + ".", Private: private}
}

// sayPrivate sends a failure's private details as an EventSecurity. They
// are not recorded in the history, which chat and status show.
func (a *Agent) sayPrivate(ctx context.Context, d *Deploy, err error) {
	var f *Failure
	if !errors.As(err, &f) || f.Private == "" || a.notify == nil {
		return
	}
	a.notify.Notify(context.WithoutCancel(ctx), Event{Deploy: d.ID, Origin: d.Origin, Kind: EventSecurity, Stage: d.Stage,
		Text: bot.T("Deploy " + string(d.ID) + ": " + f.Private), Time: time.Now().UTC(), By: d.By})
}
