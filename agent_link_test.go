package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/store"
)

// proxy forwards TCP to an address until the test cuts the link: then it
// closes every open connection, both ways, and refuses new ones until the
// link is restored.
type proxy struct {
	ln     net.Listener
	to     string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
	closed chan struct{}
}

func newProxy(t *testing.T, to string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, to: to, conns: map[net.Conn]bool{}, closed: make(chan struct{})}
	go p.serve()
	t.Cleanup(func() { ln.Close(); <-p.closed; p.Cut() })
	return p
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	defer close(p.closed)
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.to)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go func() { io.Copy(up, c); up.Close(); c.Close() }()
		go func() { io.Copy(c, up); up.Close(); c.Close() }()
	}
}

// Cut closes every connection and refuses new ones.
func (p *proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// Restore lets connections through again.
func (p *proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// agentEvents reads the agent's whole event log (as the chat bot would,
// with its certificate) and returns each event's first line of text.
func (s *split) agentEvents() []string {
	s.t.Helper()
	resp, err := s.client(s.botCert, s.botKey).Get("https://" + s.agentAddr + "/v1/events?after=0&follow=false")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	pending := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "event: pending" || line == "event: log":
			pending = true
		case line == "":
			pending = false
		case strings.HasPrefix(line, "data: ") && !pending:
			var rec struct {
				Event struct {
					Kind string
					Text []struct{ Text string }
				}
			}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &rec); err != nil {
				s.t.Fatal(err)
			}
			if rec.Event.Kind == "security" || rec.Event.Kind == "sal" {
				continue
			}
			var b strings.Builder
			for _, sp := range rec.Event.Text {
				b.WriteString(sp.Text)
			}
			first, _, _ := strings.Cut(b.String(), "\n")
			out = append(out, first)
		}
	}
	return out
}

// waitEvent polls the agent's event log until an event's first line
// contains want.
func (s *split) waitEvent(want string) {
	s.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		for _, e := range s.agentEvents() {
			if strings.Contains(e, want) {
				return
			}
		}
		time.Sleep(200 * time.Millisecond) // polling an outside process, not synchronising
	}
	s.t.Fatalf("the agent said nothing with %q within two minutes", want)
}

// assertOnceInOrder checks that every event's first line appears in the
// chat output as often as the agent said it, and in the agent's order.
func assertOnceInOrder(t *testing.T, events, output []string) {
	t.Helper()
	want := map[string]int{}
	for _, e := range events {
		want[e]++
	}
	got := map[string]int{}
	var seq []string
	for _, l := range output {
		if _, ok := want[l]; ok {
			got[l]++
			seq = append(seq, l)
		}
	}
	for e, n := range want {
		if got[e] != n {
			t.Errorf("event %q: said %d times by the agent, shown %d times", e, n, got[e])
		}
	}
	for i := range min(len(seq), len(events)) {
		if seq[i] != events[i] {
			t.Fatalf("event %d shown out of order: %q, the agent said %q", i, seq[i], events[i])
		}
	}
}

// acrossKill joins the chat output of a bot killed (before) and of the
// one started after it (after). The event the killed bot was showing as
// the kill landed (shown, its cursor not yet moved) is shown again first
// by the next one (README, "Neither side needs the other to be up"): that
// one repeat is dropped; any other is left for assertOnceInOrder.
func acrossKill(events, before, after []string) []string {
	isEvent := map[string]bool{}
	for _, e := range events {
		isEvent[e] = true
	}
	last := ""
	for i := len(before) - 1; i >= 0 && last == ""; i-- {
		if isEvent[before[i]] {
			last = before[i]
		}
	}
	out := slices.Clone(before)
	for i, l := range after {
		if isEvent[l] {
			if l == last {
				return append(append(out, after[:i]...), after[i+1:]...)
			}
			break
		}
	}
	return append(out, after...)
}

// collect drains what a process printed so far into lines (up to the line
// with until).
func (p *proc) collect(until string) []string {
	p.t.Helper()
	var out []string
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return out
			}
			out = append(out, l)
			if strings.Contains(l, until) {
				return out
			}
		case <-deadline:
			p.t.Fatalf("no line with %q within two minutes; saw:\n%s", until, strings.Join(out, "\n"))
		}
	}
}

