package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lrstanley/girc"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/jouncebot/jouncebot/bot/irc/irctest"
	"github.com/jouncebot/jouncebot/bot/matrix/matrixtest"
	"github.com/jouncebot/jouncebot/internal/testenv"
)

// Promises of the README, each proved through the real binary.

// startConfigSandbox runs jouncebot on the deploy sandbox from a
// configuration file in dir (data in dir/data) with no windows, so that a
// forced deploy goes ahead whatever the time of day (the built-in
// default's puppet and train windows refuse one).
func startConfigSandbox(t *testing.T, dir string) *sandboxBot {
	t.Helper()
	cfg := filepath.Join(dir, "config.yaml")
	if _, err := os.Stat(cfg); err != nil {
		writeFile(t, cfg, `bot: {nick: jouncebot, data_dir: data, console_person: Amir}
people:
  - {name: Amir, irc_account: amir, roles: [deployer]}
  - {name: Alice, irc_account: alice, gerrit: alice, roles: [owner]}
  - {name: Bob, irc_account: bob, gerrit: bob, roles: [owner]}
deploy: {sandbox: true}
`)
	}
	return startBotCmd(t, exec.Command(os.Args[0], "--config", cfg, "--http", ""))
}

// startLoggedInBot runs jouncebot, its debug log on, on the IRC server at
// addr in #ops, logged in with SASL and NickServ as account jouncebot with
// secret (given in the environment), with the rest of its configuration
// in extra; its lines are drained (output still has them all).
func startLoggedInBot(t *testing.T, addr, secret, extra string) *sandboxBot {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, cfg, fmt.Sprintf(`bot: {nick: jouncebot, data_dir: data}
networks:
  - name: libera
    type: irc
    server: "%s"
    sasl: {mechanism: PLAIN, username: jouncebot, password: {env: TEST_BOT_IRC_PASSWORD}}
    nickserv_password: {env: TEST_BOT_IRC_PASSWORD}
    channels: [{name: "#ops"}]
`, addr)+extra)
	cmd := exec.Command(os.Args[0], "--config", cfg, "--no-console", "--log-level", "debug", "--http", "")
	b := startBotCmd(t, cmd, "TEST_BOT_IRC_PASSWORD="+secret)
	b.drain()
	return b
}

// "How a host's truth is decided": a host reset behind the bot's back
// between two deploys (restored from a backup taken before the first)
// does not hold what the bot remembers giving it. The next deploy's
// transfer of differences finds the claim it deletes is not the one
// remembered, so a second transfer sends the whole release: the host
// ends up holding exactly the new release, the first deploy's change
// included, and its marker names it.
func TestHostResetBetweenDeploysGetsTheWholeRelease(t *testing.T) {
	needTools(t, "git", "rsync")
	dir := t.TempDir()
	b := startConfigSandbox(t, dir)
	data := filepath.Join(dir, "data")
	b.waitLine("Try `jouncebot: plan")
	servers := filepath.Join(data, "sandbox", "servers")
	backups := t.TempDir()
	reset := []string{"mwdebug1001", "mw1001"} // a test server and a canary
	for _, h := range reset {
		if out, err := exec.Command("cp", "-a", filepath.Join(servers, h), filepath.Join(backups, h)).CombinedOutput(); err != nil {
			t.Fatalf("backing up %s: %v\n%s", h, err, out)
		}
	}

	b.say("deploy --force 445113 first deploy")
	b.waitLine("Please test it there")
	b.say("tested ok")
	b.waitLine("deploy 1 is done: 445113.", "deploy 1 stopped: ")

	// Behind the bot's back: the hosts are restored from the backup.
	for _, h := range reset {
		if err := os.RemoveAll(filepath.Join(servers, h)); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cp", "-a", filepath.Join(backups, h), filepath.Join(servers, h)).CombinedOutput(); err != nil {
			t.Fatalf("restoring %s: %v\n%s", h, err, out)
		}
	}

	b.say("deploy --force 445115 second deploy")
	b.waitLine("Please test it there")
	b.say("tested ok")
	b.waitLine("deploy 2 is done: 445115.", "deploy 2 stopped: ")
	b.quit()

	froze := regexp.MustCompile(`Froze release ([0-9a-f]{20})`).FindAllStringSubmatch(b.output(), -1)
	if len(froze) != 2 {
		t.Fatalf("%d releases frozen, want 2:\n%s", len(froze), b.output())
	}
	rel := froze[1][1]
	want := treeOf(t, filepath.Join(data, "sandbox", "releases", rel, "tree"))
	if !strings.Contains(want["wmf-config/InitialiseSettings.php"], "$wgExampleLimit = 20;") {
		t.Fatalf("release %s lacks the first deploy's change", rel)
	}
	entries, err := os.ReadDir(servers)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dir := filepath.Join(servers, e.Name())
		got := treeOf(t, dir)
		marker, _ := os.Readlink(filepath.Join(dir, ".jouncebot-release"))
		claims, _ := os.ReadDir(filepath.Join(dir, "~jouncebot"))
		if !equalTrees(want, got) {
			t.Errorf("%s does not hold release %s: InitialiseSettings.php is %q", e.Name(), rel, got["wmf-config/InitialiseSettings.php"])
		}
		if marker != rel || len(claims) != 1 || claims[0].Name() != rel {
			var names []string
			for _, c := range claims {
				names = append(names, c.Name())
			}
			t.Errorf("%s's marker names %q with claims %q, want release %s", e.Name(), marker, names, rel)
		}
	}
}

