package controllerutil

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
)

// Owner is an object that owns others through a label selector (ReplicaSet, Job...).
type Owner interface {
	metav1.Object
	comparable
}

// ResolveControllerRef returns the owner a child's controller reference names: an object of
// kind, found by get (a lister's Get in the child's namespace), with the reference's UID — a
// successor that reuses the name is not the owner.
func ResolveControllerRef[T Owner](ref *metav1.OwnerReference, kind schema.GroupVersionKind, get func(name string) (T, error)) (T, bool) {
	var zero T
	if ref == nil || ref.Kind != kind.Kind || ref.APIVersion != kind.GroupVersion().String() {
		return zero, false
	}
	owner, err := get(ref.Name)
	if err != nil || owner == zero || owner.GetUID() != ref.UID {
		return zero, false
	}
	return owner, true
}

// Selecting returns the owners whose selector matches lbls (the labels of an orphan that
// one of them may adopt). Owners with an invalid or empty selector select nothing.
func Selecting[T Owner](owners []T, selector func(T) *metav1.LabelSelector, lbls map[string]string) []T {
	var out []T
	for _, o := range owners {
		sel, err := metav1.LabelSelectorAsSelector(selector(o))
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(lbls)) {
			continue
		}
		out = append(out, o)
	}
	return out
}

// FromEvent returns the object of an informer event as T, looking through the tombstone
// a delete handler may be given instead.
func FromEvent[T any](obj any) (T, bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	v, ok := obj.(T)
	return v, ok
}
