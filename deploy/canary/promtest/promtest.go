// Package promtest runs a real Prometheus server (Debian's prometheus
// package, installed by scripts/install/prometheus.sh) for tests, scraping
// the targets a test gives it every second:
//
//	srv := promtest.Start(t, []promtest.Target{{Addr: "127.0.0.1:4101", Host: "mw1001"}, …})
//	src := &canary.Prometheus{URL: srv.URL}
//	srv.WaitScrapes(t, 5) // every target scraped five times
//
// A missing prometheus binary skips the test, or fails it when
// JOUNCEBOT_TEST_SERVERS=required. The server stops when the test ends.
package promtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/internal/testenv"
)

// Target is a server to scrape.
type Target struct {
	// Addr is host:port; the series' instance label.
	Addr string
	// Host, if set, is put on the target's series as label host (as a
	// relabelling would name an app server).
	Host string
}

// Server is a running Prometheus.
type Server struct {
	URL string
	// Interval is the scrape interval.
	Interval time.Duration
	targets  []string
}

// Start runs Prometheus scraping targets (plain HTTP, /metrics) every
// second.
func Start(t testing.TB, targets []Target) *Server {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		testenv.Missing(t, "prometheus is not installed: run scripts/install/prometheus.sh")
	}
	dir := t.TempDir()
	var static strings.Builder
	addrs := make([]string, len(targets))
	for i, tg := range targets {
		addrs[i] = tg.Addr
		fmt.Fprintf(&static, "      - targets: [%q]\n", tg.Addr)
		if tg.Host != "" {
			fmt.Fprintf(&static, "        labels: {host: %q}\n", tg.Host)
		}
	}
	if len(targets) == 0 {
		static.WriteString("      - targets: []\n")
	}
	conf := `global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: app
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
` + static.String()
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+confPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	s := &Server{URL: "http://" + addr, Interval: time.Second, targets: addrs}
	deadline := time.Now().Add(testenv.Scale(20 * time.Second))
	for {
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
			t.Fatalf("prometheus exited at start: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready at %s", s.URL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// WaitScrapes waits until Prometheus holds at least n samples of `up`
// for every target.
func (s *Server) WaitScrapes(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(testenv.Scale(time.Duration(n+10) * s.Interval * 2))
	for {
		got, err := s.countUp(context.Background())
		if err == nil && got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus scraped every target %d times, want %d (last error: %v)", got, n, err)
		}
		time.Sleep(s.Interval / 4)
	}
}

// countUp returns the fewest `up` samples any target has.
func (s *Server) countUp(ctx context.Context) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/query?query="+
		"count_over_time(up%5B10m%5D)", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var ans struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		return 0, err
	}
	counts := map[string]int{}
	for _, r := range ans.Data.Result {
		var n int
		fmt.Sscan(fmt.Sprint(r.Value[1]), &n)
		counts[r.Metric["instance"]] = n
	}
	least := -1
	for _, tg := range s.targets {
		if least < 0 || counts[tg] < least {
			least = counts[tg]
		}
	}
	return max(least, 0), nil
}

func freePort(t testing.TB) int {
	ps, err := testenv.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return ps[0]
}
