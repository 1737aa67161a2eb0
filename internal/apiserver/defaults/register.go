package defaults

import (
	"k8s.io/apimachinery/pkg/runtime"
)

// Register adds defaulting functions for every type this package knows to s, so that s.Default(obj)
// applies Kubernetes' defaults. s must already have the k8s.io/api types registered.
func Register(s *runtime.Scheme) {
	registerCore(s)
	registerApps(s)
	registerBatch(s)
	registerNetworking(s)
	registerDiscovery(s)
	registerRBAC(s)
	registerStorage(s)
	registerScheduling(s)
	registerAutoscaling(s)
	registerAdmissionRegistration(s)
	registerFlowControl(s)
	registerResource(s)
	registerAPIRegistration(s)
}

// objectPtr is satisfied by *T when *T is a runtime.Object.
type objectPtr[T any] interface {
	*T
	runtime.Object
}

// addObject registers fn as the defaulter of the object type *T.
func addObject[T any, PT objectPtr[T]](s *runtime.Scheme, fn func(PT)) {
	s.AddTypeDefaultingFunc(PT(new(T)), func(o interface{}) { fn(o.(PT)) })
}

// addList registers a defaulter for the list type *L that applies fn to
// every element returned by items.
func addList[L any, PL objectPtr[L], T any](s *runtime.Scheme, items func(PL) []T, fn func(*T)) {
	addObject(s, func(l PL) {
		elems := items(l)
		for i := range elems {
			fn(&elems[i])
		}
	})
}

// addWithList registers fn for the object type *T and, through items, for
// its list type *L.
func addWithList[T any, PT objectPtr[T], L any, PL objectPtr[L]](s *runtime.Scheme, fn func(*T), items func(PL) []T) {
	addObject(s, func(o PT) { fn((*T)(o)) })
	addList(s, items, fn)
}
