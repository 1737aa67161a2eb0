// Package daemonset is the DaemonSet controller: it runs one pod of every DaemonSet on each
// node that should run it, rolls pods over to a new template, and reports what it sees in the
// DaemonSet's status.
//
// # Eligibility
//
// A node should run a daemon pod when it matches the template's spec.nodeName (if set), its
// nodeSelector and required node affinity, and the template's tolerations plus the standard
// daemon tolerations tolerate all of the node's NoSchedule and NoExecute taints. A pod already
// on a node may stay when the only untolerated taints are NoSchedule. The standard daemon
// tolerations (added to every pod, as upstream) are node.kubernetes.io/not-ready and
// unreachable (NoExecute), disk-pressure, memory-pressure, pid-pressure and unschedulable
// (NoSchedule), and network-unavailable (NoSchedule) for hostNetwork pods.
//
// # Pods
//
// Pods are created with generateName "<ds>-", the template's labels plus
// controller-revision-hash (and pod-template-generation when the DaemonSet carries the
// deprecated.daemonset.template.generation annotation), a controller reference, and a required
// node affinity replaced by the single term metadata.name In [node]; the scheduler binds them.
// Each sync (upstream's manage loop) creates a pod on each eligible node without one (slow
// start batches, at most 250 per sync); deletes pods on nodes where none may continue running
// and on nodes that no longer exist (without grace if bound there: no kubelet is left), pods
// that Succeeded, pods that Failed (with a per-node backoff of 1s doubling to 15m), and extra
// pods on a node (all but the oldest; with surge an old and a new one may coexist until the
// new one is available or the old one is not ready). Expectations keep a lagging informer from
// causing double creations or deletions.
//
// # History and updates
//
// The template is recorded in a ControllerRevision named "<ds>-<hash>" (hash: FNV-32a of the
// template and status.collisionCount, as upstream), labelled with the template labels and
// controller-revision-hash, holding a strategic merge patch that replaces spec.template.
// A template equal to an older revision reuses it with a new revision number (a rollback).
// Old revisions beyond spec.revisionHistoryLimit that no pod runs are deleted.
//
// RollingUpdate (once the manage loop has nothing to do): without maxSurge, old pods are
// deleted while fewer than maxUnavailable (rounded up from a percentage of the desired number)
// nodes are unavailable, and old pods that are unavailable anyway are always replaced; the
// manage loop then creates the new pods. With maxSurge, new pods are created next to old ones
// (at most maxSurge at a time, at once where the old pod is unavailable) and the old pod is
// deleted when the new one is available. OnDelete only replaces pods someone deleted.
//
// # Status
//
// desiredNumberScheduled (eligible nodes), currentNumberScheduled (eligible nodes with a pod),
// numberMisscheduled (ineligible nodes with a pod), numberReady, numberAvailable (ready for
// minReadySeconds), updatedNumberScheduled (at the current revision), numberUnavailable and
// observedGeneration — counted on the oldest pod of each node — are written through /status
// when they change, which is what `kubectl rollout status ds/x` reads.
//
// # Usage
//
//	factory := informers.NewSharedInformerFactory(client, 0)
//	dsc := daemonset.New(client, factory.Apps().V1().DaemonSets(), factory.Core().V1().Pods(),
//		factory.Core().V1().Nodes(), factory.Apps().V1().ControllerRevisions())
//	factory.Start(ctx.Done())
//	go dsc.Run(ctx, 2)
//
// The decisions are pure functions in decide.go (eligibility, the manage plan, rolling update
// steps, status).
package daemonset
