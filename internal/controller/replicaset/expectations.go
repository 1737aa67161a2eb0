package replicaset

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
)

// expectationsTTL is how long expectations are trusted: if the informer never reports the
// pods we created or deleted (a missed watch event), the controller syncs again after this.
const expectationsTTL = 5 * time.Minute

// expectations remembers, per ReplicaSet key, how many pod creations and which pod deletions
// the controller has issued but not yet seen through its pod informer. While any are
// outstanding the ReplicaSet is not resized, so a lagging cache never makes the controller
// create or delete twice. Deletions are tracked by pod key, so seeing the same deletion twice
// (an update with a deletionTimestamp, then the delete) counts once.
type expectations struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	items map[string]*expectation
}

type expectation struct {
	add, del  int
	deleting  sets.Set[string]
	timestamp time.Time
}

func newExpectations(c clock.PassiveClock) *expectations {
	return &expectations{clock: c, items: map[string]*expectation{}}
}

// satisfied reports whether the ReplicaSet may be resized: nothing is outstanding, the
// expectations are older than expectationsTTL, or none were ever recorded.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.items[key]
	if !ok {
		return true
	}
	return (x.add <= 0 && x.del <= 0) || e.clock.Since(x.timestamp) > expectationsTTL
}

// expectCreations records that n pods are being created.
func (e *expectations) expectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.items[key] = &expectation{add: n, deleting: sets.New[string](), timestamp: e.clock.Now()}
}

// expectDeletions records that the pods with podKeys are being deleted.
func (e *expectations) expectDeletions(key string, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.items[key] = &expectation{del: len(podKeys), deleting: sets.New(podKeys...), timestamp: e.clock.Now()}
}

// creationObserved records that one expected pod was created (or will never be).
func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.items[key]; ok && x.add > 0 {
		x.add--
	}
}

// deletionObserved records that the pod with podKey is gone (or will not go).
func (e *expectations) deletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.items[key]; ok && x.deleting.Has(podKey) {
		x.deleting.Delete(podKey)
		x.del--
	}
}

// forget drops the expectations of a ReplicaSet that is gone.
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.items, key)
}
