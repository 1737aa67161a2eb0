// Package controllerutil holds the small helpers the controllers share: pod state predicates
// (active, ready, available), the adoption/release protocol for owned objects
// (ownerReferences with controller=true), pod creation/deletion expectations, and the
// queue-worker loop.
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
//
// # Expectations
//
// A controller that creates or deletes pods records what it expects to see through its pod
// informer before it acts, and does not act on the owner again until the informer has caught
// up (or ExpectationsTTL has passed, in case a watch event was missed):
//
//	if c.expectations.Satisfied(key) {
//		c.expectations.ExpectCreations(key, n) // or ExpectDeletions(key, podKeys), Expect(key, n, podKeys)
//		// create the pods; for each that fails: c.expectations.CreationObserved(key)
//	}
//
// The pod event handlers call CreationObserved and DeletionObserved; the owner's delete
// handler calls Forget.
//
// # Workers
//
// Worker runs the usual rate-limited workqueue loop: Run waits for the informers, starts
// the workers and blocks until ctx ends, shutting the queue down on return. Each key is
// handed to Sync; a failure is logged ("Syncing <Name> failed") and the key re-added
// rate-limited, a success forgets the key's rate limiting:
//
//	w := &controllerutil.Worker{Name: "ReplicaSet", LogKey: "replicaset", Queue: c.queue, Sync: c.sync}
//	w.Run(ctx, workers, c.podsSynced, c.rsSynced)
//
// Controllers that do more once the caches synced call WaitForCacheSync themselves and then
// Start, which starts the workers without blocking.
package controllerutil
