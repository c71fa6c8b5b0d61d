package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
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
		case line == "event: pending":
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
	out := bot.collect("Deploy 1 started by amir")
	// Killed once the event is marked delivered: the next one would be
	// the next event.
	out = append(out, bot.collect(`msg="event delivered"`)...)
	bot.kill()

	s.waitEvent("synced to the testservers.") // the deploy went on without the bot
	bot = s.startBotDebug()
	out = append(out, bot.collect("synced to the testservers.")...)
	out = append(out, bot.collect(`msg="event delivered"`)...)
	bot.kill()

	bot = s.startBotDebug()
	out = append(out, bot.collect("(asked again after a reconnect)")...)
	bot.say("tested ok")
	out = append(out, bot.collect("deploy 1 is done: 445113.")...)
	ev := s.agentEvents()
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