// "Who may do what goes by the identity the network vouches for … never
// by nick": on a real IRC server, someone using a deployer's nick without
// being logged in to the deployer's account, or logged in to another
// account, is refused, and so is the deployer once they log out. And
// "Secrets never appear in logs": the bot's own SASL and NickServ
// password appear nowhere in its debug log.
func TestDeployerNickWithoutTheAccountIsRefused(t *testing.T) {
	ircd := irctest.Start(t)
	const botSecret = "bot-sasl-Secret-7f3a91"
	ircd.Register(t, "jouncebot", botSecret)
	ircd.Register(t, "lucas", "lucas-password1")
	ircd.Register(t, "mallory", "mallory-password1")
	obs := ircd.Client(t, irctest.ClientConfig{Nick: "observer"})
	obs.Join(t, "#ops")

	b := startLoggedInBot(t, ircd.Addr, botSecret, `people:
  - {name: Lucas, irc_account: lucas, irc_nick: lucas, roles: [deployer]}
  - {name: Alice, irc_account: alice, gerrit: alice, roles: [owner]}
deploy: {sandbox: true}
`)
	obs.WaitEvent(t, func(ev *girc.Event) bool {
		return ev.Command == girc.JOIN && ev.Source != nil && ev.Source.Name == "jouncebot"
	})
	// ask has c say text in #ops and waits for the bot's line there
	// containing want.
	ask := func(c *irctest.Client, text, want string) {
		t.Helper()
		c.Say("#ops", "jouncebot: "+text)
		obs.Expect(t, func(m irctest.Msg) bool {
			return m.Command == girc.PRIVMSG && m.Nick == "jouncebot" && m.Target == "#ops" && strings.Contains(m.Text, want)
		})
	}
	leave := func(c *irctest.Client) {
		t.Helper()
		c.Quit("bye")
		obs.WaitEvent(t, func(ev *girc.Event) bool {
			return ev.Command == girc.QUIT && ev.Source != nil && strings.EqualFold(ev.Source.Name, "lucas")
		})
	}

	// The deployer's nick, not logged in.
	nobody := ircd.Client(t, irctest.ClientConfig{Nick: "lucas"})
	nobody.Join(t, "#ops")
	ask(nobody, "deploy --force 445113 taking over", "deploy needs you to be identified")
	ask(nobody, "freeze 2027-06-01 2027-06-02 nobody's freeze", "freeze needs you to be identified")
	leave(nobody)

	// The deployer's nick, logged in to another account.
	mallory := ircd.Client(t, irctest.ClientConfig{Nick: "lucas", Account: "mallory", Password: "mallory-password1"})
	mallory.Join(t, "#ops")
	ask(mallory, "deploy --force 445113 taking over", `Only deployers may use deploy, and your account "mallory" is not in my people list.`)
	leave(mallory)

	// The deployer, then the deployer logged out.
	lucas := ircd.Client(t, irctest.ClientConfig{Nick: "lucas", Account: "lucas", Password: "lucas-password1"})
	lucas.Join(t, "#ops")
	ask(lucas, "freeze 2027-06-01 2027-06-02 release week", "Freeze 1 recorded")
	lucas.Say("NickServ", "LOGOUT")
	lucas.Expect(t, func(m irctest.Msg) bool {
		return m.Command == girc.NOTICE && strings.EqualFold(m.Nick, "NickServ") && strings.Contains(m.Text, "logged out")
	})
	ask(lucas, "unfreeze 1", "unfreeze needs you to be identified")
	ask(lucas, "status", "No deploy in progress.")
	ask(lucas, "freezes", "release week")

	// A clean stop, then the whole log is read.
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(testenv.Scale(30 * time.Second)):
		t.Fatal("jouncebot did not stop after SIGTERM")
	}
	log := b.output()
	if !strings.Contains(log, "log: ") {
		t.Fatalf("no log lines at --log-level debug:\n%s", log)
	}
	for _, secret := range []string{botSecret, base64.StdEncoding.EncodeToString([]byte("jouncebot\x00jouncebot\x00" + botSecret)),
		base64.StdEncoding.EncodeToString([]byte("\x00jouncebot\x00" + botSecret))} {
		if strings.Contains(log, secret) {
			t.Errorf("the log shows the bot's password (%q):\n%s", secret, log)
		}
	}
}

