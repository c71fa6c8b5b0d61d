package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jouncebot/jouncebot/internal/testenv"
)

// binary is jouncebot built once per test run, for tests that run it as a
// real process (two of them, for the deploy agent).
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func buildBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "jouncebot-bin")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "jouncebot")
		out, err := exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// pki is a test certificate authority and the files it issued.
type pki struct {
	dir  string
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	CA   string // PEM file of the CA certificate
}

func newPKI(t *testing.T, dir, name string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := &pki{dir: dir, key: key, cert: cert, CA: filepath.Join(dir, name+"-ca.pem")}
	writePEM(t, p.CA, "CERTIFICATE", der)
	return p
}

// issue writes name.pem and name-key.pem, valid from notBefore to notAfter,
// for a server (127.0.0.1, localhost) or a client.
func (p *pki) issue(t *testing.T, name string, server bool, notBefore, notAfter time.Time) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = append(tmpl.DNSNames, "localhost")
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &k.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+"-key.pem")
	writePEM(t, cert, "CERTIFICATE", der)
	writePEM(t, key, "EC PRIVATE KEY", kb)
	return cert, key
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	addr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// split is a deploy agent and a chat bot, each its own process, with the
// certificates and configuration files a test made for them.
type split struct {
	t         *testing.T
	dir       string
	ca        *pki
	caFile    string
	agentAddr string
	botCert   string
	botKey    string
	agent     *proc
	bot       *proc
	botHTTP   string // the bot's web server address, "" for none
}

const people = `people:
  - name: Amir
    irc_account: amir
    gerrit: amir
    roles: [deployer]
  - name: Alice
    irc_account: alice
    gerrit: alice
  - name: Mallory
    irc_account: mallory
`

func newSplit(t *testing.T) *split {
	t.Helper()
	dir := t.TempDir()
	ca := newPKI(t, dir, "test")
	now := time.Now()
	acert, akey := ca.issue(t, "agent", true, now.Add(-time.Hour), now.Add(24*time.Hour))
	bcert, bkey := ca.issue(t, "chatbot", false, now.Add(-time.Hour), now.Add(24*time.Hour))
	return newSplitWith(t, dir, ca, ca.CA, acert, akey, bcert, bkey)
}

// newSplitWith writes the two configuration files for the given
// certificate files.
func newSplitWith(t *testing.T, dir string, ca *pki, caFile, acert, akey, bcert, bkey string) *split {
	t.Helper()
	s := &split{t: t, dir: dir, ca: ca, caFile: caFile, agentAddr: freePort(t), botCert: bcert, botKey: bkey}
	writeFile(t, filepath.Join(dir, "agent.yaml"), fmt.Sprintf(`bot:
  nick: jouncebot
  data_dir: agent-data
agent:
  listen: %s
  ca: %s
  cert: %s
  key: %s
  client_name: chatbot
  console_person: Amir
  networks:
    - {name: libera, type: irc}
    - {name: matrix, type: matrix}
deploy:
  sandbox: true
%s`, s.agentAddr, caFile, acert, akey, people))
	s.writeBotConfig(s.agentAddr, "")
	return s
}

// writeBotConfig writes bot.yaml naming the agent at addr; extra is added
// to the deploy section.
func (s *split) writeBotConfig(addr, deploy string) string {
	path := filepath.Join(s.dir, "bot.yaml")
	web := ""
	if s.botHTTP != "" {
		web = "  http: " + s.botHTTP + "\n  base_url: http://" + s.botHTTP + "\n"
	}
	writeFile(s.t, path, fmt.Sprintf(`bot:
  nick: jouncebot
  data_dir: bot-data
  console_person: Amir
%sagents:
  - name: test
    address: %s
    ca: %s
    cert: %s
    key: %s
    server_name: agent
sal:
  projects:
    - name: production
%s%s`, web, addr, s.caFile, s.botCert, s.botKey, deploy, people))
	return path
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// proc is a running jouncebot process whose output lines the test reads.
type proc struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	done  chan struct{}
}

