// Package validation checks versioned Kubernetes API objects the way kube-apiserver does, returning field.ErrorList values whose paths, types and messages match upstream.
//
// # Entry points
//
// The API server calls exactly three functions, always after defaulting:
//
//   - ValidateCreate(obj) for a new object, metadata included;
//   - ValidateUpdate(obj, old) for a write to the main resource;
//   - ValidateStatusUpdate(obj, old) for a write to the status subresource.
//
// Each one dispatches on the concrete k8s.io/api pointer type; types this
// package does not know return nil, which means "no validation". If old does
// not have the same type as obj an internal error is returned rather than a
// panic.
//
// # Metadata
//
// Creates run apimachinery's ValidateObjectMeta with the per-resource name rule
// (DNS-1123 subdomain for most types, DNS-1035 label for Services, DNS-1123
// label for Namespaces, path-segment names for RBAC objects and the
// autoscaling scale target) and the correct namespaced/cluster-scoped flag.
// Updates run ValidateObjectMetaUpdate. Like upstream, that requires
// metadata.resourceVersion to be set on the new object, so for unconditional
// updates the caller must copy the stored resourceVersion in first.
//
// # Where things live
//
//   - core_pod.go: pods, pod specs (shared by every workload), containers, volumes, probes, scheduling
//   - core_service.go: services
//   - core_config.go: namespaces, config maps, secrets, service accounts
//   - core_other.go: endpoints, nodes, events, persistent volumes and claims, limit ranges, quotas, replication controllers, pod templates
//   - apps.go, batch.go (with cron.go), networking.go, discovery.go, storage.go, rbac.go, misc.go (coordination, scheduling, policy, autoscaling, events.k8s.io)
//   - node.go (runtime classes), servicecidr.go (service CIDRs and IP addresses), flowcontrol.go (API
//     Priority and Fairness), resource.go (dynamic resource allocation), storage_more.go (storage
//     capacities, volume attributes classes)
//   - helpers.go: name, port, quantity, selector, percent and immutability helpers used everywhere
//
// # Paths
//
// Every validator takes the *field.Path of the value it checks and builds child
// paths with Child, Index and Key, so the same pod spec code reports
// "spec.containers[0].image" for a Pod, "spec.template.spec.containers[0].image"
// for a Deployment and "spec.jobTemplate.spec.template.spec.containers[0].image"
// for a CronJob.
//
// # Defaulted fields
//
// Fields that upstream defaulting always fills in (protocols, pull policies,
// restart and DNS policies, service type, session affinity, probe thresholds and
// so on) are checked against their enums only when non-empty. Upstream would
// report a Required error for an empty value; here a gap in defaulting never
// turns a user's valid object into a 422.
package validation
