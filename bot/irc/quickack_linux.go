package irc

import (
	"net"
	"syscall"
)

// quickAck asks Linux to acknowledge what was just read at once instead of
// up to 40 ms later. The bot often reads a line it does not answer (a PONG,
// another user's line); with a delayed acknowledgement, a server that does
// not disable Nagle's algorithm (InspIRCd) holds its next line to the bot
// until the acknowledgement comes. Linux drops out of quick-ack mode on its
// own, so it is asked again after every read.
func quickAck(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
