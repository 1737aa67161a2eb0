// Package storage keeps API objects in etcd, the only package that talks to it.
//
// A Store serves one resource: it encodes objects with the codec it was given, keeps them
// under "<prefix><namespace>/<name>" (or "<prefix><name>" for cluster-scoped objects) and maps
// etcd's revisions onto Kubernetes' resourceVersion:
//
//   - every object's resourceVersion is the etcd ModRevision of its key;
//   - a list is read at one revision, and its resourceVersion is that revision;
//   - watches resume from a revision, and report ErrCompacted (410 Gone at the API) when etcd has
//     already compacted it away.
//
// Writes are optimistic: an update reads the object (from the watch cache when it runs), lets the
// caller compute the new one, and commits with a transaction that succeeds only if the key's
// ModRevision has not moved, retrying from the current value otherwise. Nothing is written when the new encoding equals the stored one,
// so no-op updates do not bump resourceVersion (as in Kubernetes).
//
// Once StartCache runs, a watch cache serves reads, lists and watches from memory. It keeps
// objects as stored (the bytes etcd holds) and decodes on demand, so that it costs about what
// etcd's own copy does; ReadStored, ListOptions.Stored and Event.Stored hand the stored bytes
// to a server that can send them as they are.
//
// The Compactor compacts etcd's history periodically, always keeping one interval of history so
// that watchers which are briefly behind can resume.
package storage
