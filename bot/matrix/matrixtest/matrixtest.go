// Package matrixtest runs a real Matrix homeserver (dendrite v0.13.8, SQLite
// in a temporary directory, federation off) for tests, and hands out users
// and logged-in mautrix clients on it.
//
// Any package's test can start one:
//
//	srv := matrixtest.Start(t)                  // stopped by t.Cleanup
//	bot := srv.CreateUser(t, "jouncebot", "bot-password")
//	alice := srv.Client(t, srv.CreateUser(t, "alice", "alice-password"))
//	w := matrixtest.Watch(t, alice)             // records what alice sees
//	room, _ := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
//	// … configure the bot with Homeserver: srv.URL, UserID: bot.ID, Rooms: room …
//	alice.SendText(ctx, room.RoomID, "jouncebot: nowandnext")
//	w.Wait(t, matrixtest.Message(room.RoomID, bot.ID, nil))
//
// Faults: srv.Proxy(t) puts a proxy in front of the server whose URL the
// client under test uses instead; SetDown(true) makes the homeserver
// unreachable, Limit answers chosen requests with M_LIMIT_EXCEEDED.
// WithRateLimit turns on dendrite's own rate limiting.
//
// srv.URL is a thin shield in front of dendrite that keeps a client's
// cancelled requests from reaching it (dendrite on SQLite wedges its sync
// database when a request is cancelled mid-query); srv.DendriteURL is
// dendrite itself.
//
// The binaries dendrite, create-account and generate-config are installed by
// scripts/install/matrix.sh into /usr/local/lib/jouncebot-test/bin (or
// $HOME/.cache/jouncebot/bin when that is not writable); Start also looks in
// $JOUNCEBOT_TEST_BIN and on PATH. When they are missing the test is skipped,
// unless JOUNCEBOT_TEST_SERVERS=required, which makes it fail. A server
// starts in about half a second.
package matrixtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/synapseadmin"

	"github.com/jouncebot/jouncebot/internal/testenv"
)

// Server is a running dendrite.
type Server struct {
	// URL is the client-server API base, e.g. http://127.0.0.1:40123. It
	// is a shield in front of dendrite: see shield.
	URL string
	// DendriteURL is dendrite's own address.
	DendriteURL string
	// ServerName is the server part of user ids ("localhost").
	ServerName string
	// Dir holds the configuration, databases and log.
	Dir string

	secret string
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// User is an account on the server.
type User struct {
	ID       id.UserID
	Name     string // localpart
	Password string
}

// Option changes how Start configures the server.
type Option func(*settings)

type settings struct {
	rateLimit *rateLimit
}

type rateLimit struct {
	threshold int
	cooloff   time.Duration
}

// WithRateLimit turns on dendrite's client rate limiting: after threshold
// requests in flight within cooloff, it answers M_LIMIT_EXCEEDED with
// retry_after_ms. CI defaults keep it off.
func WithRateLimit(threshold int, cooloff time.Duration) Option {
	return func(s *settings) { s.rateLimit = &rateLimit{threshold, cooloff} }
}

// Binaries is the list of programs the harness needs.
var Binaries = []string{"dendrite", "create-account", "generate-config"}

// BinDirs are the directories searched for the binaries, before PATH.
func BinDirs() []string {
	var dirs []string
	if d := os.Getenv("JOUNCEBOT_TEST_BIN"); d != "" {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, "/usr/local/lib/jouncebot-test/bin")
	if h, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(h, ".cache", "jouncebot", "bin"))
	}
	return dirs
}

// Find returns the path of one of the Binaries.
func Find(name string) (string, error) {
	for _, d := range BinDirs() {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found in %s or on PATH; run scripts/install/matrix.sh", name, strings.Join(BinDirs(), ", "))
	}
	return p, nil
}

