// Package quota is the ResourceQuota arithmetic the API server's quota admission and the
// resourcequota controller share: what an object counts against a quota (Usage), whether a
// quota's scopes select it (Matches), which quota resource names a kind of object can use
// (MatchingResources), what a pod must set when a quota tracks cpu or memory
// (MissingResources), and sums and comparisons over ResourceLists. The functions are pure:
// no client calls, no caches, and they never modify their arguments.
//
// # What objects count
//
// Usage follows Kubernetes' quota evaluators (pkg/quota/v1/evaluator/core):
//
//   - A pod always counts "count/pods": 1. Unless it is terminal (Succeeded or Failed), or its
//     deletionTimestamp plus deletionGracePeriodSeconds has passed, it also counts "pods": 1
//     and its effective requests and limits: the larger of the sum of its app and sidecar
//     containers and the peak of its init containers (each init container with the sidecars
//     started before it), pod-level resources instead where set, plus the pod overhead (limits:
//     only those set), and the allocated/actuated resources of an in-place resize as the
//     scheduler reads them (k8s.io/component-helpers/resource). The names are "requests.cpu" and
//     "cpu", "limits.cpu", the same for memory and ephemeral-storage, "hugepages-<size>" and
//     "requests.hugepages-<size>", and "requests.<name>" for extended resources (including
//     DRA's deviceclass.resource.kubernetes.io/<class>).
//   - A service counts "services" and "count/services" 1, "services.loadbalancers" 1 for a
//     LoadBalancer, and "services.nodeports" the number of its ports for NodePort and
//     LoadBalancer types (for a LoadBalancer with allocateLoadBalancerNodePorts false, only
//     the ports that name a nodePort); the last two are present as 0 otherwise.
//   - A PersistentVolumeClaim counts "persistentvolumeclaims" and
//     "count/persistentvolumeclaims" 1 and "requests.storage" the larger of its storage
//     request and status.allocatedResources (rounded up to whole bytes), and the same per
//     storage class as "<class>.storageclass.storage.k8s.io/persistentvolumeclaims" and
//     "<class>.storageclass.storage.k8s.io/requests.storage" (the class from the beta
//     annotation, else spec.storageClassName).
//   - ConfigMaps, Secrets, ReplicationControllers and ResourceQuotas count their legacy name
//     ("configmaps", ...) and "count/<resource>" 1; any other resource
//     "count/<resource>.<group>" ("count/<resource>" in the core group) 1.
//
// # Scopes
//
// A quota's spec.scopes and spec.scopeSelector expressions must all match an object for the
// quota to apply. Terminating / NotTerminating (activeDeadlineSeconds set or not), BestEffort
// / NotBestEffort (QoS class), PriorityClass (with In, NotIn, Exists, DoesNotExist over
// spec.priorityClassName) and CrossNamespacePodAffinity (a pod (anti-)affinity term with
// namespaces or a namespaceSelector) select pods; VolumeAttributesClass (over the claim's
// spec.volumeAttributesClassName, status.currentVolumeAttributesClassName and
// status.modifyVolumeStatus.targetVolumeAttributesClassName) selects PersistentVolumeClaims.
// A scoped quota applies to no other object, so its object counts of other kinds stay 0.
package quota
