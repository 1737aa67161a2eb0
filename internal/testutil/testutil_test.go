package testutil

import (
	"errors"
	"testing"
	"time"
)

func TestPollReturnsOnceTheConditionHolds(t *testing.T) {
	n := 0
	Poll(t, 10*time.Second, "the third check", func() (bool, error) {
		n++
		return n == 3, errors.New("not yet")
	})
	if n != 3 {
		t.Errorf("checked %d times, want 3", n)
	}
}
