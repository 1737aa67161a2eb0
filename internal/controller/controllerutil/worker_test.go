package controllerutil

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// slowQueue returns a queue whose rate-limited re-adds come back only after an hour, so a
// test sees the requeue count without the item being handed out again.
func slowQueue(t *testing.T) workqueue.TypedRateLimitingInterface[string] {
	q := workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Hour, time.Hour))
	t.Cleanup(q.ShutDown)
	return q
}

func TestWorkerProcessNextItem(t *testing.T) {
	tests := []struct {
		name         string
		err          error
		quiet        func(error) bool
		wantRequeues int
	}{
		{name: "success forgets", wantRequeues: 0},
		{name: "failure requeues rate-limited", err: errors.New("boom"), wantRequeues: 1},
		{name: "quiet failure still requeues", err: errors.New("stale"), quiet: func(error) bool { return true }, wantRequeues: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := slowQueue(t)
			q.AddRateLimited("ns/a") // a previous failure, forgotten on success
			q.Add("ns/a")
			var synced []string
			w := &Worker{Name: "Thing", LogKey: "thing", Quiet: tc.quiet, Queue: q, Sync: func(_ context.Context, key string) error {
				synced = append(synced, key)
				return tc.err
			}}
			if !w.ProcessNextItem(context.Background()) {
				t.Fatal("ProcessNextItem = false on a live queue")
			}
			if len(synced) != 1 || synced[0] != "ns/a" {
				t.Errorf("synced %v, want [ns/a]", synced)
			}
			want := tc.wantRequeues
			if tc.err != nil {
				want++ // on top of the earlier failure
			}
			if got := q.NumRequeues("ns/a"); got != want {
				t.Errorf("NumRequeues = %d, want %d", got, want)
			}
			if q.Len() != 0 {
				t.Errorf("queue length %d, want 0 (item marked done, requeue delayed)", q.Len())
			}
		})
	}
}

func TestWorkerProcessNextItemShutDown(t *testing.T) {
	q := slowQueue(t)
	q.ShutDown()
	w := &Worker{Name: "Thing", Queue: q, Sync: func(context.Context, string) error {
		t.Error("Sync called on a shut down queue")
		return nil
	}}
	if w.ProcessNextItem(context.Background()) {
		t.Error("ProcessNextItem = true on a shut down queue")
	}
}

func TestWorkerMessage(t *testing.T) {
	tests := []struct {
		w           *Worker
		msg, logKey string
	}{
		{w: &Worker{Name: "ReplicaSet", LogKey: "replicaset"}, msg: "Syncing ReplicaSet failed", logKey: "replicaset"},
		{w: &Worker{Name: "Job"}, msg: "Syncing Job failed", logKey: "key"},
		{w: &Worker{Message: "Allocating pod CIDR failed", LogKey: "node"}, msg: "Allocating pod CIDR failed", logKey: "node"},
	}
	for _, tc := range tests {
		if got := tc.w.message(); got != tc.msg {
			t.Errorf("message() = %q, want %q", got, tc.msg)
		}
		if got := tc.w.logKey(); got != tc.logKey {
			t.Errorf("logKey() = %q, want %q", got, tc.logKey)
		}
	}
}

func TestWorkerRun(t *testing.T) {
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	var mu sync.Mutex
	seen := map[string]bool{}
	done := make(chan struct{})
	w := &Worker{Name: "Thing", Queue: q, Sync: func(_ context.Context, key string) error {
		mu.Lock()
		defer mu.Unlock()
		seen[key] = true
		if len(seen) == 3 {
			close(done)
		}
		return nil
	}}
	synced := make(chan struct{})
	hasSynced := cache.InformerSynced(func() bool {
		select {
		case <-synced:
			return true
		default:
			return false
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		w.Run(ctx, 2, hasSynced)
	}()
	for _, k := range []string{"a", "b", "c"} {
		q.Add(k)
	}
	close(synced)
	<-done
	cancel()
	<-returned
	if !q.ShuttingDown() {
		t.Error("queue not shut down after Run returned")
	}
}

func TestWorkerRunNotSynced(t *testing.T) {
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	q.Add("a")
	w := &Worker{Name: "Thing", Queue: q, Sync: func(context.Context, string) error {
		t.Error("Sync called before the caches synced")
		return nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w.Run(ctx, 1, func() bool { return false })
	if !q.ShuttingDown() {
		t.Error("queue not shut down after Run returned")
	}
}
