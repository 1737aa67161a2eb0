// Package nodelifecycle holds the node lifecycle controller and the taint-based eviction
// manager, as Kubernetes' node-lifecycle-controller and taint-eviction-controller do:
//
//   - Node health. A node is heard from when its Lease in kube-node-lease is renewed (its
//     spec.renewTime moves on) or when its Ready condition's lastHeartbeatTime changes. The
//     controller notes, on its own clock, when it last heard from each node (the "probe
//     time"; a node first seen counts as heard from then). A node not heard from for the
//     grace period (40s by default, WithGracePeriod; a node that never posted a Ready
//     condition gets the startup grace period, 60s, counted from its creation) gets its
//     Ready, MemoryPressure, DiskPressure and PIDPressure conditions set to Unknown (reason
//     NodeStatusUnknown, message "Kubelet stopped posting node status."; conditions it never
//     posted are added with reason NodeStatusNeverUpdated) through the status subresource.
//     The node's own next status report puts them back.
//   - NoExecute taints follow the Ready condition: Unknown gives
//     node.kubernetes.io/unreachable:NoExecute, False gives node.kubernetes.io/not-ready:NoExecute
//     (the one replaces the other), True removes both. Taints carry timeAdded.
//   - Pods bound to a node whose Ready condition is not True get their Ready condition set
//     to False (with a NodeNotReady event), as upstream's MarkPodsNotReady.
//   - Taint eviction. For a pod on a node with NoExecute taints, each taint is matched with
//     the first of the pod's tolerations that tolerates it. A taint nothing tolerates evicts
//     the pod at once; a toleration with tolerationSeconds evicts it that many seconds after
//     the taint's timeAdded (or, without timeAdded, after the controller first saw the
//     taint); a toleration without tolerationSeconds tolerates it for ever. The pod goes at
//     the earliest of these times. Eviction adds the DisruptionTarget condition (reason
//     DeletionByTaintManager) to the pod's status, records a TaintManagerEviction event and
//     deletes the pod (with a UID precondition). A pending eviction is re-decided when it
//     falls due, so one whose taint has gone (or that the pod now tolerates) is cancelled,
//     with a TaintManagerEviction "Cancelling deletion" event.
//
// The controller works from two queues: node names (health and taints; each node is
// re-queued for the moment its grace period would run out, and all nodes are re-examined
// every monitor period, 5s by default) and pod keys (marking not ready and eviction; a pod
// with an eviction pending is re-queued for when it falls due). Everything is read from the
// informers' caches.
//
//   - NoSchedule taints follow the conditions, as upstream's TaintNodesByCondition:
//     not-ready (Ready False), unreachable (Unknown), memory-, disk- and pid-pressure,
//     network-unavailable, and unschedulable for a cordoned node. They come and go at once.
//   - Eviction limits, by zone (the node's topology region and zone labels). Every monitor
//     period each zone's state is worked out from its nodes' Ready conditions: Normal,
//     PartialDisruption (more than two nodes and at least 55 % of them not ready) or
//     FullDisruption (none ready). A node's first NoExecute taint — the step that evicts
//     its pods — is given at the zone's rate: 0.1 nodes/s when Normal or FullDisruption,
//     0.01/s when PartialDisruption in a zone of more than 50 nodes, none in a smaller one
//     (WithEvictionRates). When every zone is in FullDisruption the controller enters
//     "master disruption": it assumes the fault is its own view of the nodes, removes the
//     NoExecute taints and evicts nothing; when a node is ready again it leaves that mode and
//     counts every node as heard from then. Swapping not-ready for unreachable, and removing
//     taints, are not limited.
//
// # Usage
//
//	factory := informers.NewSharedInformerFactory(client, 0)
//	leases := informers.NewSharedInformerFactoryWithOptions(client, 0,
//		informers.WithNamespace(corev1.NamespaceNodeLease))
//	c := nodelifecycle.New(client, factory.Core().V1().Nodes(),
//		leases.Coordination().V1().Leases(), factory.Core().V1().Pods())
//	factory.Start(ctx.Done())
//	leases.Start(ctx.Done())
//	go c.Run(ctx, 2)
//
// Leases outside kube-node-lease are ignored, so a cluster-wide lease informer does too. The
// decisions are pure functions in decide.go.
package nodelifecycle
