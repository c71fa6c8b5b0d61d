package commands

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/maint"
	"github.com/jouncebot/jouncebot/store"
)

// nohost is a maintenance host that records calls; nothing refused may
// reach it.
type nohost struct {
	mu    sync.Mutex
	calls []string
}

func (h *nohost) Argv(script, wiki string, args []string) []string {
	return append([]string{script, wiki}, args...)
}
func (h *nohost) Start(ctx context.Context, job string, argv []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, job)
	return nil
}
func (h *nohost) Poll(ctx context.Context, job string, offset int64) (maint.Status, error) {
	return maint.Status{Running: true}, nil
}
func (h *nohost) Remove(context.Context, string) error       { return nil }
func (h *nohost) Stop(ctx context.Context, job string) error { return nil }
func (h *nohost) Kill(ctx context.Context, job string) error { return nil }

// Strangers, owners and a spoofed deployer nick are refused maint; a
// deployer's script or wiki name with shell metacharacters, a path out of
// the maintenance directory or an unknown script is refused before
// anything reaches the host.
func TestMaintRefusals(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	host := &nohost{}
	svc := maint.NewService(maint.Options{DB: db, Host: host,
		Rules: maint.Rules{Scripts: config.MaintScriptNames("namespaceDupes.php"), Wikis: []string{"testwiki"}, DryRun: config.DefaultMaintDryRuns}})
	d := NewDispatcher(Options{Config: testConfig(), Log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	d.Register(MaintCommands(MaintOptions{Service: svc})...)
	for _, c := range []struct{ nick, account, text, want string }{
		{"mallory", "mallory", "jouncebot: maint namespaceDupes.php testwiki", `Only deployers may use maint, and your account "mallory" is not in my people list.`},
		{"amir", "", "jouncebot: maint namespaceDupes.php testwiki", "maint needs you to be identified, and you are not logged in to an account; log in (NickServ/SASL on IRC) and ask again."},
		{"kosta", "kharlan", "jouncebot: maint stop 1", "Only deployers may use maint; Kosta is not one."},
		{"amir", "amir", "jouncebot: maint namespaceDupes.php;reboot testwiki", `Refused: "namespaceDupes.php;reboot" is not a script name (letters, digits, _ . and -, parts separated by /, ending in .php).`},
		{"amir", "amir", "jouncebot: maint ../../../../bin/sh testwiki", `Refused: "../../../../bin/sh" is not a script name (letters, digits, _ . and -, parts separated by /, ending in .php).`},
		{"amir", "amir", "jouncebot: maint dropTables.php testwiki", "Refused: dropTables.php is not one of the scripts allowed here (namespaceDupes.php)."},
		{"amir", "amir", "jouncebot: maint namespaceDupes.php testwiki|id", `Refused: "testwiki|id" is not a wiki name (a database name like enwiki), list:NAME or all.`},
		{"amir", "amir", "jouncebot: maint namespaceDupes.php testwiki --fix&&id", `Refused: the argument "--fix&&id" is not allowed: arguments are options like --name or --name=value (letters, digits and _ . , : / @ + % -).`},
		{"amir", "amir", "jouncebot: maint go 7", "There is no maintenance run 7."},
		{"amir", "amir", "jouncebot: maint stop 7 it hangs", "There is no maintenance run 7."},
		{"amir", "amir", "jouncebot: maint stop x", `"x" is not a run number; maint lists the runs.`},
		{"amir", "amir", "jouncebot: maint", "No maintenance runs yet. Start one with: maint <script> <wiki|list:NAME|all> [--args] [reason]"},
	} {
		got := ask(t, d, c.nick, c.account, c.text)
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("%s (%s): %q\nwant %q", c.text, c.nick, got, c.want)
		}
	}
	if len(host.calls) != 0 {
		t.Errorf("refused requests reached the host: %q", host.calls)
	}
}
