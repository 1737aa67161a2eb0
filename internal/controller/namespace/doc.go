// Package namespace is the namespace lifecycle controller: it empties terminating namespaces
// and then releases them.
//
// Deleting a Namespace does not remove it at once. The API server sets
// metadata.deletionTimestamp and status.phase=Terminating, and the namespace stays while
// spec.finalizers holds the "kubernetes" token. This controller watches Namespaces; for every
// terminating namespace that still carries the token it
//
//  1. discovers every namespaced resource type that can be deleted (the preferred version of
//     each group, resources with the "delete" verb);
//  2. deletes the namespace's Pods first and waits until they are gone, then deletes the
//     objects of every other type: with deletecollection where the type supports it, else by
//     listing and deleting each object, always with propagationPolicy=Background;
//  3. lists every type again: objects that are still there (held by finalizers, or by a pod's
//     grace period) make it requeue the namespace after a delay;
//  4. records the outcome in the namespace's status conditions, as Kubernetes does:
//     NamespaceDeletionDiscoveryFailure, NamespaceDeletionGroupVersionParsingFailure,
//     NamespaceDeletionContentFailure, NamespaceContentRemaining and
//     NamespaceFinalizersRemaining (status True with the details while something is wrong,
//     False with an "all is well" message otherwise);
//  5. once nothing remains, removes "kubernetes" from spec.finalizers through the namespace's
//     finalize subresource. When no finalizer is left the API server removes the namespace; the
//     controller also issues a last Delete (with a UID precondition) in case it did not.
//
// Errors (discovery failures, failed deletions, content that remains without a finalizer to
// explain it) are returned to the rate-limited queue, which retries with backoff; partial
// discovery never lets a namespace be finalized.
//
// # Usage
//
//	factory := informers.NewSharedInformerFactory(client, 0)
//	ctrl := namespace.New(client, metadata.NewForConfigOrDie(cfg), client.Discovery(),
//		factory.Core().V1().Namespaces())
//	factory.Start(ctx.Done())
//	go ctrl.Run(ctx, 5)
//
// The decisions (which resources to delete, what remains, which conditions to set, how long
// to wait) are pure functions in decide.go and conditions.go; controller.go and content.go do
// the I/O.
package namespace