func need(t testing.TB) map[string]string {
	t.Helper()
	paths := map[string]string{}
	for _, b := range Binaries {
		p, err := Find(b)
		if err != nil {
			testenv.Missing(t, fmt.Sprintf("matrixtest: %v", err))
		}
		paths[b] = p
	}
	return paths
}

// Start runs a fresh dendrite for the test and stops it in t.Cleanup.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var set settings
	for _, o := range opts {
		o(&set)
	}
	bins := need(t)
	dir := t.TempDir()
	s := &Server{ServerName: "localhost", Dir: dir, secret: randomHex(16)}
	cfgFile, err := s.writeConfig(bins["generate-config"], set)
	if err != nil {
		t.Fatalf("matrixtest: %v", err)
	}
	shield := s.shield()
	s.URL = shield.URL
	t.Cleanup(func() {
		s.stop()
		shield.Close() // after dendrite, so requests still upstream end at once
		if t.Failed() {
			t.Logf("matrixtest: end of the dendrite log:\n%s", s.logTail())
		}
	})
	// The free port can be taken before dendrite binds it: try again.
	for attempt := 1; ; attempt++ {
		err := s.launch(bins["dendrite"], cfgFile)
		if err == nil {
			return s
		}
		if !errors.Is(err, errExited) || attempt == 3 {
			t.Fatalf("matrixtest: %v\n%s", err, s.logTail())
		}
	}
}

var errExited = errors.New("dendrite exited during start")

// launch starts dendrite on a free port and waits until it answers.
func (s *Server) launch(dendrite, cfgFile string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.DendriteURL = "http://127.0.0.1:" + port
	s.mu.Unlock()
	logf, err := os.OpenFile(filepath.Join(s.Dir, "dendrite.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(dendrite, "--config", cfgFile, "--http-bind-address", "127.0.0.1:"+port)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start dendrite: %w", err)
	}
	exited := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	return s.waitReady(testenv.Scale(60 * time.Second))
}

// stop kills dendrite and waits for it.
func (s *Server) stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
}

// Stop stops the server before the test ends, e.g. to test a homeserver
// that went away. It is safe to call more than once.
func (s *Server) Stop() { s.stop() }

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "dendrite.out"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return errExited
		default:
		}
		resp, err := http.Get(s.DendriteURL + "/_matrix/client/versions")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("dendrite did not answer on %s within %s", s.DendriteURL, limit)
}

// writeConfig runs generate-config and adjusts its output per TESTING.md.
func (s *Server) writeConfig(generate string, set settings) (string, error) {
	out, err := exec.Command(generate, "-ci", "-dir", s.Dir, "-server", s.ServerName).Output()
	if err != nil {
		return "", fmt.Errorf("generate-config: %w", err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		return "", fmt.Errorf("generate-config output: %w", err)
	}
	keyFile := filepath.Join(s.Dir, "matrix_key.pem")
	if err := writeMatrixKey(keyFile); err != nil {
		return "", err
	}
	global := section(cfg, "global")
	global["private_key"] = keyFile
	global["disable_federation"] = true
	global["presence"] = map[string]any{"enable_inbound": false, "enable_outbound": false}
	global["report_stats"] = map[string]any{"enabled": false}
	client := section(cfg, "client_api")
	client["registration_disabled"] = true
	client["registration_shared_secret"] = s.secret
	rl := map[string]any{"enabled": false, "threshold": 20, "cooloff_ms": 500}
	if r := set.rateLimit; r != nil {
		rl = map[string]any{"enabled": true, "threshold": r.threshold, "cooloff_ms": r.cooloff.Milliseconds()}
	}
	client["rate_limiting"] = rl
	section(cfg, "sync_api")["search"] = map[string]any{"enabled": false, "in_memory": true, "index_path": filepath.Join(s.Dir, "searchindex"), "language": "en"}
	section(cfg, "mscs")["mscs"] = []string{}
	cfg["logging"] = []any{map[string]any{"type": "std", "level": "warn"}}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return "", err
	}
	path := filepath.Join(s.Dir, "dendrite.yaml")
	return path, os.WriteFile(path, data, 0o600)
}

