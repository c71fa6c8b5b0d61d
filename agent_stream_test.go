package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/agent"
	"github.com/jouncebot/jouncebot/app"
	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/internal/testenv"
	"github.com/jouncebot/jouncebot/store"
)

// A client of the agent's event stream (with a valid certificate) that
// stops reading does not hold the agent's connection and goroutine: once
// the connection's buffers are full, the stream's next write times out,
// the agent says so and closes the connection (issue 24, item 7).
func TestAgentDropsAStreamClientThatStopsReading(t *testing.T) {
	s := newSplit(t)
	// An event log bigger than the kernel's socket buffers on both sides
	// (the agent's send buffer grows up to tcp_wmem's maximum, 4 MB by
	// default), as after weeks of deploys: twice that and 4 MB more, in
	// events of 64 kB.
	size := 2*sendBufferMax(t) + 4<<20
	db, err := store.Open(filepath.Join(s.dir, "agent-data", app.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	events, err := agent.NewLog(db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("a long check output line ", 64<<10/25)
	for range size / len(line) {
		events.Notify(context.Background(), deploy.Event{Deploy: "1", Kind: deploy.EventProgress, Text: bot.T(line), Time: time.Now().UTC()})
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s.startAgent()

	// The client takes the whole log from the start with a receive
	// buffer of a few kB, and never reads.
	pool := x509.NewCertPool()
	b, _ := os.ReadFile(s.caFile)
	pool.AppendCertsFromPEM(b)
	cert, err := tls.LoadX509KeyPair(s.botCert, s.botKey)
	if err != nil {
		t.Fatal(err)
	}
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1) })
		return serr
	}}
	conn, err := tls.DialWithDialer(d, "tcp", s.agentAddr, &tls.Config{RootCAs: pool, ServerName: "agent", Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /v1/events?after=0 HTTP/1.1\r\nHost: agent\r\n\r\n"); err != nil {
		t.Fatal(err)
	}

	// The agent gives up on the stream at its write deadline and says so.
	s.agent.expect("event stream ended: the chat bot did not take the events in time")

	// It closed the connection: reading now ends (after what the buffers
	// held) instead of following the log forever.
	conn.SetReadDeadline(time.Now().Add(testenv.Scale(2 * time.Minute)))
	n, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the agent kept the connection open after giving up on it (read %d bytes)", n)
	}
	if n >= int64(size) {
		t.Errorf("read %d bytes: the whole log went through, so the stream never blocked", n)
	}
}

// sendBufferMax is the most a TCP socket's send buffer grows to here.
func sendBufferMax(t *testing.T) int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_wmem")
	if err != nil {
		return 4 << 20
	}
	f := strings.Fields(string(b))
	if len(f) != 3 {
		t.Fatalf("tcp_wmem: %q", b)
	}
	n, err := strconv.Atoi(f[2])
	if err != nil {
		t.Fatalf("tcp_wmem: %q", b)
	}
	return max(n, 4<<20)
}