func (s *split) start(args ...string) *proc {
	s.t.Helper()
	return s.startEnv(nil, args...)
}

// startEnv starts jouncebot with env added to the test's environment.
func (s *split) startEnv(env []string, args ...string) *proc {
	s.t.Helper()
	cmd := exec.Command(buildBinary(s.t), args...)
	cmd.Dir = s.dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	p := &proc{t: s.t, cmd: cmd, in: in, lines: make(chan string, 10000), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		cmd.Wait()
	}()
	s.t.Cleanup(p.kill)
	return p
}

func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// rest returns, once the process ended, the lines it wrote that were not
// read yet (a killed bot may have sent more lines than a test waited for).
func (p *proc) rest() []string {
	var out []string
	for l := range p.lines {
		out = append(out, l)
	}
	return out
}

func (p *proc) say(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.in, line+"\n"); err != nil {
		p.t.Fatal(err)
	}
}

// expect reads lines until one contains want, failing after two minutes.
func (p *proc) expect(want string) string {
	p.t.Helper()
	deadline := time.After(2 * time.Minute)
	var seen []string
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("process ended waiting for %q; saw:\n%s", want, strings.Join(seen, "\n"))
			}
			if strings.Contains(l, want) {
				return l
			}
			seen = append(seen, l)
		case <-deadline:
			p.t.Fatalf("no line with %q within two minutes; saw:\n%s", want, strings.Join(seen, "\n"))
		}
	}
}

func (s *split) startAgent() *proc {
	s.t.Helper()
	s.agent = s.start("agent", "--config", "agent.yaml")
	s.agent.expect("deploy agent listening")
	return s.agent
}

func (s *split) startBot() *proc {
	s.t.Helper()
	s.bot = s.start("--config", "bot.yaml", "--log-level", "warn")
	return s.bot
}

// startBotDebug starts the bot logging each event it delivered, so a test
// can kill it at a known point.
func (s *split) startBotDebug() *proc {
	s.t.Helper()
	s.bot = s.start("--config", "bot.yaml", "--log-level", "debug")
	return s.bot
}

// client is an HTTPS client of the agent with the given certificate (none
// when cert is "").
func (s *split) client(cert, key string) *http.Client {
	s.t.Helper()
	pool := x509.NewCertPool()
	b, _ := os.ReadFile(s.caFile)
	pool.AppendCertsFromPEM(b)
	tc := &tls.Config{RootCAs: pool, ServerName: "agent"}
	if cert != "" {
		c, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			s.t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{c}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: time.Minute}
}

func (s *split) post(hc *http.Client, method, body string) (map[string]any, error) {
	resp, err := hc.Post("https://"+s.agentAddr+"/v1/"+method, "application/json", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// The agent accepts only clients with a certificate from its CA, valid
// now, naming the pinned client; everyone else fails the handshake.
func TestAgentRefusesClientsWithoutAValidCertificate(t *testing.T) {
	s := newSplit(t)
	s.startAgent()
	now := time.Now()
	other := newPKI(t, s.dir, "other")
	otherCert, otherKey := other.issue(t, "chatbot-other", false, now.Add(-time.Hour), now.Add(time.Hour))
	expCert, expKey := s.ca.issue(t, "chatbot-expired", false, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	wrongCert, wrongKey := s.ca.issue(t, "not-the-bot", false, now.Add(-time.Hour), now.Add(time.Hour))
	for _, tc := range []struct{ name, cert, key string }{
		{"no certificate", "", ""},
		{"another CA", otherCert, otherKey},
		{"expired", expCert, expKey},
		{"not the pinned name", wrongCert, wrongKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.post(s.client(tc.cert, tc.key), "status", "{}"); err == nil {
				t.Fatal("the agent answered")
			}
		})
	}
	if _, err := s.post(s.client(s.botCert, s.botKey), "status", "{}"); err != nil {
		t.Fatalf("the chat bot's certificate is refused: %v", err)
	}
	// And the bot refuses an agent whose certificate is from another CA:
	// the same refusal from the other side.
	pool := x509.NewCertPool()
	b, _ := os.ReadFile(other.CA)
	pool.AppendCertsFromPEM(b)
	c, _ := tls.LoadX509KeyPair(s.botCert, s.botKey)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "agent", Certificates: []tls.Certificate{c}}}}
	if _, err := s.post(hc, "status", "{}"); err == nil {
		t.Fatal("a client trusting another CA accepted the agent")
	}
}

