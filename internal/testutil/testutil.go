// Package testutil holds helpers shared by the project's tests. It imports nothing of the
// project, so that any package's tests may use it.
package testutil

import (
	"testing"
	"time"
)

// PollInterval is how often Poll checks its condition.
const PollInterval = 50 * time.Millisecond

// Poll checks cond every PollInterval until it holds, and fails the test when it still does not
// after timeout, with the last error cond returned. It is how tests wait for what happens
// asynchronously: never a fixed sleep.
func Poll(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last error: %v)", what, last)
		}
		<-time.After(PollInterval)
	}
}