// The link cut both ways mid-deploy: answers given meanwhile are refused
// with a sentence, status says since when the agent is unreachable, and
// once the link is back the bot says so, asks the pending question again
// and the deploy finishes.
func TestAgentLinkCut(t *testing.T) {
	s := newSplit(t)
	s.startAgent()
	px := newProxy(t, s.agentAddr)
	s.botHTTP = freePort(t)
	s.writeBotConfig(px.Addr(), "")
	bot := s.startBot()
	bot.say("jouncebot: deploy --force 445113 trying the agent")
	bot.expect("Deploy 1 started by amir")
	bot.expect("synced to the testservers.")

	px.Cut()
	bot.expect("I lost the link to the deploy agent at ")
	bot.say("tested ok")
	l := bot.expect("The deploy agent is unreachable since ")
	if !strings.Contains(l, "your answer was not recorded: say it again once the agent is back.") {
		t.Errorf("tested ok while unreachable: %q", l)
	}
	bot.say("jouncebot: status")
	l = bot.expect("The deploy agent is unreachable since ")
	if !strings.Contains(l, "I cannot say what the current deploy is doing.") {
		t.Errorf("status while unreachable: %q", l)
	}
	// /readyz and the status page say so too.
	if code, body := httpGet(t, "http://"+s.botHTTP+"/readyz?verbose"); code != http.StatusServiceUnavailable || !strings.Contains(body, "the deploy agent is unreachable since ") {
		t.Errorf("/readyz with the agent unreachable: %d\n%s", code, body)
	}
	if _, body := httpGet(t, "http://"+s.botHTTP+"/"); !strings.Contains(body, "the deploy agent is unreachable since ") {
		t.Errorf("the status page does not say the agent is unreachable:\n%s", body)
	}
	px.Restore()
	bot.expect("The deploy agent is reachable again (it was unreachable since ")
	if code, body := httpGet(t, "http://"+s.botHTTP+"/readyz?verbose"); code != http.StatusOK {
		t.Errorf("/readyz with the agent back: %d\n%s", code, body)
	}
	bot.expect("(asked again after a reconnect)")
	bot.say("tested ok")
	bot.expect("deploy 1 is done: 445113.")
}

// The chat bot SIGKILLed mid-deploy: the deploy goes on on the agent;
// restarted, the bot shows every event once, in order; killed again after
// the testing question, it asks the question again after the restart and
// passes on the answer.
func TestAgentBotKilledMidDeploy(t *testing.T) {
	s := newSplit(t)
	s.startAgent()
	bot := s.startBotDebug()
	bot.say("jouncebot: deploy --force 445113 trying the agent")
	first := bot.collect("Deploy 1 started by amir")
	// Killed once an event is marked delivered; it may have sent more
	// before the kill landed (rest).
	first = append(first, bot.collect(`msg="event delivered"`)...)
	bot.kill()
	first = append(first, bot.rest()...)

	s.waitEvent("synced to the testservers.") // the deploy went on without the bot
	bot = s.startBotDebug()
	second := bot.collect("synced to the testservers.")
	second = append(second, bot.collect(`msg="event delivered"`)...)
	bot.kill()
	second = append(second, bot.rest()...)

	bot = s.startBotDebug()
	third := bot.collect("(asked again after a reconnect)")
	bot.say("tested ok")
	third = append(third, bot.collect("deploy 1 is done: 445113.")...)
	ev := s.agentEvents()
	out := acrossKill(ev, acrossKill(ev, first, second), third)
	assertOnceInOrder(t, ev, out)
	if t.Failed() {
		t.Logf("agent events:\n%s\n\nchat output:\n%s", strings.Join(ev, "\n"), strings.Join(out, "\n"))
	}
}

// The agent SIGKILLed mid-sync and restarted: the deploy resumes on the
// agent, and the bot, which kept running, says the agent is back and
// shows the deploy finishing.
func TestAgentKilledMidSync(t *testing.T) {
	s := newSplit(t)
	agent := s.startAgent()
	bot := s.startBot()
	bot.say("jouncebot: deploy --force 445113 trying the agent")
	bot.expect("synced to the testservers.")
	bot.say("tested ok")
	// Killed as soon as the first canary is synced, the production
	// hosts still to come.
	agent.expect("stage=canaries host=")
	agent.kill()
	bot.expect("I lost the link to the deploy agent at ")

	s.startAgent()
	bot.expect("The deploy agent is reachable again (it was unreachable since ")
	bot.expect("deploy 1 is done: 445113.")
}

