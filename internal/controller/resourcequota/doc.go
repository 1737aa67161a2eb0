// Package resourcequota is the ResourceQuota controller, as kube-controller-manager's: it keeps
// every quota's status.hard equal to spec.hard and status.used equal to what the namespace's
// objects the quota's scopes select count (internal/quota's Usage), for the names spec.hard
// lists. The API server's quota admission checks and charges new objects against status.used
// as they are created; this controller recalculates from what exists, which is how usage
// comes back down.
//
// A quota is recalculated:
//   - when it is created, when its spec changes, or when its status.hard differs from its
//     spec.hard (status.used writes, admission's charges, are not a reason);
//   - when an object its hard names track is deleted (pods, services, persistentvolumeclaims,
//     configmaps, secrets, replicationcontrollers, resourcequotas), or is updated in a way that
//     changes what it counts against the quota or whether the quota's scopes select it (a pod
//     turning Succeeded or Failed, a service changing type or ports, a claim growing...);
//   - when a pod being deleted reaches the end of its grace period, from which it stops
//     counting;
//   - and every 5 minutes (WithResyncPeriod), all of them.
//
// Creations are not a reason either: admission already charged them, and a recalculation
// from a cache that has not seen the new object yet would hand back quota that is in use.
//
// Usage is summed from the shared informers' caches for the seven kinds above. For a
// count/<resource>.<group> name of any other resource the controller asks a Counter when it
// recalculates (MetadataCounter lists the namespace's objects through the metadata client,
// finding the resource's version by discovery); such a count catches up with deletions at the
// next resync, as there is no informer to report them. Without a Counter, or for a resource the
// server does not serve, the name is left out of the calculation and status.used keeps what it
// had for it, as upstream does for resources it has no evaluator for. A scoped quota counts 0
// for object counts of kinds its scopes cannot select.
//
// Status is written with UpdateStatus, and only when hard or used change.
package resourcequota
