// Package scheduler is kijabi's Kubernetes v1.37-compatible pod scheduler.
//
// It talks to the API server only through client-go: a shared informer
// factory (pods, nodes, namespaces) feeds its state, and it writes only
// bindings (POST pods/{name}/binding), Events, pod status patches and
// preemption deletions.
//
// # Layers
//
//   - Snapshot (snapshot.go, filters.go, scores.go, preempt.go) is the pure
//     core: nodes, bound/assumed pods and per-node aggregates, with
//     Schedule, Filter, Score and Preempt. No I/O, no clock, no goroutines
//     (unless Parallelism > 1). Tests and the benchmark use it directly.
//   - Harness (harness.go) drives a Snapshot the way the Scheduler does and
//     records Bindings, FailedScheduling events and preemption victims.
//   - Queue (queue.go) is the scheduling queue, time taken from an injected
//     k8s.io/utils/clock.
//   - Scheduler (scheduler.go) wires informers → Snapshot/Queue and runs the
//     main loop, binding and reporting through the API.
//
// # Main loop (Scheduler.Run)
//
//  1. Wait for informer caches to sync; start Queue.Run (flushes backoff
//     every 1s, the unschedulable set every 30s).
//  2. Pop the highest-priority pod (spec.priority desc, then creation time).
//  3. Under Scheduler.mu: Snapshot.Schedule(pod).
//     - PreFilter: compute requests, compile affinity terms, build the
//     InterPodAffinity and PodTopologySpread (DoNotSchedule) states.
//     - If status.nominatedNodeName is set and still fits, take it.
//     - Filter nodes starting at a rotating index, in upstream order:
//     NodeUnschedulable, NodeName, TaintToleration, NodeAffinity,
//     NodePorts, NodeResourcesFit, PodTopologySpread, InterPodAffinity;
//     the first failing filter gives the node's status. Filtering stops
//     after numFeasibleNodesToFind nodes fit (adaptive
//     percentageOfNodesToScore: 100 nodes minimum, 42% at 1,000 nodes).
//     - One feasible node: take it. Otherwise score with NodeResourcesFit
//     (LeastAllocated, weight 1), NodeResourcesBalancedAllocation (1),
//     NodeAffinity (2), TaintToleration (3), InterPodAffinity (2) and
//     PodTopologySpread (2), normalized like upstream, and pick the best
//     total with uniform random tie-breaking.
//  4. Success: Snapshot.Assume (the pod counts against the node at once),
//     then bind asynchronously. On bind failure the assumption is undone,
//     the pod goes to backoff, and a FailedScheduling event is emitted.
//  5. Failure (*FitError): Snapshot.Preempt runs DefaultPreemption's
//     dry-run. Its message becomes the "preemption: ..." suffix. If a node
//     is found the pod is nominated there (its resources reserved against
//     pods of lower-or-equal priority), victims get a DisruptionTarget
//     condition and are deleted gracefully, and lower-priority pods
//     nominated there lose their nomination. The pod goes back to the queue,
//     a FailedScheduling Warning event is created, and the status is patched
//     to PodScheduled=False/Unschedulable with the same message (plus
//     nominatedNodeName).
//
// # Queue
//
// Three parts: active (heap), backoff (heap by expiry; backoff is 1s doubled
// per attempt up to 10s) and unschedulable (set). A failed pod records the
// plugins that rejected it. Cluster events (node add/update, assigned pod
// add/update/delete) move only unschedulable pods whose rejecting plugins the
// event concerns, to backoff if still backing off, else active. If an event
// arrived while the pod was being scheduled (moveRequestCycle >= its cycle),
// the failed pod goes straight to backoff. Pods waiting over 5 minutes are
// flushed anyway. Errors (no plugins, e.g. a bind failure or no nodes) always
// back off.
//
// # Informer handlers
//
//   - Pod with spec.nodeName: Snapshot.AddPod (this also confirms an
//     assumed pod), queue removal, AssignedPodAdd/Update event (an update
//     moves pods only when labels changed, or a request went down). Terminal
//     pods (Succeeded/Failed) are removed.
//   - Pending pod for our schedulerName (empty counts as the default), not
//     terminating: Queue.Add/Update. Events for pods we assumed are
//     ignored until the informer sees them bound.
//   - Pod delete: queue and snapshot removal; AssignedPodDelete event.
//   - Node add/update/delete: Snapshot.SetNode/RemoveNode; an update only
//     moves pods when allocatable, labels, taints or spec.unschedulable
//     changed. NotReady nodes are not filtered: upstream relies on the
//     node lifecycle controller's taints.
//   - Namespace: labels for pod-affinity namespaceSelector.
//
// # Invariants
//
//   - Snapshot is only touched under Scheduler.mu; Queue has its own lock
//     and is never called with Scheduler.mu held by the queue itself.
//   - Every pod in the Snapshot has spec.nodeName set. Per-node aggregates
//     (requested resources, non-zero requests, host ports, affinity counts)
//     and the label/affinity groups always equal the sum over its pods.
//   - A pod is in at most one queue part; popped pods are "in flight" until
//     Done (bound) or AddUnschedulable.
//   - API calls (bind, events, status, deletes) run asynchronously, at most
//     64 at a time; the scheduling loop never waits for the API.
//
// # Performance
//
// Filters are O(1) per node thanks to per-node aggregates. Selector matching
// for topology spread and pod affinity is done once per label group (pods
// sharing namespace and labels) and once per affinity group (pods sharing
// identical pod (anti-)affinity), not per pod. BenchmarkScheduleHarness
// (1,000 nodes, 10,000 pods) measures the core.
//
// # Not implemented
//
// Volume plugins, ImageLocality, DRA, PodDisruptionBudgets in preemption,
// system default topology spread constraints, scheduler extenders, profiles
// and plugin configuration, PreFilterResult node narrowing for matchFields
// affinity, preemption on behalf of a Deferred in-place resize
// (InPlacePodVerticalScalingSchedulerPreemption, alpha upstream).
//
// # In-place resize
//
// A bound pod counts as upstream's PodRequests with UseStatusResources:
// per resource the largest of its spec's requests and what the kubelet
// reports it allocated (allocatedResources) and actuated
// (resources.requests) — without the spec once the kubelet marked the
// resize Infeasible, since it will never be applied. A Deferred resize
// counts at its new size, keeping the room it waits for. An assigned pod
// update that lowers any request (upstream's UpdatePodScaleDown) moves the
// pods NodeResourcesFit rejected.
package scheduler
