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
	more, err := FreePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	from, to := portRange()
	seen := map[int]bool{}
	for _, p := range append(ports, more...) {
		if p < from || p >= to || seen[p] {
			t.Errorf("port %d: outside [%d, %d) or given twice (%v, then %v)", p, from, to, ports, more)
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
