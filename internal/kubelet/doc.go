// Package kubelet is kijabi's node agent: it registers its Node, keeps a Lease and the
// node status fresh, and runs the pods bound to it through a CRI runtime.
//
// # Main loop
//
// An informer watches only the pods whose spec.nodeName is this node. Each pod gets a
// worker goroutine (podWorker) that owns everything done for that pod; the informer and
// the relister only poke it. A worker's sync is level-based: it asks the runtime for the
// pod's sandboxes and containers (found by the io.kubernetes.pod.uid label), compares
// them with the pod's spec and acts — create the sandbox, run the init containers one by
// one, start or restart the app containers, kill what must go — then derives the pod's
// status from what the runtime reports and writes it through the status subresource when
// it changed. Because the truth is read from the runtime every time, a restarted kubelet
// adopts the containers that are already running instead of restarting them.
//
// The relister (the kubelet's PLEG) lists the runtime's containers every second and pokes
// the workers of the pods whose containers changed state, so exits are noticed within a
// second without every worker polling.
//
// # Deletion
//
// A pod with a deletionTimestamp is stopped gracefully (preStop hooks, then StopContainer
// with the remaining grace period: SIGTERM, then SIGKILL) and its sandbox stopped and
// removed; then the kubelet deletes the API object with grace period 0, which is what
// finally removes it from etcd. A pod that disappears from the API while the kubelet was
// down has its sandboxes and containers removed by the orphan sweep at start.
//
// # Resources
//
// Each pod's containers run with the resources the kubelet allocated them, which a
// resize (pods/resize) changes only once admitted: as a whole, when the pod fits the
// node's allocatable next to what the other pods are allocated; else it stays pending,
// Infeasible or Deferred (retried when room is made). Admitted, it is applied to the
// running containers in place (CRI UpdateContainerResources), or by a restart where
// their resizePolicy says RestartContainer. The allocation and what was applied live
// in the pod's directory (resources.json), for a restarted kubelet. See resize.go.
//
// # Restarts
//
// Restarts follow restartPolicy with the kubelet's crash-loop back-off (10s doubling to
// 5 minutes, reset after 10 minutes of running); liveness and startup probe failures kill
// the container, which the policy then restarts.
package kubelet