// httpGet fetches url and returns the status code and body.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// copyFile copies src to dst.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, string(b))
}

// deployThrough runs a whole sandbox deploy of change through the bot and
// returns what the bot printed from the command on.
func (s *split) deployThrough(change string) []string {
	s.t.Helper()
	s.bot.say("jouncebot: deploy --force " + change + " trying the agent")
	out := s.bot.collect("synced to the testservers.")
	s.bot.say("tested ok")
	return append(out, s.bot.collect("is done: "+change+".")...)
}

// salCount asks the bot how many SAL entries mention change.
func (s *split) salCount(change string) string {
	s.t.Helper()
	s.bot.say("jouncebot: sal " + change)
	return s.bot.expect("Server Admin Log entries")
}

// The agent's database restored from an older copy: the bot says so,
// shows the deploys made after the restore and writes their SAL lines
// (their sequence numbers are ones it had seen before the restore), and
// writes none of the earlier ones again.
func TestAgentDatabaseRestoredFromOlderCopy(t *testing.T) {
	s := newSplit(t)
	s.startAgent()
	bot := s.startBot()
	bot.say("jouncebot: status")
	bot.expect("No deploy in progress.")
	dbFile := filepath.Join(s.dir, "agent-data", "jouncebot.db")
	s.agent.kill()
	copyFile(t, dbFile, filepath.Join(s.dir, "backup.db"))
	s.startAgent()
	bot.expect("The deploy agent is reachable again")
	s.deployThrough("445113")
	if l := s.salCount("445113"); !strings.Contains(l, "The 3 newest of 4 matching") {
		t.Fatalf("before the restore: %q", l)
	}

	s.agent.kill()
	copyFile(t, filepath.Join(s.dir, "backup.db"), dbFile)
	s.startAgent()
	l := bot.expect("The deploy agent's database is an older copy than what I have shown")
	if !strings.Contains(l, "Now: No deploy in progress.") {
		t.Errorf("the notice does not say what the agent is doing: %q", l)
	}
	out := s.deployThrough("445115")
	if !slices.ContainsFunc(out, func(l string) bool { return strings.Contains(l, "Deploy 1 started by amir") }) {
		t.Errorf("the deploy after the restore was not shown:\n%s", strings.Join(out, "\n"))
	}
	if l := s.salCount("445115"); !strings.Contains(l, "The 3 newest of 4 matching") {
		t.Errorf("SAL lines of the deploy after the restore: %q", l)
	}
	if l := s.salCount("445113"); !strings.Contains(l, "The 3 newest of 4 matching") {
		t.Errorf("SAL lines of the deploy before the restore: %q", l)
	}
}

