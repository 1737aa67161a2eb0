// Package deployment is the Deployment controller: it rolls a Deployment's pod template out
// through ReplicaSets, as Kubernetes does, so that kubectl rollout status|history|undo|pause|
// resume|restart and kubectl set image work.
//
// For each Deployment the controller claims the ReplicaSets its selector matches (adopting
// orphans, releasing those that stopped matching) and finds the "new" one: the oldest whose
// template equals spec.template ignoring the pod-template-hash label. Then, per sync:
//
//   - Paused (spec.paused): no rollout. Only resizing and cleanup happen, and the Progressing
//     condition becomes Unknown/DeploymentPaused ("Deployment is paused"), then
//     DeploymentResumed ("Deployment is resumed") on resume.
//   - Resized (an active ReplicaSet's deployment.kubernetes.io/desired-replicas differs from
//     spec.replicas): a lone active ReplicaSet takes the new size; mid-rollout the difference
//     is spread over the active ReplicaSets in proportion to their size relative to their
//     deployment.kubernetes.io/max-replicas (proportional scaling), leftovers to the largest.
//   - RollingUpdate: a missing new ReplicaSet is created, named <name>-<hash> where hash is
//     the FNV-32a hash of the template (plus status.collisionCount) encoded with
//     rand.SafeEncodeString and added as pod-template-hash to its labels, selector and
//     template. It grows while all ReplicaSets together stay within spec.replicas+maxSurge;
//     old ones shrink (unavailable pods first, oldest first) while at least
//     spec.replicas-maxUnavailable pods stay available. maxSurge rounds up, maxUnavailable
//     down; if both are 0, maxUnavailable is 1.
//   - Recreate: old ReplicaSets go to 0; once none of their pods run, the new one is created
//     at full size.
//
// Revisions: the new ReplicaSet gets deployment.kubernetes.io/revision = 1 + the highest
// revision among the old ones, and the Deployment carries the same annotation. A rollback
// (kubectl rollout undo patches an old ReplicaSet's template back into the Deployment) makes
// that ReplicaSet new again: its revision moves up and its earlier revisions are kept in
// deployment.kubernetes.io/revision-history. The Deployment's annotations (e.g.
// kubernetes.io/change-cause) are copied to the new ReplicaSet. Once a rollout completes,
// old ReplicaSets beyond spec.revisionHistoryLimit that have no pods are deleted, lowest
// revision first. spec.rollbackTo does not exist in apps/v1 and is not supported.
//
// Status (through /status, only when changed): observedGeneration, replicas,
// updatedReplicas, readyReplicas, availableReplicas, unavailableReplicas, collisionCount;
// the Available condition (MinimumReplicasAvailable "Deployment has minimum availability." /
// MinimumReplicasUnavailable "Deployment does not have minimum availability."); the
// Progressing condition (NewReplicaSetCreated, FoundNewReplicaSet, ReplicaSetUpdated,
// NewReplicaSetAvailable, ProgressDeadlineExceeded after progressDeadlineSeconds without
// progress, ReplicaSetCreateError) and ReplicaFailure copied from the ReplicaSets.
//
// Two deliberate tightenings over Kubernetes: while growing the new ReplicaSet a ReplicaSet
// counts as max(spec.replicas, status.replicas), so pods an old ReplicaSet has not yet
// deleted still count against maxSurge; and an old ReplicaSet's available pods count as at
// most its spec.replicas, so a status lagging a scale-down cannot cause a second one.
//
// # Usage
//
//	factory := informers.NewSharedInformerFactory(client, 0)
//	dc := deployment.New(client, factory.Apps().V1().Deployments(),
//		factory.Apps().V1().ReplicaSets(), factory.Core().V1().Pods())
//	factory.Start(ctx.Done())
//	go dc.Run(ctx, 5)
//
// It needs the ReplicaSet controller (package replicaset) to run too. Options: WithClock
// and WithEventRecorder. Decisions are pure functions in plan.go; rollout.go applies them.
package deployment
