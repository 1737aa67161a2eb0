// Package simnode runs simulated nodes: many kubelet look-alikes in one process, for scale
// tests and container-free demos. They talk to the API server only through client-go, the way
// a kubelet does, so the control plane cannot tell them from real nodes; no container runs.
//
// # Manual
//
// Create a Cluster and run it until its context ends:
//
//	cfg := rest.CopyConfig(adminConfig)
//	cfg.QPS, cfg.Burst = 1000, 2000 // many nodes make many calls
//	client := kubernetes.NewForConfigOrDie(cfg)
//	c, err := simnode.New(simnode.Config{Client: client, Nodes: 1000})
//	...
//	go c.Run(ctx)
//
// Each node (sim-0000, sim-0001, ... with the default NamePrefix "sim-"):
//
//   - registers its Node: created with the labels kubernetes.io/hostname, kubernetes.io/os=linux,
//     kubernetes.io/arch=amd64 (and their beta.kubernetes.io twins),
//     node.kubernetes.io/instance-type=simulated plus Config.Labels, and Config.Taints; then its
//     status through the status subresource: capacity = allocatable (default 32 cpu, 256Gi
//     memory, 100Gi ephemeral-storage, 110 pods), the kubelet's four conditions (Ready=True
//     KubeletReady, MemoryPressure/DiskPressure/PIDPressure=False), an InternalIP from
//     Config.NodeCIDR (default 10.200.0.0/16; reported only, never used for traffic) and the
//     Hostname address, nodeInfo (kubeletVersion v1.37.2-kijabi-sim, containerRuntimeVersion
//     simulated://1.0) and the kubelet endpoint port 10250. A Node that already exists (from an
//     earlier run) is adopted.
//   - heartbeats like the kubelet: it renews the Lease kube-node-lease/<node> (holder = node
//     name, owned by the Node, leaseDurationSeconds 40) every RenewInterval (10s, +0-4%
//     jitter), and reports its status (fresh lastHeartbeatTime) every StatusInterval (1m), or at
//     once when the stored status differs from what it reports, e.g. after the node lifecycle
//     controller marked it Unknown. A Node deleted by someone is not re-registered (as with a
//     kubelet); its Lease keeps being renewed.
//   - runs the pods bound to it (spec.nodeName): a pod goes straight to Running with a pod IP
//     from the Node's spec.podCIDR if set, else from the node's /24 of Config.PodCIDR (default
//     10.128.0.0/10); hostNetwork pods get the node's IP. Its containers are Running (ready,
//     started, containerID sim://<pod-uid>-<name>, an imageID digest), its init containers
//     Terminated/Completed (sidecars, restartPolicy Always, Running), and its conditions
//     PodReadyToStartContainers, Initialized, ContainersReady, Ready and PodScheduled True.
//   - finishes pods: a pod owned by a Job, or with restartPolicy Never/OnFailure and the
//     annotation simnode.kijabi.io/run-seconds: "N" (seconds, may be fractional), ends N seconds
//     (Job pods without the annotation: Config.JobRunTime, default 2s) after it started: its
//     containers Terminated with exit code 0 (Completed) and the pod Succeeded, or, with the
//     annotation simnode.kijabi.io/exit-code: "N" for N != 0, exit code N (Error) and Failed.
//     With simnode.kijabi.io/fail-indexes: "1,3-5" only pods whose completion index
//     (batch.kubernetes.io/job-completion-index) is listed fail, with the exit-code
//     annotation's code or 1; the others succeed.
//     (A real kubelet would restart the containers of an OnFailure pod; the simulation fails it.)
//   - completes deletions: a pod marked for deletion (deletionTimestamp) is deleted at once with
//     grace period 0 and a UID precondition, as the kubelet does after stopping the containers.
//     A pod with finalizers (the Job controller's, say) is first given a terminal status
//     (containers exit 137, phase Failed) so that the finalizer's owner sees it finish.
//
// Pause(node) stops a node's heartbeats and pod handling, as if its kubelet died, so its Lease
// expires and the control plane takes it for lost; Resume(node) brings it back: status and
// Lease at once, then its pods are caught up.
//
// # Scale
//
// All nodes share one pod informer (bound pods, indexed by spec.nodeName) and one Node
// informer; heartbeats and pod updates go through two rate-limited work queues with
// Config.Workers and 8×Config.Workers workers, so 1,000 nodes and 10,000 pods need about a
// hundred goroutines. In
// steady state the API calls are one Lease update per node per RenewInterval, one Node status
// update per node per StatusInterval, and one pod status update per pod transition. The
// client's QPS/Burst bounds the rate; give it enough (e.g. 1000/2000 for 1,000 nodes).
//
// What is not simulated: resource usage and pressure, pod admission (capacity, node
// affinity, taints), probes, restarts, images in the node status, volumes, logs, exec and the
// kubelet's HTTPS endpoint.
package simnode
