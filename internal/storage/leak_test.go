package storage_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/kijabi/kijabi/internal/storage"
	"github.com/kijabi/kijabi/internal/testutil"
)

// TestWatchesLeaveNothingRunning opens and ends many watches, from the watch cache and
// straight from the embedded etcd (which the store reaches through function calls, not
// gRPC): once they end, the goroutines they used must be gone, or a long-running server
// would grow with every watch its clients ever opened.
func TestWatchesLeaveNothingRunning(t *testing.T) {
	b := embedded(t)
	ctx := context.Background()
	plain := newPlainStore(t, b)
	cachedStore := newPlainStore(t, b)
	cctx, cancelCache := context.WithCancel(ctx)
	defer cancelCache()
	if err := cachedStore.StartCache(cctx, slog.Default(), b.ProgressSafe()); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Create(ctx, plain.Key("ns", "warm"), cm("ns", "warm", "0")); err != nil {
		t.Fatal(err)
	}
	// Settle: the first watch starts etcd's and the client's long-lived machinery.
	round := func(i int) {
		const watches = 50
		wctx, cancel := context.WithCancel(ctx)
		var chans []<-chan struct{}
		for w := 0; w < watches; w++ {
			for _, ch := range []<-chan storage.Event{plain.Watch(wctx, plain.Prefix("ns"), 0), cachedStore.Watch(wctx, cachedStore.Prefix("ns"), 0)} {
				done := make(chan struct{})
				go func() {
					defer close(done)
					for range ch {
					}
				}()
				chans = append(chans, done)
			}
		}
		name := fmt.Sprintf("cm-%d", i)
		if _, err := plain.Create(ctx, plain.Key("ns", name), cm("ns", name, "1")); err != nil {
			t.Fatal(err)
		}
		cancel()
		for _, done := range chans {
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("a watch did not end after its context did")
			}
		}
	}
	round(0)
	base := runtime.NumGoroutine()
	for i := 1; i <= 5; i++ {
		round(i)
	}
	testutil.Poll(t, 20*time.Second, "goroutines of ended watches to exit", func() (bool, error) {
		n := runtime.NumGoroutine()
		if n > base+5 {
			return false, fmt.Errorf("%d goroutines running, %d after the first round", n, base)
		}
		return true, nil
	})
}
