package testenv

import (
	"net"
	"strconv"
	"testing"
)

// The ports are below the kernel's ephemeral range (where no outgoing
// connection takes them), distinct, and can be listened on.
func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	lo, seen := ephemeralLow(), map[int]bool{}
	for _, p := range ports {
		if p < 10000 || p >= lo || seen[p] {
			t.Errorf("port %d: outside [10000, %d) or given twice (%v)", p, lo, ports)
		}
		seen[p] = true
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d is not free: %v", p, err)
			continue
		}
		l.Close()
	}
}
