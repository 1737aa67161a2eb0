package endpointslice

import (
	"sync"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// deletionExpected marks a slice the controller deleted.
const deletionExpected = ^uint64(0)

// tracker remembers, per service, the resourceVersion of each slice the controller wrote, so
// that a sync can tell when the informer cache has not caught up with its own writes.
type tracker struct {
	mu sync.Mutex
	// byService maps service key -> slice UID -> expected resourceVersion (or deletionExpected).
	byService map[string]map[types.UID]uint64
}

func newTracker() *tracker { return &tracker{byService: map[string]map[types.UID]uint64{}} }

func (t *tracker) wrote(svcKey string, s *discoveryv1.EndpointSlice) {
	t.set(svcKey, s.UID, resourceVersionOf(s.ResourceVersion))
}

func (t *tracker) deleted(svcKey string, s *discoveryv1.EndpointSlice) {
	t.set(svcKey, s.UID, deletionExpected)
}

func (t *tracker) set(svcKey string, uid types.UID, v uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.byService[svcKey]
	if m == nil {
		m = map[types.UID]uint64{}
		t.byService[svcKey] = m
	}
	m[uid] = v
}

// observedGone forgets a slice the informer reported deleted.
func (t *tracker) observedGone(svcKey string, uid types.UID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m := t.byService[svcKey]; m != nil {
		delete(m, uid)
		if len(m) == 0 {
			delete(t.byService, svcKey)
		}
	}
}

// forgetService drops everything about a service.
func (t *tracker) forgetService(svcKey string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.byService, svcKey)
}

// stale reports whether the cached slices lag behind the controller's writes: a slice it
// deleted is still there, one it wrote is older than what it wrote, or one it created is missing.
func (t *tracker) stale(svcKey string, cached []*discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.byService[svcKey]
	if len(m) == 0 {
		return false
	}
	seen := make(map[types.UID]bool, len(cached))
	for _, s := range cached {
		seen[s.UID] = true
		want, ok := m[s.UID]
		if ok && (want == deletionExpected || want > resourceVersionOf(s.ResourceVersion)) {
			return true
		}
	}
	for uid, want := range m {
		if want != deletionExpected && !seen[uid] {
			return true
		}
	}
	return false
}
