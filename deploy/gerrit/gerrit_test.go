package gerrit_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
)

// client returns a client of sb. Its timeout is long enough for a busy
// machine; a test of timeouts passes its own, which it makes elapse.
func client(t *testing.T, sb *gerrittest.Sandbox, password string, timeout ...time.Duration) *gerrit.Client {
	t.Helper()
	to := 30 * time.Second
	if len(timeout) > 0 {
		to = timeout[0]
	}
	c, err := gerrit.New(gerrit.Options{URL: sb.URL, Username: gerrittest.BotUser, Password: password,
		Timeout: to, Backoff: time.Millisecond, Tries: 3})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChange(t *testing.T) {
	sb := gerrittest.Start(t)
	c := client(t, sb, gerrittest.BotPassword)
	ctx := context.Background()
	n := sb.Changes["config2"]
	ch, err := c.Change(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	want := gerrit.Change{Number: n, Project: gerrittest.ConfigProject, Branch: "master", Status: "NEW",
		Subject: "Enable $wgExampleDebug for the limit change", PatchSet: 1, Kind: "REWORK", Bugs: []string{"T1001"}}
	got := gerrit.Change{Number: ch.Number, Project: ch.Project, Branch: ch.Branch, Status: ch.Status,
		Subject: ch.Subject, PatchSet: ch.PatchSet, Kind: ch.Kind, Bugs: ch.Bugs}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("change (-want +got):\n%s", d)
	}
	if ch.Mergeable == nil || !*ch.Mergeable || ch.Owner.Username != "bob" || ch.Revision != sb.Revision(n) || ch.ChangeID != sb.ChangeID(n) {
		t.Errorf("change details wrong: %+v", ch)
	}
	if v := ch.Labels["Verified"]; len(v) != 1 || v[0].Value != 1 || v[0].Username != "jenkins-bot" || v[0].Date.IsZero() {
		t.Errorf("Verified label: %+v", v)
	}
	tog, err := c.SubmittedTogether(ctx, n)
	if err != nil || len(tog) != 1 || tog[0].Number != sb.Changes["config"] {
		t.Errorf("submitted together = %+v, %v", tog, err)
	}
	if err := c.Review(ctx, n, ch.Revision, gerrit.ReviewInput{Message: "hi", Labels: map[string]int{"Code-Review": 2}}); err != nil {
		t.Fatal(err)
	}
	if r := sb.Reviews(); len(r) != 1 || r[0].User != gerrittest.BotUser || r[0].Labels["Code-Review"] != 2 {
		t.Errorf("reviews = %+v", r)
	}
	q, err := c.Query(ctx, "change:"+ch.ChangeID)
	if err != nil || len(q) != 1 || q[0].Number != n {
		t.Errorf("query = %+v, %v", q, err)
	}
}

func TestFaults(t *testing.T) {
	sb := gerrittest.Start(t)
	n := sb.Changes["config"]
	tests := []struct {
		name     string
		fault    gerrittest.Fault
		password string
		change   int
		want     string // prefix of the error, "" for success
	}{
		{"500 then recovers", gerrittest.Fault{Status: 500, Count: 2}, gerrittest.BotPassword, n, ""},
		{"500 always", gerrittest.Fault{Status: 500}, gerrittest.BotPassword, n, "Gerrit is failing (HTTP 500) for change " + itoa(n) + " after 3 tries"},
		{"hang", gerrittest.Fault{Hang: true}, gerrittest.BotPassword, n, "Gerrit did not answer about change " + itoa(n) + " within 200ms (3 tries)"},
		{"401", gerrittest.Fault{}, "wrong", n, "Gerrit refused jouncebot's credentials (HTTP 401)"},
		{"404", gerrittest.Fault{}, gerrittest.BotPassword, 999, "Gerrit has no change 999 (HTTP 404)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb.SetFault(tt.fault)
			defer sb.SetFault(gerrittest.Fault{})
			// A hang lasts until the client gives up: a short timeout
			// that always elapses, whatever the machine's load. Every
			// other case answers, so it gets a timeout that a busy
			// machine never reaches.
			timeout := 30 * time.Second
			if tt.fault.Hang {
				timeout = 200 * time.Millisecond
			}
			_, err := client(t, sb, tt.password, timeout).Change(context.Background(), tt.change)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Fatalf("error = %v, want prefix %q", err, tt.want)
			}
		})
	}
}