// "Requests and approvals are stored in the database before the bot
// answers … A restart keeps requests waiting": an approval given, then
// the bot killed (SIGKILL), the request still waits after the restart
// with that approval, and the last approval starts the deploy.
func TestApprovalSurvivesAKill(t *testing.T) {
	ircd := irctest.Start(t)
	clients := map[string]*irctest.Client{}
	for _, p := range []string{"lucas", "rita", "sam"} {
		ircd.Register(t, p, p+"-password1")
		c := ircd.Client(t, irctest.ClientConfig{Nick: p, Account: p, Password: p + "-password1"})
		c.Join(t, "#ops")
		clients[p] = c
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	writeFile(t, cfg, fmt.Sprintf(`bot: {nick: jouncebot, data_dir: data}
networks: [{name: libera, type: irc, server: "%s", channels: [{name: "#ops"}]}]
people:
  - {name: Lucas, irc_account: lucas, roles: [deployer]}
  - {name: Rita, irc_account: rita, roles: [releng]}
  - {name: Sam, irc_account: sam, roles: [sre]}
  - {name: Alice, irc_account: alice, gerrit: alice, roles: [owner]}
windows:
  - {name: All-day backport window, kind: backport, schedule: "0 0 * * *", duration: 24h, deployers: [Lucas]}
policy:
  roles: {releng: RelEng, sre: SRE}
  rules:
    - {name: Every day, approvals: [releng, sre], timeout: 1h}
deploy: {sandbox: true}
`, ircd.Addr))
	seen := clients["lucas"]
	joins := map[*girc.Event]bool{}
	start := func() *sandboxBot {
		t.Helper()
		b := startBotCmd(t, exec.Command(os.Args[0], "--config", cfg, "--no-console", "--http", ""))
		b.drain()
		ev := seen.WaitEvent(t, func(ev *girc.Event) bool {
			return ev.Command == girc.JOIN && ev.Source != nil && ev.Source.Name == "jouncebot" && !joins[ev]
		})
		joins[ev] = true
		return b
	}
	say := func(who, text, want string) {
		t.Helper()
		clients[who].Say("#ops", "jouncebot: "+text)
		seen.Expect(t, func(m irctest.Msg) bool {
			return m.Command == girc.PRIVMSG && m.Nick == "jouncebot" && m.Target == "#ops" && strings.HasPrefix(m.Text, want)
		})
	}
	b := start()
	say("lucas", "deploy 445113", "Deploy 445113 waits for approvals until")
	say("rita", "approve r1", "Rita approved request r1 (Every day). Still waiting for one SRE person.")
	b.kill()

	start()
	say("lucas", "status", "Request r1 by Lucas to deploy 445113 at patchset 1 waits for one SRE person")
	say("sam", "approve r1", "Sam approved request r1 (Every day). All approvals are in; deploy 1 started.")
}

// "Only one process may use it: a second one stops at once with
// `database … is already in use by pid N`" (exit code 2, as for every
// start-up refusal), and the first goes on.
func TestSecondProcessOnTheDatabaseStops(t *testing.T) {
	dir := t.TempDir()
	first := startConfigSandbox(t, dir)
	first.waitLine("Try `jouncebot: plan")
	second := exec.Command(os.Args[0], "--config", filepath.Join(dir, "config.yaml"), "--http", "")
	second.Env = append(os.Environ(), "JOUNCEBOT_TEST_RUN_MAIN=1")
	second.Stdin = strings.NewReader("jouncebot: version\n")
	out, err := second.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitConfig {
		t.Errorf("second process: %v, want exit code %d:\n%s", err, exitConfig, out)
	}
	want := fmt.Sprintf("is already in use by pid %d; stop that jouncebot or use another data directory", first.cmd.Process.Pid)
	if !strings.Contains(string(out), want) {
		t.Errorf("second process said\n%s\nwant %q", out, want)
	}
	first.say("jouncebot: status")
	first.waitLine("No deploy in progress.")
	first.quit()
}

// "Encrypted rooms are not supported (`encryption: true` is refused)", as
// every impossible value is: check-config and the start name the file,
// the line and the key, exit with code 2 and write nothing.
func TestMatrixEncryptionRefusedByTheConfiguration(t *testing.T) {
	t.Setenv("TEST_MATRIX_TOKEN", "mx-token")
	cfg, dir := writeConfig(t, `bot: {nick: jouncebot, data_dir: data}
networks:
  - name: matrix
    type: matrix
    homeserver: https://matrix.example.org
    user_id: "@jouncebot:example.org"
    access_token: {env: TEST_MATRIX_TOKEN}
    rooms: ["!ops:example.org"]
    encryption: true
`)
	want := cfg + ":9: networks[0].encryption: "
	var out, errs bytes.Buffer
	if code := run([]string{"check-config", cfg}, nil, &out, &errs); code != exitConfig || !strings.Contains(errs.String(), want) {
		t.Errorf("check-config: exit code %d, stderr %q; want %d and %q", code, errs.String(), exitConfig, want)
	}
	errs.Reset()
	if code := run([]string{"--config", cfg, "--no-console"}, strings.NewReader(""), &out, &errs); code != exitConfig || !strings.Contains(errs.String(), want) {
		t.Errorf("start: exit code %d, stderr %q; want %d and %q", code, errs.String(), exitConfig, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("the data directory was written: %v", err)
	}
}

// "Every stage syncs that release, never the live staging checkout … an
// edit made in staging after the freeze never reaches a host, and the
// deployer is told what changed in staging and that it is not deployed."
func TestStagingEditAfterTheFreezeNeverReachesAHost(t *testing.T) {
	needTools(t, "git", "rsync")
	dir := t.TempDir()
	b := startConfigSandbox(t, dir)
	data := filepath.Join(dir, "data")
	b.waitLine("Try `jouncebot: plan")
	b.say("deploy --force 445113 staging edit test")
	b.waitLine("Please test it there")
	settings := filepath.Join(data, "sandbox", "staging", "wmf-config", "InitialiseSettings.php")
	edited := "<?php\n$wgExampleLimit = 9999;\n$wgExampleDebug = true;\n"
	if err := os.WriteFile(settings, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	b.say("tested ok")
	said := b.waitLine("staging changed after release", "deploy 1 is done: 445113.", "deploy 1 stopped: ")
	if !strings.Contains(said, "the change in staging is not deployed") {
		t.Errorf("the deployer was not told staging changed; the bot said: %s", said)
	}
	b.waitLine("deploy 1 is done: 445113.", "deploy 1 stopped: ")
	b.quit()
	servers := filepath.Join(data, "sandbox", "servers")
	entries, err := os.ReadDir(servers)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		got, _ := os.ReadFile(filepath.Join(servers, e.Name(), "wmf-config", "InitialiseSettings.php"))
		if !strings.Contains(string(got), "$wgExampleLimit = 20;") {
			t.Errorf("%s holds %q, want the release as tested ($wgExampleLimit = 20)", e.Name(), got)
		}
	}
}

// The deploy agent's audit: "Lines of changing requests are on disk before
// the agent acts; if the file cannot be written, the agent refuses the
// change." With the audit file on a full device (/dev/full: every write
// fails), a deployer's deploy is refused and takes no lock.
func TestAgentRefusesAChangeItCannotAudit(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full to make the audit file's writes fail")
	}
	s := newSplit(t)
	data := filepath.Join(s.dir, "agent-data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/full", filepath.Join(data, "agent-audit.jsonl")); err != nil {
		t.Fatal(err)
	}
	s.startAgent()
	hc := s.client(s.botCert, s.botKey)
	const start = `{"caller":{"kind":"irc","network":"libera","account":"amir"},"request":{"Changes":["445113"],"By":{"Name":"Amir","Deployer":true},"Force":true,"Reason":"audit test"}}`
	out, err := s.post(hc, "start", start)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := out["error"].(string); out["code"] != "refused" || !strings.Contains(e, "cannot write its audit log, so it did nothing") {
		t.Fatalf("a deploy the agent could not audit: %v", out)
	}
	out, err = s.post(hc, "status", "{}")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := out["status"].(map[string]any); st["Lock"] != nil {
		t.Fatalf("an unaudited request took the deploy lock: %v", out)
	}
}

// "`--force` without a reason is always refused": deploy and revert,
// through the real binary; nothing starts.
func TestForceWithoutAReasonIsRefused(t *testing.T) {
	dir := t.TempDir()
	b := startConfigSandbox(t, dir)
	b.waitLine("Try `jouncebot: plan")
	b.say("deploy --force 445113")
	if l := b.waitLine("--force needs a reason", "Deploy 1 started"); !strings.Contains(l, "--force needs a reason") {
		t.Fatalf("deploy --force without a reason: %s", l)
	}
	b.say("revert --force 445113")
	if l := b.waitLine("--force needs a reason", "Revert 1 started", "started by"); !strings.Contains(l, "--force needs a reason") {
		t.Fatalf("revert --force without a reason: %s", l)
	}
	b.say("status")
	b.waitLine("No deploy in progress.")
	b.quit()
	if strings.Contains(b.output(), "Code-Review +2") {
		t.Errorf("a vote was given:\n%s", b.output())
	}
}

// Matrix: the bot "accepts invites from people in `people`, and rejects
// all others", through the real binary on a real homeserver: a
// stranger's invite is rejected, a person's accepted.
func TestMatrixInvitesOnlyFromPeople(t *testing.T) {
	srv := matrixtest.Start(t)
	botUser := srv.CreateUser(t, "deploybot", "bot-password")
	aliceUser := srv.CreateUser(t, "alice", "alice-password")
	alice := srv.Client(t, aliceUser)
	eve := srv.Client(t, srv.CreateUser(t, "eve", "eve-password"))
	dir := t.TempDir()
	cfg := filepath.Join(dir, "jouncebot.yaml")
	writeFile(t, filepath.Join(dir, "matrix-password"), botUser.Password)
	writeFile(t, cfg, `bot: {nick: jouncebot, data_dir: data}
networks:
  - name: matrix
    type: matrix
    homeserver: `+srv.URL+`
    user_id: "`+botUser.ID.String()+`"
    password: {file: matrix-password}
people:
  - {name: Alice, matrix_id: "`+aliceUser.ID.String()+`", roles: [owner]}
`)
	bot := startBot(t, "--config", cfg, "--no-console")
	ctx := context.Background()
	aliceW, eveW := matrixtest.Watch(t, alice), matrixtest.Watch(t, eve)
	invite := func(cli *mautrix.Client) id.RoomID {
		t.Helper()
		var room id.RoomID
		err := matrixtest.WaitOutLimits(ctx, func() error {
			resp, err := cli.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{botUser.ID}})
			if err == nil {
				room = resp.RoomID
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return room
	}
	strange, friendly := invite(eve), invite(alice)
	eveW.Wait(t, matrixtest.Member(strange, botUser.ID, event.MembershipLeave))
	aliceW.Wait(t, matrixtest.Member(friendly, botUser.ID, event.MembershipJoin))
	members, err := eve.JoinedMembers(ctx, strange)
	if err != nil {
		t.Fatal(err)
	}
	if _, in := members.Joined[botUser.ID]; in {
		t.Errorf("the bot joined the stranger's room")
	}
	bot.stop(t)
}

// "It takes its nick back (NickServ GHOST with `nickserv_password`)", and
// "Secrets never appear in logs": a squatter holds the bot's nick when it
// starts; the bot ghosts them and takes the nick, and its password
// appears nowhere in its debug log.
func TestNickTakenBackWithoutLoggingThePassword(t *testing.T) {
	ircd := irctest.Start(t)
	const botSecret = "bot-ghost-Secret-4c2e17"
	ircd.Register(t, "jouncebot", botSecret)
	obs := ircd.Client(t, irctest.ClientConfig{Nick: "observer"})
	obs.Join(t, "#ops")
	squatter := ircd.Client(t, irctest.ClientConfig{Nick: "jouncebot"})
	squatter.Join(t, "#ops")

	b := startLoggedInBot(t, ircd.Addr, botSecret, "")
	// The bot takes the nick (seen as a NICK in the channel, or as its
	// JOIN under that nick if it took it before joining).
	obs.WaitEvent(t, func(ev *girc.Event) bool {
		return ev.Source != nil && (ev.Command == girc.NICK && len(ev.Params) > 0 && ev.Params[0] == "jouncebot" && ev.Source.Name != "jouncebot" ||
			ev.Command == girc.JOIN && ev.Source.Name == "jouncebot" && strings.Contains(ev.Source.Ident, "jouncebot"))
	})
	obs.Say("#ops", "jouncebot: version")
	obs.Expect(t, func(m irctest.Msg) bool {
		return m.Command == girc.PRIVMSG && m.Nick == "jouncebot" && m.Target == "#ops" && strings.Contains(m.Text, "jouncebot")
	})
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(testenv.Scale(30 * time.Second)):
		t.Fatal("jouncebot did not stop after SIGTERM")
	}
	log := b.output()
	if !strings.Contains(log, "asking NickServ to free the configured nick") {
		t.Errorf("the bot did not ghost the squatter:\n%s", log)
	}
	if strings.Contains(log, botSecret) {
		t.Errorf("the log shows the bot's password:\n%s", log)
	}
}

// "State is in bbolt before the bot answers": a freeze, a queued change
// and a one-off window, each answered, then the bot killed (SIGKILL):
// after the restart all three are there.
func TestAnsweredStateSurvivesAKill(t *testing.T) {
	dir := t.TempDir()
	first := startConfigSandbox(t, dir)
	first.waitLine("Try `jouncebot: plan")
	first.say("freeze 2027-06-01 2027-06-02 release week")
	first.waitLine("Freeze 1 recorded")
	first.say(`window add "Kill test window (Max 3 patches)" 2027-05-03T14:00Z 1h backport`)
	first.waitLine("Added Kill test window")
	first.say("add 445115 to kill test")
	first.waitLine("Queued change 445115 for ")
	first.kill()

	second := startConfigSandbox(t, dir)
	second.waitLine("Try `jouncebot: plan")
	second.say("freezes")
	second.waitLine("release week")
	second.say("queue kill test")
	second.waitLine("Kill test window (Mon 3 May 14:00–15:00 UTC), id w1: 1 patch queued")
	second.waitLine("445115 by Bob, queued")
	second.quit()
}

// The SAL's relays: "A trusted relay's (`sal.relays`) `!log user@host
// message` is attributed to `user@host`", the relay being an account,
// never a nick; and "Nicks in `ignore` are not listened to, except for
// their `!log` lines". Someone using the relay's nick without its
// account logs nothing.
func TestSALRelayIsAnAccountNotANick(t *testing.T) {
	ircd := irctest.Start(t)
	ircd.Register(t, "logmsgbot", "relay-password1")
	obs := ircd.Client(t, irctest.ClientConfig{Nick: "observer"})
	obs.Join(t, "#ops")
	addr := freePort(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	writeFile(t, cfg, fmt.Sprintf(`bot: {nick: jouncebot, data_dir: data, http: "%s"}
networks:
  - {name: libera, type: irc, server: "%s", channels: [{name: "#ops"}], ignore: [logmsgbot]}
people:
  - {name: Amir, irc_account: amir, roles: [deployer]}
sal:
  relays: ["libera/logmsgbot"]
  projects:
    - {name: production, rooms: ["libera/#ops"], allow: ["role:deployer"]}
`, addr, ircd.Addr))
	bot := startBot(t, "--config", cfg, "--no-console")
	obs.WaitEvent(t, func(ev *girc.Event) bool {
		return ev.Command == girc.JOIN && ev.Source != nil && ev.Source.Name == "jouncebot"
	})
	say := func(c *irctest.Client, text, want string) {
		t.Helper()
		c.Say("#ops", text)
		obs.Expect(t, func(m irctest.Msg) bool {
			return m.Command == girc.PRIVMSG && m.Nick == "jouncebot" && m.Target == "#ops" && strings.Contains(m.Text, want)
		})
	}

	impostor := ircd.Client(t, irctest.ClientConfig{Nick: "logmsgbot"})
	impostor.Join(t, "#ops")
	say(impostor, "!log amir@deploy1001 impostor line", "Please identify to your account")
	impostor.Quit("bye")
	obs.WaitEvent(t, func(ev *girc.Event) bool {
		return ev.Command == girc.QUIT && ev.Source != nil && ev.Source.Name == "logmsgbot"
	})
	relay := ircd.Client(t, irctest.ClientConfig{Nick: "logmsgbot", Account: "logmsgbot", Password: "relay-password1"})
	relay.Join(t, "#ops")
	say(relay, "!log amir@deploy1001 Synchronized wmf-config", "Logged the message at http://"+addr+"/sal/log/")

	search := func(q string) []map[string]any {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/api/sal?q=" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ Entries []map[string]any }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out.Entries
	}
	if got := search("Synchronized"); len(got) != 1 || got[0]["nick"] != "amir@deploy1001" || got[0]["account"] != "logmsgbot" || got[0]["message"] != "Synchronized wmf-config" {
		t.Errorf("the relayed entry: %v", got)
	}
	if got := search("impostor"); len(got) != 0 {
		t.Errorf("the impostor's line was logged: %v", got)
	}
	bot.stop(t)
}
