// Package garbagecollector is the garbage collector: it deletes objects whose owners are all
// gone and carries out the foreground and orphan deletion of owners, as Kubernetes'
// garbage collector does.
//
// # The graph
//
// Discovery names every resource that can be listed, watched and deleted (events excepted);
// one metadata informer (PartialObjectMetadata) per resource feeds an ownership graph of
// nodes keyed by UID, each with its owner references and its dependents. An owner named by a
// reference but not seen (yet) is a virtual node, which the collector checks with a live read.
// Discovery is read again periodically (WithDiscoveryPeriod, default 30s): informers start for
// new resources and stop for resources gone. The workers start once every informer has
// delivered its initial list to the graph.
//
// # Decisions
//
// An object is looked at when it appears with owners, when one of its owners goes, and when an
// owner starts a foreground deletion. The collector reads it afresh and then reads each owner
// afresh, by name, comparing UIDs (like upstream, a cached absence is never trusted):
//   - an owner that is gone or replaced is dangling; one being deleted with the
//     foregroundDeletion finalizer is waiting; any other is solid;
//   - with a solid owner, the object stays; references to dangling and waiting owners are
//     patched away;
//   - with none, it is deleted (with a UID precondition): in the foreground when an owner
//     waits for it and it has dependents of its own (first clearing its blockOwnerDeletion
//     references when one of those dependents itself waits, to avoid deadlock), otherwise with
//     the policy its own finalizers ask for, background by default.
//
// # Foreground and orphan deletion
//
// An owner being deleted with the foregroundDeletion finalizer has its dependents deleted as
// above; once no dependent with blockOwnerDeletion=true remains in the graph, the finalizer is
// removed (and the API server deletes the owner). An owner being deleted with the orphan
// finalizer has its reference removed from each of its dependents, then the finalizer.
// Informers of different resources deliver events independently, so the collector waits a
// moment (2s) before acting on an owner that starts either, letting dependents created just
// before its deletion reach the graph.
//
// All writes are JSON merge patches of metadata (ownerReferences, finalizers) carrying the
// object's resourceVersion, retried on conflict, so they work for any resource, and deletions
// through the metadata client.
//
// # Usage
//
//	gc := garbagecollector.New(client, metadataClient, client.Discovery())
//	go gc.Run(ctx, 5)
package garbagecollector
