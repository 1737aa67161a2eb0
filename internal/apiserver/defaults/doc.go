// Package defaults applies the Kubernetes v1.37 field defaults to versioned k8s.io/api objects.
//
// # Registration
//
// Nothing in this package runs on import. A caller owns its runtime.Scheme and
// calls Register once, after the k8s.io/api types are added to it:
//
//	s := runtime.NewScheme()
//	_ = corev1.AddToScheme(s) // ... and the other groups
//	defaults.Register(s)
//	s.Default(pod) // pod now carries the same defaults kube-apiserver would add
//
// Register installs one defaulting function per top-level object type with
// runtime.Scheme.AddTypeDefaultingFunc. Every List type is registered too and
// defaults each of its items, matching upstream's generated defaulters.
//
// # Semantics
//
// The defaults mirror what kube-apiserver v1.37 (with its default feature
// gates) applies while decoding a request body, i.e. the hand-written
// SetDefaults_* functions of pkg/apis/<group>/<version>/defaults.go plus the
// declarative "+default=" markers of k8s.io/api, applied to every nested
// struct the generated defaulters reach (including status fields). They do
// not include what the registry strategies do in PrepareForCreate (pod phase,
// namespace finalizers, ClusterIP allocation, Job selectors, ...).
// The defaulting functions only fill unset fields, so applying them twice
// gives the same result as applying them once (one upstream corner of
// pod-level resources excepted; see podresources.go).
//
// # Layout
//
// Files are split by API group (core.go, apps.go, batch.go, ...). The pod
// template defaulter, defaultPodSpec in podspec.go, is written once and is
// reused by every owner of a PodTemplateSpec (PodTemplate, ReplicationController,
// Deployment, ReplicaSet, DaemonSet, StatefulSet, Job and CronJob). The extra
// defaults that only a real Pod receives (requests from limits, pod-level
// resources, enableServiceLinks, host-network ports) live in defaultPod.
package defaults