func section(cfg map[string]any, name string) map[string]any {
	m, ok := cfg[name].(map[string]any)
	if !ok {
		m = map[string]any{}
		cfg[name] = m
	}
	return m
}

// writeMatrixKey writes an ed25519 signing key in dendrite's PEM format.
func writeMatrixKey(path string) error {
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	keyID := strings.NewReplacer("-", "", "_", "").Replace(base64.RawURLEncoding.EncodeToString(seed))[:6]
	var buf bytes.Buffer
	if err := pem.Encode(&buf, &pem.Block{Type: "MATRIX PRIVATE KEY", Headers: map[string]string{"Key-ID": "ed25519:" + keyID}, Bytes: seed}); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o600)
}

func freePort() (string, error) {
	ps, err := testenv.FreePorts(1)
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	return strconv.Itoa(ps[0]), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// UserID is the full id of localpart on this server.
func (s *Server) UserID(localpart string) id.UserID {
	return id.NewUserID(localpart, s.ServerName)
}

// CreateUser registers an account with the shared-secret admin API (the
// same call create-account makes).
func (s *Server) CreateUser(t testing.TB, name, password string) User {
	t.Helper()
	cli, err := mautrix.NewClient(s.URL, "", "")
	if err != nil {
		t.Fatalf("matrixtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := synapseadmin.Client{Client: cli}
	_, err = admin.SharedSecretRegister(ctx, s.secret, synapseadmin.ReqSharedSecretRegister{Username: name, Password: password, InhibitLogin: true})
	if err != nil {
		t.Fatalf("matrixtest: create user %s: %v", name, err)
	}
	return User{ID: s.UserID(name), Name: name, Password: password}
}

// Client logs u in (a new device) and returns the client. The login waits
// out rate limits; the client's own HTTP calls are not retried, so tests
// see errors at once.
func (s *Server) Client(t testing.TB, u User) *mautrix.Client {
	t.Helper()
	cli, err := mautrix.NewClient(s.URL, "", "")
	if err != nil {
		t.Fatalf("matrixtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = WaitOutLimits(ctx, func() error {
		_, err := cli.Login(ctx, &mautrix.ReqLogin{
			Type:             mautrix.AuthTypePassword,
			Identifier:       mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: u.Name},
			Password:         u.Password,
			StoreCredentials: true,
		})
		return err
	})
	if err != nil {
		t.Fatalf("matrixtest: log in %s: %v", u.Name, err)
	}
	return cli
}

// shield forwards requests to dendrite without passing on the client's
// cancellation. dendrite v0.13.8 on SQLite wedges its sync database when a
// request is cancelled in the middle of a query ("cannot start a
// transaction within a transaction" on every later request), and clients
// under test cancel requests whenever they stop. Through the shield the
// client still sees its cancellation at once; dendrite finishes the
// request and the answer is thrown away.
func (s *Server) shield() *httptest.Server {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			s.mu.Lock()
			target, _ := url.Parse(s.DendriteURL)
			s.mu.Unlock()
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		},
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*time.Minute)
		defer cancel()
		rp.ServeHTTP(w, r.WithContext(ctx))
	}))
}

// WaitOutLimits calls f until it does not fail with M_LIMIT_EXCEEDED,
// waiting retry_after_ms between calls, for servers started WithRateLimit.
func WaitOutLimits(ctx context.Context, f func() error) error {
	for {
		err := f()
		var he mautrix.HTTPError
		if !errors.Is(err, mautrix.MLimitExceeded) || !errors.As(err, &he) || he.RespError == nil {
			return err
		}
		ms, _ := he.RespError.ExtraData["retry_after_ms"].(float64)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(ms)*time.Millisecond + 10*time.Millisecond):
		}
	}
}
