package storage

import (
	"fmt"
	"log/slog"
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

func podWithFields(name string, sets ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}}
	for i, s := range sets {
		// Decoded objects own their bytes, with spare capacity as often as not.
		raw := append(make([]byte, 0, len(s)+7), s...)
		p.ManagedFields = append(p.ManagedFields, metav1.ManagedFieldsEntry{
			Manager: fmt.Sprint("m", i), Operation: metav1.ManagedFieldsOperationUpdate, FieldsV1: &metav1.FieldsV1{Raw: raw}})
	}
	return p
}

func rawOf(p *corev1.Pod, i int) []byte { return p.ManagedFields[i].FieldsV1.Raw }

func TestFieldSetsShareIdenticalContent(t *testing.T) {
	var t0 fieldSets
	a := podWithFields("a", `{"f:spec":{}}`, `{"f:status":{"f:podIP":{}}}`)
	b := podWithFields("b", `{"f:spec":{}}`, `{"f:status":{"f:hostIP":{}}}`)
	t0.intern(a)
	t0.intern(b)
	if unsafe.SliceData(rawOf(a, 0)) != unsafe.SliceData(rawOf(b, 0)) {
		t.Error("identical field sets do not share their bytes")
	}
	if unsafe.SliceData(rawOf(a, 1)) == unsafe.SliceData(rawOf(b, 1)) {
		t.Error("different field sets share bytes")
	}
	if string(rawOf(b, 0)) != `{"f:spec":{}}` || string(rawOf(b, 1)) != `{"f:status":{"f:hostIP":{}}}` {
		t.Errorf("contents changed: %s %s", rawOf(b, 0), rawOf(b, 1))
	}
	for _, p := range []*corev1.Pod{a, b} {
		for i := range p.ManagedFields {
			if r := rawOf(p, i); cap(r) != len(r) {
				t.Errorf("%s: shared slice has spare capacity %d > %d: an append would write into it", p.Name, cap(r), len(r))
			}
		}
	}
	// A deep copy owns its bytes again.
	c := b.DeepCopy()
	c.ManagedFields[0].FieldsV1.Raw[0] = '['
	if string(rawOf(a, 0)) != `{"f:spec":{}}` {
		t.Error("changing a deep copy changed the shared set")
	}
}

// The table forgets the sets of objects the cache no longer holds once it has doubled.
func TestFieldSetsForgetWhatIsNoLongerHeld(t *testing.T) {
	c := &cacher{log: slog.Default(), objects: map[string]runtime.Object{}, changed: make(chan struct{}), watchers: map[*cacheWatcher]struct{}{}}
	key := func(i int) string { return fmt.Sprintf("/pods/ns/p%d", i) }
	// Each pod has a set of its own (as its IP makes it) and one shared by all; only the
	// latest 10 live, and the ring keeps the last ringSize events.
	for i := range 3 * ringSize {
		c.apply(Event{Type: watch.Added, Key: key(i), Revision: int64(2*i + 1),
			Object: podWithFields(key(i), `{"f:shared":{}}`, fmt.Sprintf(`{"f:own%d":{}}`, i))})
		if i >= 10 {
			c.apply(Event{Type: watch.Deleted, Key: key(i - 10), Revision: int64(2*i + 2)})
		}
	}
	held := map[string]bool{}
	var first []byte
	c.eachObject(func(obj runtime.Object) {
		if obj == nil {
			return
		}
		p := obj.(*corev1.Pod)
		held[string(rawOf(p, 1))] = true
		if first == nil {
			first = rawOf(p, 0)
		}
		if unsafe.SliceData(rawOf(p, 0)) != unsafe.SliceData(first) {
			t.Fatalf("%s: the shared set is not shared", p.Name)
		}
	})
	if len(held) >= ringSize {
		t.Fatalf("the ring holds the sets of %d pods: the test needs it to have dropped some", len(held))
	}
	// The table may grow to twice what it held when last rebuilt.
	if n := len(c.fields.sets); n > 2*(len(held)+1) && n > minFieldSetsLimit {
		t.Errorf("table holds %d sets; the objects held use %d", n, len(held)+1)
	}
}
