package apiserver

import (
	"reflect"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Managed fields are tracked by upstream's FieldManager (k8s.io/apimachinery's
// util/managedfields), unchanged: what it writes into metadata.managedFields is what
// kube-apiserver writes. Its cost on every write is mostly one walk: the comparison of the
// live and the new object, field by field through reflection, to find what the writer added,
// changed or removed. Two things here make that cheaper without changing its result (the
// differential tests in fieldtrack_test.go run both ways):
//
//   - noCopyConverter: the manager converts both objects to the version it tracks before
//     comparing them. For an object already in that version the scheme returns a deep copy;
//     the manager only reads the copy, so a shallow one (a new top-level struct, with the
//     version's kind set) does.
//   - trackUpdate: the comparison finds nothing in a part of the object that is the same
//     in the live and the new object. An update rarely changes every part: a status write
//     leaves the spec as it is, an update of the spec leaves the status. Those parts are
//     blanked in both objects before the comparison (in shallow copies), so it does not walk
//     them.
//   - trackCreate: a create is compared with an empty object, without other managers'
//     entries to decode or merge; createtrack.go does that comparison without the
//     manager's layers, and remembers its answers for objects created alike.
//   - updatetrack.go: around that comparison, the manager decodes every entry, changes
//     the sets, caps and encodes them again, in layers that go through JSON;
//     trackUpdateDirect does that bookkeeping itself, for the objects whose entries it is
//     sure of, and leaves the others to the manager.

// noCopyConverter is the object converter of the field managers of built-in resources.
type noCopyConverter struct {
	runtime.ObjectConvertor
	scheme *runtime.Scheme
}

// ConvertToVersion returns in itself, shallow-copied with its kind set, when it is already
// of the target version, as the scheme would without the deep copy; it converts otherwise.
func (c noCopyConverter) ConvertToVersion(in runtime.Object, target runtime.GroupVersioner) (runtime.Object, error) {
	if _, ok := in.(runtime.Unstructured); !ok {
		kinds, unversioned, err := c.scheme.ObjectKinds(in)
		if err == nil && !unversioned {
			if gvk, ok := target.KindForGroupVersionKinds(kinds); ok && slices.Contains(kinds, gvk) {
				if out, ok := shallowCopy(in); ok {
					if gvk.Version == runtime.APIVersionInternal {
						gvk = schema.GroupVersionKind{}
					}
					out.GetObjectKind().SetGroupVersionKind(gvk)
					return out, nil
				}
			}
		}
	}
	return c.ObjectConvertor.ConvertToVersion(in, target)
}

// trackCreate records in obj's managedFields that manager set the fields of the new object
// obj.
func (r *resource) trackCreate(obj runtime.Object, manager string) (runtime.Object, error) {
	if out, ok, err := r.trackCreateCached(obj, manager); ok {
		return out, err
	}
	return r.managers[""].Update(r.newObj(), obj, manager)
}

// trackUpdate records in obj's managedFields what manager changed from live to obj through
// subresource, as the subresource's FieldManager does.
func (r *resource) trackUpdate(subresource string, live, obj runtime.Object, manager string) (runtime.Object, error) {
	fm := r.manager(subresource)
	if r.cr != nil {
		return fm.Update(live, obj, manager)
	}
	projLive, projObj, ok := projectUnchanged(live, obj, r.gvk.GroupVersion().String())
	if !ok {
		return fm.Update(live, obj, manager)
	}
	// The same comparison, without the manager's layers, when it can (updatetrack.go).
	if out, ok := r.trackUpdateDirect(subresource, live, obj, projLive, projObj, manager); ok {
		return out, nil
	}
	out, err := fm.Update(projLive, projObj, manager)
	if err != nil {
		return nil, err
	}
	oa, err := meta.Accessor(out)
	if err != nil {
		return nil, err
	}
	a, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	a.SetManagedFields(oa.GetManagedFields())
	return obj, nil
}

// projectUnchanged returns shallow copies of live and obj (typed objects of one type) in
// which the top-level fields other than the type and object metadata that are deeply equal
// in both are zero. ok is false when that would not give the field manager the same result:
// objects that are not typed structs, or managedFields entries of another version than
// version (the manager then compares conversions of the objects, which may depend on the
// blanked parts).
func projectUnchanged(live, obj runtime.Object, version string) (runtime.Object, runtime.Object, bool) {
	lv, nv := reflect.ValueOf(live), reflect.ValueOf(obj)
	if lv.Kind() != reflect.Pointer || lv.IsNil() || nv.Kind() != reflect.Pointer || nv.IsNil() || lv.Type() != nv.Type() ||
		lv.Elem().Kind() != reflect.Struct {
		return nil, nil, false
	}
	la, err := meta.Accessor(live)
	if err != nil || !sameVersion(la.GetManagedFields(), version) {
		return nil, nil, false
	}
	na, err := meta.Accessor(obj)
	if err != nil || !sameVersion(na.GetManagedFields(), version) {
		return nil, nil, false
	}
	le, ne := lv.Elem(), nv.Elem()
	t := le.Type()
	var blank []int
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous || !f.IsExported() || f.Type == objectMetaType {
			continue
		}
		if reflect.DeepEqual(le.Field(i).Addr().Interface(), ne.Field(i).Addr().Interface()) && !le.Field(i).IsZero() {
			blank = append(blank, i)
		}
	}
	if len(blank) == 0 {
		return live, obj, true
	}
	pl, pn := reflect.New(t), reflect.New(t)
	pl.Elem().Set(le)
	pn.Elem().Set(ne)
	for _, i := range blank {
		pl.Elem().Field(i).SetZero()
		pn.Elem().Field(i).SetZero()
	}
	return pl.Interface().(runtime.Object), pn.Interface().(runtime.Object), true
}

var objectMetaType = reflect.TypeFor[metav1.ObjectMeta]()

// sameVersion reports whether every managedFields entry is of version.
func sameVersion(entries []metav1.ManagedFieldsEntry, version string) bool {
	for i := range entries {
		if entries[i].APIVersion != version {
			return false
		}
	}
	return true
}
