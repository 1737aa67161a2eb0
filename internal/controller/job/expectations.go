package job

import (
	"sync"

	"k8s.io/apimachinery/pkg/util/sets"
)

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
