package controllerutil

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// Claimer describes an owner claiming children.
type Claimer struct {
	// Owner is the controller object.
	Owner metav1.Object
	// OwnerKind is its group/version/kind, for owner references.
	OwnerKind schema.GroupVersionKind
	// Selector selects the children the owner wants.
	Selector labels.Selector
	// CanAdopt is called (at most once per Claim) before the first adoption; it should read the
	// owner afresh and fail if it is gone, has another UID or is being deleted.
	CanAdopt func(ctx context.Context) error
	// Patch applies a strategic merge patch to the named child.
	Patch func(ctx context.Context, namespace, name string, patch []byte) error
}

// Claim adopts matching orphans and releases owned children that no longer match, and
// returns the children the owner now controls. Errors from individual patches are
// aggregated; the children claimed so far are returned with them.
func Claim[T metav1.Object](ctx context.Context, c Claimer, children []T) ([]T, error) {
	var (
		claimed []T
		errs    []error
	)
	adoptable := sync.OnceValue(func() error { return c.CanAdopt(ctx) })
	ownerDeleting := c.Owner.GetDeletionTimestamp() != nil
	for _, child := range children {
		matches := c.Selector.Matches(labels.Set(child.GetLabels()))
		if ref := metav1.GetControllerOfNoCopy(child); ref != nil {
			if ref.UID != c.Owner.GetUID() {
				continue // someone else's
			}
			if matches || ownerDeleting {
				// Ours (an owner being deleted keeps what it has, for the garbage collector).
				claimed = append(claimed, child)
				continue
			}
			err := c.Patch(ctx, child.GetNamespace(), child.GetName(), ReleasePatch(c.Owner.GetUID(), child.GetUID()))
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
				errs = append(errs, err)
			}
			continue
		}
		// An orphan.
		if !matches || ownerDeleting || child.GetDeletionTimestamp() != nil || child.GetNamespace() != c.Owner.GetNamespace() {
			continue
		}
		if err := adoptable(); err != nil {
			errs = append(errs, err)
			continue
		}
		err := c.Patch(ctx, child.GetNamespace(), child.GetName(), AdoptPatch(c.Owner, c.OwnerKind, child.GetUID()))
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		claimed = append(claimed, child)
	}
	return claimed, utilerrors.NewAggregate(errs)
}

// AdoptPatch is a strategic merge patch adding a controller reference to owner on the child
// with UID childUID.
func AdoptPatch(owner metav1.Object, kind schema.GroupVersionKind, childUID types.UID) []byte {
	ref := metav1.NewControllerRef(owner, kind)
	patch := map[string]any{"metadata": map[string]any{
		"ownerReferences": []metav1.OwnerReference{*ref},
		"uid":             childUID,
	}}
	b, err := json.Marshal(patch)
	if err != nil {
		panic(fmt.Sprintf("marshalling adoption patch: %v", err)) // cannot happen
	}
	return b
}

// ReleasePatch is a strategic merge patch removing the owner reference with UID ownerUID from
// the child with UID childUID.
func ReleasePatch(ownerUID, childUID types.UID) []byte {
	return fmt.Appendf(nil, `{"metadata":{"ownerReferences":[{"$patch":"delete","uid":%q}],"uid":%q}}`, ownerUID, childUID)
}

// RecheckOwner returns a CanAdopt function: get reads the owner afresh (from the API server,
// not a cache) and adoption is refused if it is gone, was replaced or is being deleted.
func RecheckOwner(owner metav1.Object, get func(ctx context.Context) (metav1.Object, error)) func(context.Context) error {
	return func(ctx context.Context) error {
		fresh, err := get(ctx)
		if err != nil {
			return err
		}
		if fresh.GetUID() != owner.GetUID() {
			return fmt.Errorf("original %s/%s is gone: got uid %v, wanted %v", owner.GetNamespace(), owner.GetName(), fresh.GetUID(), owner.GetUID())
		}
		if fresh.GetDeletionTimestamp() != nil {
			return fmt.Errorf("%s/%s has just been deleted at %v", owner.GetNamespace(), owner.GetName(), fresh.GetDeletionTimestamp())
		}
		return nil
	}
}
