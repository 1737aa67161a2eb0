// Package statefulset is the StatefulSet controller: it gives every StatefulSet pods with a
// stable identity (<set>-<ordinal>), creates their PersistentVolumeClaims, starts, stops and
// updates them in order, and reports what it sees in the StatefulSet's status.
//
// # Identity and storage
//
// The pod with ordinal i (spec.ordinals.start <= i < start+replicas) is named <set>-<i>, has
// hostname <set>-<i> and subdomain spec.serviceName, the template's labels plus
// statefulset.kubernetes.io/pod-name, apps.kubernetes.io/pod-index and controller-revision-hash
// (the name of its ControllerRevision), and a controller reference. Each volumeClaimTemplate t
// becomes the PVC <t>-<set>-<i> (labelled with the selector's matchLabels), created before the
// pod and never deleted with it; the pod's volume named t refers to it. The controller does not
// wait for claims to be bound. persistentVolumeClaimRetentionPolicy: WhenDeleted=Delete gives
// the claims an owner reference to the set, WhenScaled=Delete an owner reference to the pod when
// its ordinal is scaled away (so the garbage collector removes them); Retain (the default)
// leaves them alone.
//
// # Ordering
//
// Pods are sorted into replicas (in the ordinal range) and condemned (outside it). With
// OrderedReady (the default) a sync walks the replicas in ordinal order and stops at the first
// one that has to be created (PVCs first) or that is not Running, Ready and available
// (minReadySeconds) or is terminating, so pod i+1 is only created once pod i is Ready; failed
// or succeeded pods are deleted and recreated. Condemned pods are deleted from the highest
// ordinal down, one at a time, once all replicas are healthy. With Parallel every missing pod is
// created and every condemned pod deleted at once.
//
// # Updates
//
// The template is recorded in a ControllerRevision <set>-<hash> (FNV-32 of the stored patch
// and status.collisionCount, as upstream); returning to an older template bumps that
// revision's number (a rollback). status.currentRevision is the revision the pods came from,
// status.updateRevision the one they go to. With RollingUpdate, replicas at index >= partition
// not at the update revision are deleted from the highest ordinal down while fewer than
// maxUnavailable (default 1) replicas are unavailable; they come back at the update revision.
// Replicas below the partition are recreated at the current revision. OnDelete only replaces
// pods someone deleted. Revisions beyond revisionHistoryLimit that no pod uses are deleted.
//
// # Status
//
// replicas, readyReplicas, availableReplicas, currentReplicas, updatedReplicas,
// currentRevision, updateRevision, collisionCount and observedGeneration are written through
// /status when they change; once a rolling update has updated every replica and they are all
// ready, currentRevision becomes updateRevision — what `kubectl rollout status sts/x` waits for.
//
// # Usage
//
//	factory := informers.NewSharedInformerFactory(client, 0)
//	ssc := statefulset.New(client, factory.Apps().V1().StatefulSets(), factory.Core().V1().Pods(),
//		factory.Core().V1().PersistentVolumeClaims(), factory.Apps().V1().ControllerRevisions())
//	factory.Start(ctx.Done())
//	go ssc.Run(ctx, 2)
//
// The decisions are pure functions in decide.go (plan: which pods to create, delete or fix;
// computeStatus).
package statefulset
