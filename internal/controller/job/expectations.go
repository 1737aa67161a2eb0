package job

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
)

// expectationsTTL is how long expectations are trusted: if the informer never reports a
// pod change we caused (a missed watch event), the controller acts again after this.
const expectationsTTL = 5 * time.Minute

// expectations remembers, per Job key, how many pod creations and which pod deletions the
// controller has issued but not yet seen through its pod informer. While any are
// outstanding the Job's pods are not scaled, so a lagging cache never makes the controller
// create or delete twice. Deletions are tracked by pod key, so seeing one twice (an update
// with a deletionTimestamp, then the delete) counts once.
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

// satisfied reports whether the Job's pods may be scaled.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.items[key]
	if !ok {
		return true
	}
	return (x.add <= 0 && x.deleting.Len() == 0) || e.clock.Since(x.timestamp) > expectationsTTL
}

func (e *expectations) expectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.items[key] = &expectation{add: n, deleting: sets.New[string](), timestamp: e.clock.Now()}
}

func (e *expectations) expectDeletions(key string, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.items[key] = &expectation{deleting: sets.New(podKeys...), timestamp: e.clock.Now()}
}

func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.items[key]; ok && x.add > 0 {
		x.add--
	}
}

func (e *expectations) deletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.items[key]; ok {
		x.deleting.Delete(podKey)
	}
}

func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.items, key)
}

// finalizerExpectations remembers, per Job key, the UIDs of pods whose tracking finalizer
// the controller removed but whose update the pod informer has not delivered yet. Such
// pods were counted already and must not be counted again.
type finalizerExpectations struct {
	mu    sync.Mutex
	items map[string]sets.Set[string]
}

func newFinalizerExpectations() *finalizerExpectations {
	return &finalizerExpectations{items: map[string]sets.Set[string]{}}
}

func (e *finalizerExpectations) expectRemoved(key string, uids ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.items[key]
	if !ok {
		s = sets.New[string]()
		e.items[key] = s
	}
	s.Insert(uids...)
}

// removalObserved records that the pod with uid no longer has the finalizer (or is gone).
func (e *finalizerExpectations) removalObserved(key, uid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.items[key]; ok {
		s.Delete(uid)
		if s.Len() == 0 {
			delete(e.items, key)
		}
	}
}

// pending returns a copy of the UIDs still expected to lose the finalizer.
func (e *finalizerExpectations) pending(key string) sets.Set[string] {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.items[key].Clone()
}

func (e *finalizerExpectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.items, key)
}
