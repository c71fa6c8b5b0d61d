package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// FreePorts returns n local TCP ports that nothing listens on now, for a
// server a test starts in another process. They are chosen below the
// kernel's ephemeral range: a port the kernel hands out (127.0.0.1:0) is
// free only until the server binds it, and on a busy machine an outgoing
// connection of another test (or of another suite running beside) takes
// one in between ("address already in use"). Ports below the range are
// never given to outgoing connections. A port is handed out once per
// process. When the ephemeral range starts below 11000, the ports are
// taken above its end instead.
func FreePorts(n int) ([]int, error) {
	from, to := portRange()
	given.Lock()
	defer given.Unlock()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			return nil, fmt.Errorf("no free port between %d and %d", from, to)
		}
		port := from + rand.IntN(to-from)
		if given.ports[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		ports = append(ports, port)
		given.ports[port] = true
	}
	return ports, nil
}

// given are the ports FreePorts handed out in this process.
var given = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreeAddr is FreePorts for one port, as "127.0.0.1:port".
func FreeAddr() (string, error) {
	ps, err := FreePorts(1)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(ps[0])), nil
}

// portRange is where FreePorts looks: [10000, first ephemeral port), or,
// when the kernel's ephemeral range starts below 11000, above its end.
func portRange() (from, to int) {
	lo, hi := 32768, 60999 // Linux's default
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			l, err1 := strconv.Atoi(f[0])
			h, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && l <= h {
				lo, hi = l, h
			}
		}
	}
	if lo > 11000 {
		return 10000, lo
	}
	if hi < 64535 {
		return hi + 1, 65536
	}
	return 10000, 11000 // no port outside the range: the least taken
}
