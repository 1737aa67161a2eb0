//go:build unix

package ingress

import "syscall"

// peekAlive reports whether an idle socket has neither data nor an end of stream waiting.
func peekAlive(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR
}
