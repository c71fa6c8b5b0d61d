//go:build !linux

package irc

import "net"

// quickAck does nothing where TCP_QUICKACK does not exist.
func quickAck(net.Conn) {}
