package agent_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/agent"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/store"
)

// certs writes a CA, a server certificate for 127.0.0.1 and a client
// certificate into dir.
func certs(b testing.TB, dir string) (ca, scert, skey, ccert, ckey string) {
	b.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(der)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			b.Fatal(err)
		}
		return p
	}
	ca = write("ca.pem", "CERTIFICATE", der)
	issue := func(name string, usage x509.ExtKeyUsage, serial int64) (string, string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		t := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		d, err := x509.CreateCertificate(rand.Reader, t, caCert, &k.PublicKey, key)
		if err != nil {
			b.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(k)
		return write(name+".pem", "CERTIFICATE", d), write(name+"-key.pem", "EC PRIVATE KEY", kb)
	}
	scert, skey = issue("agent", x509.ExtKeyUsageServerAuth, 2)
	ccert, ckey = issue("chatbot", x509.ExtKeyUsageClientAuth, 3)
	return
}

// engine is what the benchmarks drive: the sandbox's agent in process, or
// a client of it over loopback mutual TLS.
type engine interface {
	deploy.Service
}

// setup builds a fresh sandbox; with remote it serves it over mutual TLS
// on loopback and returns a client of it.
func setup(b *testing.B, remote bool, n deploy.Notifier) (engine, *deploy.Sandbox, func()) {
	b.Helper()
	dir := b.TempDir()
	db, err := store.Open(filepath.Join(dir, "jouncebot.db"))
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	var stops []func()
	stop := func() {
		cancel()
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		db.Close()
	}
	events, err := agent.NewLog(db, log)
	if err != nil {
		b.Fatal(err)
	}
	notify := n
	if remote {
		notify = events
	}
	sb, err := deploy.NewSandbox(filepath.Join(dir, "sandbox"), db, notify, nil, log, nil)
	if err != nil {
		b.Fatal(err)
	}
	stops = append(stops, sb.Close)
	sb.SetGate(gerrittest.Gate{Delay: 50 * time.Millisecond})
	done := make(chan struct{})
	go func() { defer close(done); sb.Engine.Run(ctx) }()
	stops = append(stops, func() { <-done })
	if !remote {
		return sb.Engine, sb, stop
	}
	cfg, err := config.Parse([]byte("bot: {nick: jouncebot}\npeople:\n  - {name: Alice, gerrit: alice, irc_account: alice, roles: [deployer]}\n"), "agent.yaml", dir)
	if err != nil {
		b.Fatal(err)
	}
	ca, scert, skey, ccert, ckey := certs(b, dir)
	stc, err := agent.ServerTLS(ca, scert, skey, "chatbot")
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	audit, err := agent.OpenAudit(filepath.Join(dir, agent.AuditFile))
	if err != nil {
		b.Fatal(err)
	}
	stops = append(stops, func() { audit.Close() })
	srv := agent.NewServer(sb.Engine, events, cfg, audit, log)
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(ctx, ln, stc) }()
	stops = append(stops, func() { <-served })
	ctc, err := agent.ClientTLS(ca, ccert, ckey, "agent")
	if err != nil {
		b.Fatal(err)
	}
	cdb, err := store.Open(filepath.Join(dir, "bot", "jouncebot.db"))
	if err != nil {
		b.Fatal(err)
	}
	c := agent.NewClient(agent.ClientOptions{Name: "bench", Address: ln.Addr().String(), TLS: ctc, DB: cdb, Notify: n, Log: log})
	followed := make(chan struct{})
	go func() { defer close(followed); c.Run(ctx) }()
	stops = append(stops, func() { <-followed; cdb.Close() })
	return c, sb, stop
}

var alice = deploy.Person{Name: "Alice", Gerrit: "alice", Deployer: true}

func benchStatus(b *testing.B, remote bool) {
	e, _, stop := setup(b, remote, deploy.NotifierFunc(func(context.Context, deploy.Event) {}))
	defer stop()
	ctx := context.Background()
	if _, err := e.Status(ctx); err != nil { // the first call opens the connection
		b.Fatal(err)
	}
	var took []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if _, err := e.Status(ctx); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkStatusInProcess is `status` with the engine in the same process.
func BenchmarkStatusInProcess(b *testing.B) { benchStatus(b, false) }

// BenchmarkStatusOverAgent is `status` over loopback mutual TLS.
func BenchmarkStatusOverAgent(b *testing.B) { benchStatus(b, true) }

func benchDeploy(b *testing.B, remote bool) {
	for range b.N {
		b.StopTimer()
		asked, end := make(chan struct{}, 1), make(chan struct{}, 1)
		n := deploy.NotifierFunc(func(_ context.Context, ev deploy.Event) {
			switch ev.Kind {
			case deploy.EventNeeds:
				asked <- struct{}{}
			case deploy.EventDone, deploy.EventFailed:
				end <- struct{}{}
			}
		})
		e, sb, stop := setup(b, remote, n)
		ctx := context.Background()
		num := strconv.Itoa(sb.Changes["config"])
		b.StartTimer()
		if _, err := e.Start(ctx, deploy.Request{Changes: []string{num}, By: alice, InWindow: true, Window: "bench"}); err != nil {
			b.Fatal(err)
		}
		<-asked
		if err := e.Tested(ctx, "", alice, true); err != nil {
			b.Fatal(err)
		}
		<-end
		b.StopTimer()
		stop()
	}
}

// BenchmarkSandboxDeployInProcess is a one-change sandbox deploy with the
// engine in the same process.
func BenchmarkSandboxDeployInProcess(b *testing.B) { benchDeploy(b, false) }

// BenchmarkSandboxDeployOverAgent is the same deploy driven through the
// agent over loopback mutual TLS, events through the stream.
func BenchmarkSandboxDeployOverAgent(b *testing.B) { benchDeploy(b, true) }
