package controllerutil

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
)

// ExpectationsTTL is how long expectations are trusted: if the informer never reports a pod
// change the controller caused (a missed watch event), the controller acts again after this.
const ExpectationsTTL = 5 * time.Minute

// Expectations remembers, per owner key, how many pod creations and which pod deletions a
// controller has issued but not yet seen through its pod informer. While any are outstanding
// the owner's pods are not changed again, so a lagging cache never makes the controller create
// or delete twice. Deletions are tracked by pod key, so seeing the same deletion twice (an
// update with a deletionTimestamp, then the delete) counts once.
//
// Each Expect* call replaces what was recorded for the key before. Expectations is safe for
// concurrent use.
type Expectations struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	items map[string]*expectation
}

type expectation struct {
	add       int
	deleting  sets.Set[string]
	timestamp time.Time
}

// NewExpectations returns empty Expectations that read time from c.
func NewExpectations(c clock.PassiveClock) *Expectations {
	return &Expectations{clock: c, items: map[string]*expectation{}}
}

// Satisfied reports whether the owner's pods may be changed: nothing is outstanding, the
// expectations are older than ExpectationsTTL, or none were ever recorded.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.items[key]
	if !ok {
		return true
	}
	return (x.add <= 0 && x.deleting.Len() == 0) || e.clock.Since(x.timestamp) > ExpectationsTTL
}

// Expect records that adds pods are being created and the pods with podKeys deleted.
func (e *Expectations) Expect(key string, adds int, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.items[key] = &expectation{add: adds, deleting: sets.New(podKeys...), timestamp: e.clock.Now()}
}

// ExpectCreations records that n pods are being created.
func (e *Expectations) ExpectCreations(key string, n int) { e.Expect(key, n, nil) }

// ExpectDeletions records that the pods with podKeys are being deleted.
func (e *Expectations) ExpectDeletions(key string, podKeys []string) { e.Expect(key, 0, podKeys) }

// CreationObserved records that one expected pod was created (or will never be).
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.items[key]; ok && x.add > 0 {
		x.add--
	}
}

// DeletionObserved records that the pod with podKey is gone (or will not go).
func (e *Expectations) DeletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.items[key]; ok {
		x.deleting.Delete(podKey)
	}
}

// Forget drops the expectations of an owner that is gone.
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.items, key)
}
