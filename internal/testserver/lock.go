package testserver

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// A control plane with its controllers is heavy for a two-core machine, and `go test ./...`
// runs test binaries of several packages at once. Each test process that starts a control
// plane therefore takes an exclusive lock, held until it exits, so that control planes of
// different packages do not compete for the CPU and time each other out. Packages without
// control planes still run in parallel.
var (
	lockOnce sync.Once
	lockFile *os.File
)

func lockMachine(t testing.TB) {
	lockOnce.Do(func() {
		f, err := os.OpenFile(filepath.Join(os.TempDir(), "kijabi-testserver.lock"), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			t.Logf("test lock: %v (running without it)", err)
			return
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			t.Logf("test lock: %v (running without it)", err)
			f.Close()
			return
		}
		lockFile = f // held until the process exits
	})
}
