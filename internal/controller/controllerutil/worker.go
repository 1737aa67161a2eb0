package controllerutil

import (
	"context"
	"sync"
	"time"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Worker drains a rate-limited queue of keys with Sync, the loop every controller runs: a
// failed key is logged and re-added rate-limited, a synced key's rate limiting is forgotten.
type Worker struct {
	// Name completes the error message "Syncing <Name> failed".
	Name string
	// Message, if set, replaces that error message.
	Message string
	// LogKey is the structured-log key the failed item's key is logged under ("key" if empty).
	LogKey string
	// Quiet, if set, reports errors that are retried without being logged.
	Quiet func(error) bool

	Queue workqueue.TypedRateLimitingInterface[string]
	Sync  func(ctx context.Context, key string) error

	wg sync.WaitGroup
}

// Run waits for synced, then runs workers (at least one) until ctx ends. It shuts the queue
// down and waits for the workers before it returns.
func (w *Worker) Run(ctx context.Context, workers int, synced ...cache.InformerSynced) {
	defer w.Stop()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	w.Start(ctx, workers)
	<-ctx.Done()
}

// Start starts workers (at least one) that process items until the queue shuts down,
// restarting each a second after it returns while ctx lasts. It does not block; Stop
// ends them.
func (w *Worker) Start(ctx context.Context, workers int) {
	for range max(workers, 1) {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			wait.UntilWithContext(ctx, w.work, time.Second)
		}()
	}
}

// Stop shuts the queue down and waits for the workers started by Start to finish the
// items in hand and exit (their ctx must be done, or they restart). A controller's Run
// calls it before returning, so that no sync outlives it.
func (w *Worker) Stop() {
	w.Queue.ShutDown()
	w.wg.Wait()
}

func (w *Worker) work(ctx context.Context) {
	for w.ProcessNextItem(ctx) {
	}
}

// ProcessNextItem syncs one key; it returns false once the queue shuts down.
func (w *Worker) ProcessNextItem(ctx context.Context) bool {
	key, quit := w.Queue.Get()
	if quit {
		return false
	}
	defer w.Queue.Done(key)
	if err := w.Sync(ctx, key); err != nil {
		// A sync cut short because the controller is stopping is no failure to report.
		if ctx.Err() == nil && (w.Quiet == nil || !w.Quiet(err)) {
			utilruntime.HandleErrorWithContext(ctx, err, w.message(), w.logKey(), key)
		}
		w.Queue.AddRateLimited(key)
		return true
	}
	w.Queue.Forget(key)
	return true
}

func (w *Worker) message() string {
	if w.Message != "" {
		return w.Message
	}
	return "Syncing " + w.Name + " failed"
}

func (w *Worker) logKey() string {
	if w.LogKey != "" {
		return w.LogKey
	}
	return "key"
}