// TestReviewOnce: a review whose answer is lost is not posted again. The
// fake Gerrit records the +2, then holds its answer past the client's
// timeout (a busy Gerrit); or fails before recording it (HTTP 500), and
// then the retry must post it.
func TestReviewOnce(t *testing.T) {
	tests := []struct {
		name  string
		fault gerrittest.Fault
	}{
		{"answer later than the timeout", gerrittest.Fault{Delay: time.Hour, Method: "POST", Count: 1}},
		{"500 before recording", gerrittest.Fault{Status: 500, Method: "POST", Count: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := gerrittest.Start(t)
			n := sb.Changes["config"]
			sb.SetFault(tt.fault)
			c := client(t, sb, gerrittest.BotPassword, 2*time.Second)
			if err := c.Review(context.Background(), n, sb.Revision(n), gerrit.ReviewInput{Message: "Deploying.", Labels: map[string]int{"Code-Review": 2}}); err != nil {
				t.Fatalf("Review: %v", err)
			}
			if r := sb.Reviews(); len(r) != 1 || r[0].Labels["Code-Review"] != 2 {
				t.Errorf("reviews = %+v, want exactly one +2", r)
			}
		})
	}
}

func TestFooters(t *testing.T) {
	msg := "Subject\n\nBody: not a footer paragraph\n\nBug: T1 T2\nDepends-On: Iabc\nChange-Id: Idef\n"
	if d := cmp.Diff([]string{"T1 T2"}, gerrit.Footers(msg, "bug")); d != "" {
		t.Error(d)
	}
	if got := gerrit.Footers(msg, "Body"); got != nil {
		t.Errorf("footer outside last paragraph: %v", got)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// The relation chain as Gerrit's /related gives it: newest first, the
// change itself included, seen from either end; a change alone has none.
func TestRelatedChanges(t *testing.T) {
	sb := gerrittest.Start(t)
	c := client(t, sb, gerrittest.BotPassword)
	ctx := context.Background()
	first, second := sb.Changes["config"], sb.Changes["config2"]
	for _, n := range []int{first, second} {
		rel, err := c.RelatedChanges(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		want := []gerrit.Related{
			{Number: second, ChangeID: sb.ChangeID(second), Project: gerrittest.ConfigProject, Status: "NEW", Commit: sb.Revision(second), PatchSet: 1, CurrentPatchSet: 1},
			{Number: first, ChangeID: sb.ChangeID(first), Project: gerrittest.ConfigProject, Status: "NEW", Commit: sb.Revision(first), PatchSet: 1, CurrentPatchSet: 1},
		}
		if d := cmp.Diff(want, rel); d != "" {
			t.Errorf("related of %d (-want +got):\n%s", n, d)
		}
	}
	if rel, err := c.RelatedChanges(ctx, sb.Changes["core"]); err != nil || len(rel) != 0 {
		t.Errorf("a change alone: %+v, %v", rel, err)
	}
}

// Both spellings of the maintenance footer are read, in the order
// written, by one function that readiness, deploy and maint share.
func TestMaintenanceScripts(t *testing.T) {
	for _, c := range []struct {
		name, msg string
		want      []string
	}{
		{"Maintenance-Script", "S\n\nBug: T1\nMaintenance-Script: a.php testwiki\n", []string{"a.php testwiki"}},
		{"Maintenance", "S\n\nMaintenance: b.php all --fix\n", []string{"b.php all --fix"}},
		{"both, in order", "S\n\nMaintenance: b.php all\nmaintenance-script: a.php testwiki\nChange-Id: I1\n", []string{"b.php all", "a.php testwiki"}},
		{"not in the body", "S\n\nMaintenance: in the body\n\nBug: T1\n", nil},
		{"other footers", "S\n\nMaintenance-Window: Tuesday\n", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if d := cmp.Diff(c.want, gerrit.MaintenanceScripts(c.msg)); d != "" {
				t.Error(d)
			}
		})
	}
}

// A change marked private in Gerrit reads as Private (is_private) to an
// account that may see it, and does not exist for an anonymous client:
// Gerrit answers 404 and its queries leave it out.
func TestPrivateChange(t *testing.T) {
	sb := gerrittest.Start(t)
	n, err := sb.Upload(gerrittest.Upload{Project: gerrittest.ConfigProject, Branch: "master", Owner: "bob", Private: true,
		Subject: "Reject oversized uploads", Files: []gerrittest.File{{Path: "wmf-config/Uploads.php", Content: "<?php\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ch, err := client(t, sb, gerrittest.BotPassword).Change(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Private {
		t.Error("a private change reads as not private")
	}
	if pub, err := client(t, sb, gerrittest.BotPassword).Change(ctx, sb.Changes["config"]); err != nil || pub.Private {
		t.Errorf("a public change reads as private (%v)", err)
	}
	anon, err := gerrit.New(gerrit.Options{URL: sb.URL, Timeout: 30 * time.Second, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Change(ctx, n); !gerrit.IsNotFound(err) {
		t.Errorf("an anonymous client reads the private change: %v", err)
	}
	if found, err := anon.Query(ctx, "change:"+strconv.Itoa(n)); err != nil || len(found) != 0 {
		t.Errorf("an anonymous query finds the private change: %d, %v", len(found), err)
	}
}
