package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// FreePorts returns n local TCP ports that nothing listens on now, for a
// server a test starts in another process. They are chosen below the
// kernel's ephemeral range: a port the kernel hands out (127.0.0.1:0) is
// free only until the server binds it, and on a busy machine an outgoing
// connection of another test (or of another suite running beside) takes
// one in between ("address already in use"). Ports below the range are
// never given to outgoing connections.
func FreePorts(n int) ([]int, error) {
	lo := ephemeralLow()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			return nil, fmt.Errorf("no free port between 10000 and %d", lo)
		}
		port := 10000 + rand.IntN(lo-10000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		ports = append(ports, port)
	}
	return ports, nil
}

// FreeAddr is FreePorts for one port, as "127.0.0.1:port".
func FreeAddr() (string, error) {
	ps, err := FreePorts(1)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(ps[0])), nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default when it cannot be read).
func ephemeralLow() int {
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 11000 {
				lo = v
			}
		}
	}
	return lo
}
