// Package controllerutil holds the small helpers the replicaset and deployment controllers
// share: pod state predicates (active, ready, available) and the adoption/release protocol
// for owned objects (ownerReferences with controller=true).
//
// # Claiming
//
// A controller "claims" the objects its selector matches, as Kubernetes controllers do:
//   - an object whose controller reference names another owner is left alone;
//   - an object it owns that no longer matches the selector is released (its owner reference is
//     removed with a strategic merge patch), unless the owner itself is being deleted;
//   - an orphan that matches the selector is adopted (an owner reference with controller=true and
//     blockOwnerDeletion=true is added with a strategic merge patch), but only after a fresh,
//     uncached read confirms the owner still exists with the same UID and is not being deleted.
//
// For example:
//
//	claimed, err := controllerutil.Claim(ctx, controllerutil.Claimer{
//		Owner: rs, OwnerKind: appsv1.SchemeGroupVersion.WithKind("ReplicaSet"),
//		Selector: sel, CanAdopt: recheck, Patch: patchPod,
//	}, pods)
//
// Patches are idempotent and carry the child's UID so they fail rather than touch a
// re-created object of the same name. NotFound on a patch means the child is gone and is not
// an error.
package controllerutil