// Renaming the agent in the bot's configuration, and then starting the bot
// on a fresh database, replay nothing: no old event in chat, no old SAL
// line written again.
func TestAgentRenamedOrFreshChatDatabaseReplaysNothing(t *testing.T) {
	s := newSplit(t)
	s.startAgent()
	s.startBotDebug()
	s.deployThrough("445113")
	// Killed once the last event is delivered: a bot killed between
	// showing an event and moving its cursor shows it again (README).
	s.bot.collect(`kind=done`)
	s.bot.kill()

	path := filepath.Join(s.dir, "bot.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, strings.Replace(string(b), "  - name: test\n", "  - name: eqiad\n", 1))
	s.startBotDebug()
	// The next deploy's first line comes after anything replayed.
	out := s.deployThrough("445115")
	out = append(out, s.bot.collect(`kind=done`)...)
	for _, l := range out {
		if strings.Contains(l, "445113") {
			t.Errorf("the renamed agent's old events were shown again: %q", l)
		}
	}
	if l := s.salCount("445113"); !strings.Contains(l, "The 3 newest of 4 matching") {
		t.Errorf("SAL lines after the rename: %q", l)
	}
	s.bot.kill()

	if err := os.RemoveAll(filepath.Join(s.dir, "bot-data")); err != nil {
		t.Fatal(err)
	}
	s.startBot()
	out = s.deployThrough("445116")
	for _, l := range out {
		if strings.Contains(l, "445113") || strings.Contains(l, "445115") {
			t.Errorf("a fresh chat database was shown old events: %q", l)
		}
	}
	if l := s.salCount("445115"); !strings.Contains(l, "No Server Admin Log entries match") {
		t.Errorf("a fresh chat database got old SAL lines: %q", l)
	}
}

// The agent killed and restarted while its deploy waits for "tested ok":
// the bot asks the question once (the resumed deploy's question and the
// stream's reminder are one question), and the answer finishes the deploy.
// The race is made to happen every time: the restarted agent holds its
// unfinished deploy before resuming it (a test pause point) until the bot,
// reconnected only then, has shown the stream's reminder; the resumed
// deploy then says where it resumes and asks again.
func TestAgentRestartAsksTheQuestionOnce(t *testing.T) {
	s := newSplit(t)
	s.startAgent()
	px := newProxy(t, s.agentAddr)
	s.writeBotConfig(px.Addr(), "")
	bot := s.startBot()
	bot.say("jouncebot: deploy --force 445113 trying the agent")
	bot.expect("synced to the testservers. Please test it there")
	px.Cut()
	s.agent.kill()
	bot.expect("I lost the link to the deploy agent at ")
	s.agent = s.startEnv([]string{"JOUNCEBOT_TEST_PAUSE_AT=resume"}, "agent", "--config", "agent.yaml")
	s.agent.expect("test pause point resume reached")
	px.Restore()
	out := bot.collect("(asked again after a reconnect)")
	s.agent.say("") // the deploy resumes and asks again
	s.waitEvent("(asked again after a restart)")
	bot.say("tested ok")
	out = append(out, bot.collect("deploy 1 is done: 445113.")...)
	n := 0
	for _, l := range out {
		if strings.Contains(l, "Please test it there") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the question was asked %d times after the restart:\n%s", n, strings.Join(out, "\n"))
	}
}

// A bot facing an agent whose certificate it cannot trust says why, in
// chat, in status and in /readyz: not the configured CA, another name,
// expired.
func TestAgentCertificateRefusedSaysWhy(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name, want string
		issue      func(ca, other *pki) (cert, key string)
	}{
		{"another CA", "its certificate is not signed by the CA in agents[].ca", func(_, other *pki) (string, string) {
			return other.issue(t, "agent", true, now.Add(-time.Hour), now.Add(time.Hour))
		}},
		{"another name", "its certificate does not carry the name agent (agents[].server_name)", func(ca, _ *pki) (string, string) {
			return ca.issue(t, "someone-else", true, now.Add(-time.Hour), now.Add(time.Hour))
		}},
		{"expired", "its certificate has expired or is not valid yet", func(ca, _ *pki) (string, string) {
			return ca.issue(t, "agent-expired", true, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ca, other := newPKI(t, dir, "test"), newPKI(t, dir, "other")
			acert, akey := tc.issue(ca, other)
			bcert, bkey := ca.issue(t, "chatbot", false, now.Add(-time.Hour), now.Add(time.Hour))
			s := newSplitWith(t, dir, ca, ca.CA, acert, akey, bcert, bkey)
			s.botHTTP = freePort(t)
			s.writeBotConfig(s.agentAddr, "")
			s.startAgent()
			bot := s.startBot()
			if l := bot.expect("I lost the link to the deploy agent at "); !strings.Contains(l, tc.want) {
				t.Errorf("chat: %q does not say %q", l, tc.want)
			}
			bot.say("jouncebot: status")
			if l := bot.expect("The deploy agent is unreachable since "); !strings.Contains(l, tc.want) {
				t.Errorf("status: %q does not say %q", l, tc.want)
			}
			if code, body := httpGet(t, "http://"+s.botHTTP+"/readyz?verbose"); code != http.StatusServiceUnavailable || !strings.Contains(body, tc.want) {
				t.Errorf("/readyz: %d\n%s", code, body)
			}
		})
	}
}

// The agent's database replaced by a new one: the bot says its log changed
// and what the agent is doing now, and shows the new log's deploys.
func TestAgentDatabaseReplaced(t *testing.T) {
	s := newSplit(t)
	s.startAgent()
	bot := s.startBot()
	s.deployThrough("445113")
	s.agent.kill()
	if err := os.Remove(filepath.Join(s.dir, "agent-data", "jouncebot.db")); err != nil {
		t.Fatal(err)
	}
	s.startAgent()
	l := bot.expect("The deploy agent's event log is not the one I followed")
	if !strings.Contains(l, "Now: No deploy in progress.") {
		t.Errorf("the notice does not say what the agent is doing: %q", l)
	}
	out := s.deployThrough("445115")
	if !slices.ContainsFunc(out, func(l string) bool { return strings.Contains(l, "Deploy 1 started by amir") }) {
		t.Errorf("the new log's deploy was not shown:\n%s", strings.Join(out, "\n"))
	}
	if l := s.salCount("445115"); !strings.Contains(l, "The 3 newest of 4 matching") {
		t.Errorf("SAL lines of the new log: %q", l)
	}
}

// botCursor reads the cursor the (stopped) bot keeps in its database, as
// the query of the events stream it would open.
func (s *split) botCursor() url.Values {
	s.t.Helper()
	db, err := bolt.Open(filepath.Join(s.dir, "bot-data", "jouncebot.db"), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Minute})
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	var cur struct {
		Log  string
		Seq  uint64
		Runs []string
	}
	err = db.View(func(tx *bolt.Tx) error {
		return json.Unmarshal(tx.Bucket(store.AgentCursor).Get([]byte("cursor")), &cur)
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return url.Values{"log": {cur.Log}, "after": {strconv.FormatUint(cur.Seq, 10)}, "runs": {strings.Join(cur.Runs, ",")}}
}

// The agent's database restored from an older copy, and the bot's first
// stream after it broken before the bot stored its new cursor (the agent
// had already given its log a new id): the bot, back, still goes on after
// the last event both share. Before, its cursor's old log id was taken for
// a replaced database, and the deploy started meanwhile was never shown.
func TestAgentRestoredLogSurvivesABrokenFirstStream(t *testing.T) {
	s := newSplit(t)
	s.startAgent()
	bot := s.startBotDebug()
	bot.say("jouncebot: status")
	bot.expect("No deploy in progress.")
	dbFile := filepath.Join(s.dir, "agent-data", "jouncebot.db")
	s.agent.kill()
	copyFile(t, dbFile, filepath.Join(s.dir, "backup.db"))
	s.startAgent()
	bot.expect("The deploy agent is reachable again")
	s.deployThrough("445113")
	bot.collect(`kind=done`)
	bot.kill()

	s.agent.kill()
	copyFile(t, filepath.Join(s.dir, "backup.db"), dbFile)
	s.startAgent()
	// The bot's connection: the agent reads its cursor and answers, and
	// the link breaks before the bot has stored where to go on.
	hc := s.client(s.botCert, s.botKey)
	resp, err := hc.Get("https://" + s.agentAddr + "/v1/events?follow=false&" + s.botCursor().Encode())
	if err != nil {
		t.Fatal(err)
	}
	if l, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || !strings.HasPrefix(l, ":") {
		t.Fatalf("first line of the stream: %q %v", l, err)
	}
	resp.Body.Close()
	// A deploy started while the bot is away.
	out, err := s.post(hc, "start", `{"caller":{"kind":"console","network":"console"},"request":{"Changes":["445115"],"By":{"Name":"Amir"},"Force":true,"Reason":"while the bot is away"}}`)
	if err != nil || out["error"] != nil {
		t.Fatalf("start: %v %v", out, err)
	}
	bot = s.startBot()
	bot.expect("The deploy agent's database is an older copy than what I have shown")
	bot.expect("Deploy 1 started by")
}

// After a restore is said once, a reconnect before any new event (here
// the agent restarted again) does not say it again: the bot's cursor is
// in the restored log from then on, not in the runs the copy lacks.
func TestAgentRestoreSaidOnce(t *testing.T) {
	s := newSplit(t)
	s.startAgent()
	bot := s.startBot()
	bot.say("jouncebot: status")
	bot.expect("No deploy in progress.")
	dbFile := filepath.Join(s.dir, "agent-data", "jouncebot.db")
	s.agent.kill()
	copyFile(t, dbFile, filepath.Join(s.dir, "backup.db"))
	s.startAgent()
	bot.expect("The deploy agent is reachable again")
	s.deployThrough("445113")

	s.agent.kill()
	copyFile(t, filepath.Join(s.dir, "backup.db"), dbFile)
	s.startAgent()
	bot.expect("The deploy agent's database is an older copy than what I have shown")
	s.agent.kill()
	s.startAgent()
	out := bot.collect("The deploy agent is reachable again")
	out = append(out, s.deployThrough("445115")...)
	for _, l := range out {
		if strings.Contains(l, "older copy") || strings.Contains(l, "not the one I followed") {
			t.Errorf("said again after a plain restart: %q", l)
		}
	}
}
