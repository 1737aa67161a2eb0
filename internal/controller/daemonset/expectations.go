package daemonset

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
)

// expectationsTTL is how long expectations are trusted: if the informer never reports the
// pods we created or deleted (a missed watch event), the controller acts again after this.
const expectationsTTL = 5 * time.Minute

// expectations remembers, per DaemonSet key, how many pod creations and which pod deletions
// the controller has issued but not yet seen through its pod informer. While any are
// outstanding the DaemonSet's pods are not changed again (status is still reported), so a
// lagging cache never makes the controller create or delete twice.
type expectations struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	items map[string]*expectation
}

type expectation struct {
	add       int
	deleting  sets.Set[string]
	timestamp time.Time
}

func newExpectations(c clock.PassiveClock) *expectations {
	return &expectations{clock: c, items: map[string]*expectation{}}
}

// satisfied reports whether nothing is outstanding (or the expectations expired).
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.items[key]
	if !ok {
		return true
	}
	return (x.add <= 0 && x.deleting.Len() == 0) || e.clock.Since(x.timestamp) > expectationsTTL
}

// expect records that adds pods are being created and the pods with podKeys deleted.
func (e *expectations) expect(key string, adds int, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.items[key] = &expectation{add: adds, deleting: sets.New(podKeys...), timestamp: e.clock.Now()}
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
	if x, ok := e.items[key]; ok {
		x.deleting.Delete(podKey)
	}
}

// forget drops the expectations of a DaemonSet that is gone.
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.items, key)
}
