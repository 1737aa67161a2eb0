package nft

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

func TestSyncLoop(t *testing.T) {
	l := NewSyncLoop(time.Millisecond, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	type call struct{ full, first bool }
	var mu sync.Mutex
	var calls []call
	fail := true
	next := make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx, func(full, first bool) error {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, call{full, first})
			next <- struct{}{}
			if fail {
				fail = false
				return errors.New("boom")
			}
			return nil
		})
	}()
	wait := func() {
		t.Helper()
		select {
		case <-next:
		case <-time.After(10 * time.Second):
			t.Fatal("no sync")
		}
	}
	wait() // the first, full, fails
	wait() // retried, full
	<-l.Synced()
	l.Poke()
	wait() // a change: not full
	cancel()
	<-done
	want := []call{{true, true}, {true, true}, {false, false}}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != len(want) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Fatalf("calls %v, want %v", calls, want)
		}
	}
}
