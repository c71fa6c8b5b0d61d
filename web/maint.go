package web

import (
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jouncebot/jouncebot/maint"
	"github.com/jouncebot/jouncebot/sal/wikitext"
)

// MaintRuns is what the /maint/<token> page needs; *maint.Service
// implements it.
type MaintRuns interface {
	// Page returns the run of a page token and its output, nil for a
	// private run unless key is its private key; not found for a wrong
	// key.
	Page(token, key string) (*maint.Run, [][]byte, error)
}

type maintView struct {
	Title string
	Error string
	Live  bool
	Run   *maintRunView
	links *wikitext.Renderer
}

// Wiki renders what people wrote (a reason) as SAL wikitext: links where
// the wiki shows links, everything else escaped.
func (v maintView) Wiki(s string) template.HTML { return v.links.HTML(s) }

type maintRunView struct {
	What, State, By, Created, Reason string
	Change                           int
	// Override says who started the real run despite a failed dry run,
	// and why.
	Override string
	// Private says why the output is not shown.
	Private string
	Steps   []maintStepView
}

type maintStepView struct {
	Title, Status, Output string
}

// MaintPage serves /maint/{token} and /maint/{token}/{key}: a
// maintenance run and its whole output, escaped like the SAL pages,
// refreshing itself while the run is live. The token is the run's random
// page name, so a page is found only through its link; a private run's
// output is shown only with its private key, whose link goes only to the
// security destination.
// Reasons are rendered as SAL wikitext with links (nil: the default
// renderer).
func MaintPage(runs MaintRuns, links *wikitext.Renderer, log *slog.Logger) http.Handler {
	if links == nil {
		links = &wikitext.Renderer{}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		run, outs, err := runs.Page(r.PathValue("token"), r.PathValue("key"))
		v := maintView{Title: "Maintenance run", links: links}
		status := http.StatusOK
		switch {
		case err != nil && maint.IsNotFound(err):
			status, v.Error = http.StatusNotFound, "There is no such maintenance run (runs are kept for the configured number of days)."
		case err != nil:
			log.Error("maint page", "err", err)
			status, v.Error = http.StatusInternalServerError, "The run could not be read; try again in a moment."
		default:
			v.Title = "Maintenance run " + strconv.Itoa(run.ID)
			v.Live, v.Run = !run.State.Ended() && run.State != maint.Waiting, runView(run, outs)
		}
		w.Header().Set("Referrer-Policy", "no-referrer") // the address is the key
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		if err := pages.ExecuteTemplate(w, "maint", v); err != nil {
			log.Error("render maint page", "err", err)
		}
	})
}

func runView(r *maint.Run, outs [][]byte) *maintRunView {
	v := &maintRunView{What: r.What(r.Phase), State: string(r.State), By: r.By.Name, Created: r.Created.UTC().Format(time.DateTime + " UTC"),
		Reason: r.Reason, Change: r.Change}
	if r.State == maint.Expired {
		v.State = r.ExpiredText()
	}
	if o := r.Override; o != nil {
		v.Override = fmt.Sprintf("The dry run failed; %s started the real run anyway at %s: %s", o.By, o.At.UTC().Format(time.DateTime+" UTC"), o.Reason)
	}
	if outs == nil && len(r.Steps) > 0 {
		v.Private = fmt.Sprintf("The output of %s is private: the security destination has the link to it.", r.Script)
	}
	for i, st := range r.Steps {
		sv := maintStepView{Title: fmt.Sprintf("%s run on %s", st.Phase, st.Wiki), Status: "running"}
		switch {
		case st.Exit != nil:
			sv.Status = fmt.Sprintf("exit %d, %d lines", *st.Exit, st.Lines)
		case st.Gone:
			sv.Status = "the process is gone without an exit status"
		}
		if st.Cut {
			sv.Status += fmt.Sprintf("; only the first %d MiB of output are kept here, the rest is in %s/out on the maintenance host", maint.MaxKept>>20, st.Job)
		}
		if i < len(outs) {
			sv.Output = printable(string(outs[i]))
		}
		v.Steps = append(v.Steps, sv)
	}
	return v
}

// printable replaces control characters other than newline and tab.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			return '�'
		}
		return r
	}, strings.ToValidUTF8(s, "�"))
}