// A compromised chat host (simulated: the API called directly with the
// chat bot's valid certificate) cannot make the agent act for someone its
// own people list does not let act, whatever it claims.
func TestAgentDecidesWhoMayDeploy(t *testing.T) {
	s := newSplit(t)
	agent := s.startAgent()
	hc := s.client(s.botCert, s.botKey)
	for _, tc := range []struct{ name, body, want string }{
		{"claimed deployer without the role", `{"caller":{"kind":"irc","network":"libera","account":"mallory"},"request":{"Changes":["445113"],"By":{"Name":"Mallory","Deployer":true,"Admin":true},"InWindow":true}}`,
			"The deploy agent refused: Mallory does not have the deployer role."},
		{"account of someone else", `{"caller":{"kind":"irc","network":"libera","account":"mallory"},"request":{"Changes":["445113"],"By":{"Name":"Amir","Deployer":true},"InWindow":true}}`,
			"The deploy agent refused: the account belongs to Mallory, not Amir."},
		{"unknown account", `{"caller":{"kind":"matrix","network":"matrix","account":"@eve:example.org"},"request":{"Changes":["445113"],"By":{"Name":"Eve","Deployer":true},"InWindow":true}}`,
			"The deploy agent refused: it does not know Eve (Matrix user @eve:example.org)."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.post(hc, "start", tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if out["error"] != tc.want || out["code"] != "refused" {
				t.Fatalf("got %v, want error %q", out, tc.want)
			}
		})
	}
	agent.expect("refused: no deployer role in the agent's people list")
	out, err := s.post(hc, "status", "{}")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := out["status"].(map[string]any); st["Lock"] != nil {
		t.Fatalf("a refused request took the deploy lock: %v", out)
	}
}

