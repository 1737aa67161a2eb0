package apiserver

import (
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// writeTypeConverter is the type converter of the field managers of built-in resources. It
// skips the schema check of the objects an update (not an apply) tracks: the field manager
// asks for both the live and the new object with duplicates allowed, the objects are Go
// structs that cannot disagree with their own schema, and the comparison that follows walks
// them by the schema anyway (refusing what the check would have refused). The check was
// close to half of the field manager's cost on every write. Applied configurations, and
// unstructured objects, are still checked.
type writeTypeConverter struct {
	managedfields.TypeConverter
	// types maps a kind (schema.GroupVersionKind) to its schema and type (typeOf), learned
	// from the first checked conversion.
	types sync.Map
}

type typeOf struct {
	schema *smdschema.Schema
	ref    smdschema.TypeRef
}

func (c *writeTypeConverter) ObjectToTyped(obj runtime.Object, opts ...typed.ValidationOptions) (*typed.TypedValue, error) {
	if _, ok := obj.(*unstructured.Unstructured); ok || !slices.Contains(opts, typed.AllowDuplicates) {
		return c.TypeConverter.ObjectToTyped(obj, opts...)
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	t, ok := c.types.Load(gvk)
	if !ok {
		tv, err := c.TypeConverter.ObjectToTyped(obj, opts...)
		if err != nil {
			return nil, err
		}
		c.types.Store(gvk, typeOf{schema: tv.Schema(), ref: tv.TypeRef()})
		return tv, nil
	}
	v, err := value.NewValueReflect(obj)
	if err != nil {
		return nil, err
	}
	ty := t.(typeOf)
	return typed.AsTypedUnvalidated(v, ty.schema, ty.ref), nil //nolint:staticcheck // see the type's comment
}
