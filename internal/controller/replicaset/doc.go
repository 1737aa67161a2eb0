// Package replicaset is the ReplicaSet controller: it keeps the number of running pods of
// every ReplicaSet at spec.replicas and reports what it sees in the ReplicaSet's status.
//
// For each ReplicaSet the controller
//
//  1. claims pods: active pods (not Succeeded/Failed, not being deleted) in the namespace that
//     match the selector and have no controller are adopted (an ownerReference with
//     controller=true, blockOwnerDeletion=true is patched in, after an uncached read of the
//     ReplicaSet); owned pods that stopped matching are released;
//  2. creates pods when it owns too few, from spec.template: generateName "<rs-name>-" (the
//     API server appends 5 random characters), the template's labels, annotations and
//     finalizers, and a controller reference to the ReplicaSet. Creations go in slow-start
//     batches of 1, 2, 4, ... and stop at the first failed batch, so a ReplicaSet that cannot
//     create pods (quota, admission) does not hammer the API server; at most 500 per sync;
//  3. deletes pods when it owns too many, preferring (as Kubernetes does) unscheduled over
//     scheduled, Pending over Unknown over Running, not ready over ready, a lower
//     controller.kubernetes.io/pod-deletion-cost, pods on nodes crowded with sibling pods,
//     pods ready for less time, more container restarts, and newer pods;
//  4. writes status through the /status subresource, only when it changed: replicas,
//     fullyLabeledReplicas (pods carrying all template labels), readyReplicas,
//     availableReplicas (ready for at least spec.minReadySeconds), observedGeneration, and a
//     ReplicaFailure condition (reason FailedCreate or FailedDelete, the error as message)
//     while creating or deleting pods fails. Pods it just deleted are no longer counted.
//
// Expectations: after issuing creations or deletions the controller does not resize the
// ReplicaSet again until its pod informer has reported each of them (or 5 minutes passed),
// so a lagging cache never leads to creating or deleting twice. Status is still updated.
//
// # Usage
//
//	factory := informers.NewSharedInformerFactory(client, 0)
//	rsc := replicaset.New(client, factory.Core().V1().Pods(), factory.Apps().V1().ReplicaSets())
//	factory.Start(ctx.Done())
//	go rsc.Run(ctx, 5)
//
// Options: WithClock (a k8s.io/utils/clock.Clock, for tests) and WithEventRecorder.
// The decisions (how many pods, which to delete, the status) are pure functions in decide.go.
package replicaset
