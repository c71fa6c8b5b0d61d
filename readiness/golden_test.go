package readiness_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/readiness"
)

var update = flag.Bool("update", false, "rewrite golden files")

func person(name string) bot.Person { return bot.Person{Name: name, IRCNick: name} }

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		must(t, os.MkdirAll("testdata", 0o755))
		must(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s differs (-want +got); run go test -update to accept:\n%s", path, d)
	}
}

// TestGoldenTexts checks the channel summary and an owner's private
// message for a window with a ready patch, a patch that conflicts with
// the local security patch, one with failing CI and a static file.
func TestGoldenTexts(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	sec := w.upload("bob", "", "Setup: log the request size", gerrittest.File{Path: "includes/Setup.php", Content: "<?php\n// MediaWiki setup\n// log the request size\n"})
	static := w.upload("alice", "", "Add a logo", gerrittest.File{Path: "resources/assets/logo.svg", Content: "<svg/>\n"})
	cfg := w.sb.Changes["config"]
	must(t, w.sb.Vote(w.sb.Changes["config2"], "jenkins-bot", "Verified", -1))
	w.queue(w.win, "alice", cfg)
	w.queue(w.win, "bob", sec, w.sb.Changes["config2"])
	w.queue(w.win, "alice", static)
	res := w.check(w.win)
	sum := readiness.Summary(res, person, "https://jouncebot.example.org/windows/"+w.win.Short)
	msgs := readiness.OwnerMessages(res)
	golden(t, "summary.golden", sum.String()+"\n")
	golden(t, "owner.golden", msgs["bob"]+"\n")
	if a := msgs["alice"]; strings.Contains(a, "CDN") || strings.Contains(a, fmt.Sprint(cfg)) {
		t.Errorf("alice is told about what needs nobody: %q", a)
	}
}
