package storage

import (
	"unsafe"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
)

// fieldSets makes the managedFields field sets (metadata.managedFields[].fieldsV1) of the
// objects a watch cache holds share one byte slice per distinct content.
//
// They are the largest part of a decoded object, and mostly repeated: the pods of one
// ReplicaSet carry the same set for the controller manager that created them, and each
// version of an object in the event ring repeats the sets of the versions before it. At
// 10,000 pods they were a sixth of the API server's heap.
//
// Sharing is safe because cached objects are read-only (whoever changes one copies it first,
// and DeepCopy copies the bytes), and the shared slices have no spare capacity that an
// append could write into. The table forgets sets no longer held: when it has doubled since
// it was last rebuilt, it is rebuilt from the objects still in the cache (amortized O(1)
// per object). Not safe for concurrent use: the cacher calls it under its lock.
type fieldSets struct {
	// sets maps content to its shared slice; keys alias the slices (never modified).
	sets  map[string][]byte
	limit int
}

const minFieldSetsLimit = 1024

// intern replaces obj's field sets with the shared ones, adding new contents to the table.
// obj must not have been published yet.
func (t *fieldSets) intern(obj runtime.Object) {
	if t.sets == nil {
		t.sets, t.limit = map[string][]byte{}, minFieldSetsLimit
	}
	a, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	for _, e := range a.GetManagedFields() {
		if e.FieldsV1 == nil || len(e.FieldsV1.Raw) == 0 {
			continue
		}
		raw := e.FieldsV1.Raw
		if shared, ok := t.sets[string(raw)]; ok { // no allocation for the lookup
			e.FieldsV1.Raw = shared
			continue
		}
		raw = raw[:len(raw):len(raw)]
		e.FieldsV1.Raw = raw
		t.sets[unsafe.String(unsafe.SliceData(raw), len(raw))] = raw
	}
}

// full reports whether the table should be rebuilt with rebuild.
func (t *fieldSets) full() bool { return len(t.sets) > t.limit }

// rebuild keeps only the sets that held objects use; each(f) must call f on every object
// the cache still holds (current objects and the ring's).
func (t *fieldSets) rebuild(each func(f func(runtime.Object))) {
	sets := make(map[string][]byte, len(t.sets)/2)
	each(func(obj runtime.Object) {
		if obj == nil {
			return
		}
		a, err := meta.Accessor(obj)
		if err != nil {
			return
		}
		for _, e := range a.GetManagedFields() {
			if e.FieldsV1 != nil && len(e.FieldsV1.Raw) > 0 {
				raw := e.FieldsV1.Raw
				sets[unsafe.String(unsafe.SliceData(raw), len(raw))] = raw
			}
		}
	})
	t.sets, t.limit = sets, max(2*len(sets), minFieldSetsLimit)
}
