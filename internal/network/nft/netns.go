package nft

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// OpenNetNS opens the network namespace file path (e.g. /run/netns/NAME) for InNetNS
// and netlink connections, and returns its descriptor and how to close it; with no
// path, it returns -1, the current namespace.
func OpenNetNS(path string) (fd int, closeFn func(), err error) {
	if path == "" {
		return -1, func() {}, nil
	}
	fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	return fd, func() { _ = unix.Close(fd) }, nil
}

// InNetNS runs fn on a thread in the network namespace nsFD (the current one when
// nsFD < 0). Sockets made in fn stay in that namespace.
func InNetNS(nsFD int, fn func() error) error {
	if nsFD < 0 {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("current network namespace: %w", err)
			return
		}
		defer func() { _ = unix.Close(orig) }()
		if err := unix.Setns(nsFD, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		ferr := fn()
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread() // otherwise the thread ends with the goroutine
		}
		errc <- ferr
	}()
	return <-errc
}

// WriteSysctl writes a /proc/sys file in the network namespace nsFD (the current one
// when nsFD < 0): /proc/sys/net shows the namespace of the thread that opens it.
func WriteSysctl(nsFD int, path, value string) error {
	return InNetNS(nsFD, func() error {
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s: %w", path, err)
		}
		return nil
	})
}
