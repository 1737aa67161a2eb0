package controllerutil

import (
	"k8s.io/apimachinery/pkg/api/meta"
)

// StripManagedFields is an informer transform (informers.WithTransform) that drops
// metadata.managedFields before objects enter a cache: controllers never read them, and they
// are often the largest part of an object, so caches of many pods shrink by half or more.
func StripManagedFields(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil && a.GetManagedFields() != nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}
