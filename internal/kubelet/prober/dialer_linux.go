package prober

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// probeDialer sets SO_LINGER to 1s so probe connections do not pile up in TIME-WAIT, as
// the kubelet's ProbeDialer does.
func probeDialer() *net.Dialer {
	return &net.Dialer{
		Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) {
				_ = unix.SetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 1})
			})
		},
	}
}