// The agent takes a caller's identity only from its own configuration: an
// account on a network it lists with that network's kind, or the console
// where it allows the console. A request naming a deployer without such an
// identity is refused (a stolen bot certificate names whom it likes), the
// client certificate's name is pinned even when agent.client_name is not
// set, and every request and decision is in the audit log.
func TestAgentRefusesForgedCallers(t *testing.T) {
	s := newSplit(t)
	cfg := filepath.Join(s.dir, "agent.yaml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfg, strings.NewReplacer("  client_name: chatbot\n", "", "  console_person: Amir\n", "").Replace(string(b)))
	agent := s.startAgent()
	hc := s.client(s.botCert, s.botKey)
	// The agent has no windows: it judges the deploy outside any window
	// whatever InWindow says, so the request is forced with a reason.
	const start = `{"caller":%s,"request":{"Changes":["445113"],"By":{"Name":"Amir","Deployer":true},"InWindow":true,"Force":true,"Reason":"the identity test"}}`
	for _, tc := range []struct{ name, caller, want string }{
		{"no kind, a bare name", `{}`,
			"The deploy agent refused: it does not know Amir (the request names no network and account; the agent identifies people only by account, never by name)."},
		{"console where the agent allows none", `{"kind":"console","network":"console"}`,
			"The deploy agent refused: it does not know Amir (the agent takes no requests from the chat bot's console: agent.console_person is not set)."},
		{"IRC account on a network the agent does not list", `{"kind":"irc","network":"elsewhere","account":"amir"}`,
			`The deploy agent refused: it does not know Amir (network "elsewhere" is not in the agent's agent.networks).`},
		{"IRC account on a Matrix network", `{"kind":"irc","network":"matrix","account":"amir"}`,
			`The deploy agent refused: it does not know Amir (network "matrix" is a matrix network in the agent's agent.networks, not irc).`},
		{"unknown kind", `{"kind":"telegram","network":"libera","account":"amir"}`,
			`The deploy agent refused: it does not know Amir (unknown network kind "telegram").`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.post(hc, "start", fmt.Sprintf(start, tc.caller))
			if err != nil {
				t.Fatal(err)
			}
			if out["error"] != tc.want || out["code"] != "refused" {
				t.Fatalf("got %v, want error %q", out, tc.want)
			}
		})
	}
	out, err := s.post(hc, "status", "{}")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := out["status"].(map[string]any); st["Lock"] != nil {
		t.Fatalf("a forged caller took the deploy lock: %v", out)
	}
	// The client certificate's name is pinned by default.
	now := time.Now()
	wrongCert, wrongKey := s.ca.issue(t, "not-the-bot", false, now.Add(-time.Hour), now.Add(time.Hour))
	if _, err := s.post(s.client(wrongCert, wrongKey), "status", "{}"); err == nil {
		t.Fatal("without agent.client_name the agent answered a certificate not named chatbot")
	}
	// The real account on a listed network is the deployer.
	out, err = s.post(hc, "start", fmt.Sprintf(start, `{"kind":"irc","network":"libera","account":"amir"}`))
	if err != nil || out["error"] != nil || out["id"] != "1" {
		t.Fatalf("Amir's own account: %v %v", out, err)
	}
	agent.expect("allowed")
	// Every request and decision is in the audit log, with the client
	// certificate's name.
	audit, err := os.ReadFile(filepath.Join(s.dir, "agent-data", "agent-audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(audit)), "\n")
	var refused, allowed, ok int
	for _, l := range lines {
		var a struct{ Method, Client, Decision, Outcome, Person string }
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		if a.Client != "chatbot" && a.Decision != "" {
			t.Errorf("audit line without the client certificate's name: %s", l)
		}
		switch {
		case a.Method == "start" && a.Decision == "refused":
			refused++
		case a.Method == "start" && a.Decision == "allowed" && a.Person == "Amir":
			allowed++
		case a.Method == "start" && a.Outcome == "ok":
			ok++
		}
	}
	if refused != 5 || allowed != 1 || ok != 1 {
		t.Errorf("audit log: %d refused, %d allowed, %d started starts; want 5, 1, 1:\n%s", refused, allowed, ok, audit)
	}
}

// A chat-side configuration that names an agent and still holds the
// Gerrit password is refused, saying the password belongs on the agent.
func TestChatConfigWithGerritPasswordRefused(t *testing.T) {
	s := newSplit(t)
	path := s.writeBotConfig(s.agentAddr, "deploy:\n  gerrit:\n    url: https://gerrit.example.org/r/\n    username: bot\n    password:\n      env: GERRIT_PASSWORD\n")
	cmd := exec.Command(buildBinary(t), "check-config", path)
	var errs bytes.Buffer
	cmd.Stderr = &errs
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); err == nil || code != exitConfig {
		t.Fatalf("exit code %d (%v), want %d", code, err, exitConfig)
	}
	if !strings.Contains(errs.String(), "deploy.gerrit.password: the Gerrit password belongs in the deploy agent's configuration, not the chat bot's") {
		t.Fatalf("stderr does not say where the password belongs:\n%s", errs.String())
	}
	// Without it, check-config says deploys run on the agent.
	path = s.writeBotConfig(s.agentAddr, "")
	out, err := exec.Command(buildBinary(t), "check-config", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Deploy agent test at "+s.agentAddr+" (mutual TLS): deploys run there, not in this process.") {
		t.Fatalf("check-config: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Deploys: on the deploy agent test at "+s.agentAddr+"\n") || strings.Contains(string(out), "Deploys: off") {
		t.Fatalf("check-config does not say deploys go to the agent:\n%s", out)
	}
	out, err = exec.Command(buildBinary(t), "check-config", filepath.Join(s.dir, "agent.yaml")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "accepting only the client certificate named chatbot.") {
		t.Fatalf("check-config agent.yaml: %v\n%s", err, out)
	}
}

// A whole sandbox deploy through the agent: the chat bot's console asks,
// the agent (another process) deploys, the bot shows its progress and
// passes on "tested ok".
func TestSandboxDeployThroughAgent(t *testing.T) {
	s := newSplit(t)
	s.startAgent()
	bot := s.startBot()
	bot.say("jouncebot: status")
	bot.expect("No deploy in progress.")
	bot.say("jouncebot: deploy --force 445113 trying the agent")
	bot.expect("Deploy 1 started by amir")
	bot.expect("445113 merged.")
	bot.expect("synced to the testservers.")
	bot.say("tested ok")
	bot.expect("production: synced 5/5 hosts")
	bot.expect("deploy 1 is done: 445113.")
	// The agent's SAL lines are kept by the chat side's Server Admin Log.
	bot.say("jouncebot: sal 445113")
	bot.expect("The 3 newest of 4 matching Server Admin Log entries (all: /sal?q=445113)")
}

// The README's certificate script makes certificates the agent and the
// bot accept.
func TestAgentCertsScript(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if out, err := exec.Command("scripts/agent-certs.sh", certs, "agent").CombinedOutput(); err != nil {
		t.Fatalf("scripts/agent-certs.sh: %v\n%s", err, out)
	}
	f := func(name string) string { return filepath.Join(certs, name) }
	s := newSplitWith(t, dir, nil, f("ca.pem"), f("agent.pem"), f("agent-key.pem"), f("chatbot.pem"), f("chatbot-key.pem"))
	s.startAgent()
	bot := s.startBot()
	bot.say("jouncebot: status")
	bot.expect("No deploy in progress.")
}

// A request the agent cannot read (an unknown method, a body that is not
// JSON or is too large) is refused, and the refusal is in the audit log
// like every other: a stolen certificate probing the agent leaves a trace.
func TestAgentAuditsUnreadableRequests(t *testing.T) {
	s := newSplit(t)
	s.startAgent()
	hc := s.client(s.botCert, s.botKey)
	for _, tc := range []struct{ method, body string }{
		{"start", `{"caller":`},
		{"start", `{"caller":{"kind":"console"},"request":{"Changes":["` + strings.Repeat("4", 2<<20) + `"]}}`},
		{"rm-rf", `{}`},
	} {
		if _, err := s.post(hc, tc.method, tc.body); err == nil {
			t.Errorf("%s %.40s: the agent answered 200", tc.method, tc.body)
		}
	}
	audit, err := os.ReadFile(filepath.Join(s.dir, "agent-data", "agent-audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var refused []string
	for _, l := range strings.Split(strings.TrimSpace(string(audit)), "\n") {
		var a struct{ Method, Client, Decision, Error string }
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		if a.Decision == "refused" && a.Client == "chatbot" {
			refused = append(refused, a.Method+": "+a.Error)
		}
	}
	want := []string{"start: the request body is not a call", "start: the request body is not a call", "rm-rf: unknown method"}
	if d := cmp.Diff(want, refused); d != "" {
		t.Errorf("refusals in the audit log (-want +got):\n%s\n%s", d, audit)
	}
}

// An IRC account that only Unicode case folding makes equal to a
// deployer's ("ſam" is not "sam": services accounts fold ASCII letters
// only) is not that deployer.
func TestAgentIRCAccountsFoldASCIIOnly(t *testing.T) {
	s := newSplit(t)
	cfg := filepath.Join(s.dir, "agent.yaml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfg, string(b)+"  - name: Sam\n    irc_account: sam\n    roles: [deployer]\n  - name: Kim\n    irc_account: kim\n    roles: [deployer]\n")
	s.startAgent()
	hc := s.client(s.botCert, s.botKey)
	// abort needs the deployer role; deploy 42 does not exist.
	const abort = `{"caller":{"kind":"irc","network":"libera","account":%q},"id":"42","by":{"Name":%q}}`
	for _, tc := range []struct{ account, name string }{{"ſam", "Sam"}, {"\u212Aim", "Kim"}} {
		out, err := s.post(hc, "abort", fmt.Sprintf(abort, tc.account, tc.name))
		if err != nil {
			t.Fatal(err)
		}
		if out["code"] != "refused" {
			t.Errorf("account %q was taken for %s: %v", tc.account, tc.name, out)
		}
	}
	out, err := s.post(hc, "abort", fmt.Sprintf(abort, "SAM", "Sam"))
	if err != nil || out["code"] == "refused" {
		t.Errorf("SAM (ASCII case) is sam: %v %v", out, err)
	}
}

// readAudit returns the audit file's lines.
func (s *split) readAudit(name string) []map[string]any {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "agent-data", name))
	if err != nil {
		s.t.Fatal(err)
	}
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			s.t.Fatalf("audit line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// The audit log does not grow by a line per read: the bot's live status
// page reads the status every second while someone has it open, so reads
// of one method are written once a minute with how many were not written
// one by one; changes and refusals each have their line. And a rotated
// audit file (moved away, as logrotate does) is written anew at its path.
func TestAgentAuditLogStaysSmallAndRotates(t *testing.T) {
	s := newSplit(t)
	s.startAgent()
	hc := s.client(s.botCert, s.botKey)
	for range 50 {
		if _, err := s.post(hc, "status", "{}"); err != nil {
			t.Fatal(err)
		}
	}
	const abort = `{"caller":{"kind":"irc","network":"libera","account":"mallory"},"id":"42"}`
	if out, err := s.post(hc, "abort", abort); err != nil || out["code"] != "refused" {
		t.Fatalf("abort by mallory: %v %v", out, err)
	}
	lines := s.readAudit("agent-audit.jsonl")
	// One line a minute: 50 calls over ten minutes would be slow indeed.
	if len(lines) > 11 {
		t.Errorf("%d audit lines for 50 reads and a refusal, want one a minute", len(lines))
	}
	if last := lines[len(lines)-1]; last["method"] != "abort" || last["decision"] != "refused" {
		t.Errorf("the refusal is not the last line: %v", last)
	}

	dir := filepath.Join(s.dir, "agent-data")
	if err := os.Rename(filepath.Join(dir, "agent-audit.jsonl"), filepath.Join(dir, "agent-audit.jsonl.1")); err != nil {
		t.Fatal(err)
	}
	if out, err := s.post(hc, "abort", abort); err != nil || out["code"] != "refused" {
		t.Fatalf("abort by mallory: %v %v", out, err)
	}
	if lines := s.readAudit("agent-audit.jsonl"); len(lines) != 1 || lines[0]["method"] != "abort" {
		t.Errorf("after the rotation the audit file has %v", lines)
	}
	if n := len(s.readAudit("agent-audit.jsonl.1")); n != len(lines) {
		t.Errorf("the rotated file has %d lines, want the %d written before", n, len(lines))
	}
}

// Malformed numbers in a read do not panic the agent's handler: a
// negative count is none.
func TestAgentNegativeCountIsNone(t *testing.T) {
	s := newSplit(t)
	s.startAgent()
	hc := s.client(s.botCert, s.botKey)
	for _, method := range []string{"history", "estimate"} {
		out, err := s.post(hc, method, `{"n":-1}`)
		if err != nil || out["error"] != nil {
			t.Errorf("%s with n=-1: %v %v", method, out, err)
		}
	}
}

// Reading the event stream is a request like the others: it is in the
// audit log with the client certificate's name.
func TestAgentAuditsTheEventStream(t *testing.T) {
	s := newSplit(t)
	s.startAgent()
	s.agentEvents()
	found := false
	for _, l := range s.readAudit("agent-audit.jsonl") {
		if l["method"] == "events" && l["client"] == "chatbot" && l["decision"] == "allowed" {
			found = true
		}
	}
	if !found {
		t.Errorf("no audit line for the event stream")
	}
}
