// Package endpointslice is the EndpointSlice controller: for every Service with a selector
// it keeps a set of discovery.k8s.io/v1 EndpointSlices listing the pods the selector matches,
// as Kubernetes' endpointslice-controller.k8s.io does.
//
// Slices the controller manages carry the labels kubernetes.io/service-name=<service> and
// endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io (plus the Service's
// own labels, and service.kubernetes.io/headless for headless services), a controller
// ownerReference to the Service (so that the garbage collector removes them with it), and
// generateName "<service>-".
//
// A pod is listed when it has an IP, is not Succeeded/Failed for good (restartPolicy Never, or
// OnFailure and Succeeded) and its node is known (unless publishNotReadyAddresses). Each
// endpoint has the pod's address of the slice's family, conditions ready (pod Ready and not
// terminating, or the Service publishes not-ready addresses), serving (pod Ready) and
// terminating (deletionTimestamp set), nodeName, the node's topology.kubernetes.io/zone, a
// targetRef to the pod, and a hostname when the pod's hostname is set and its subdomain names
// the Service.
//
// Ports are resolved per pod: a named targetPort is looked up among the pod's container ports
// (same name and protocol; a port that cannot be resolved is left out), so pods that resolve
// to different numbers land in different slices. Slices are grouped by address family (from
// the Service's ipFamilies, IPv4 by default) and port set, and hold at most 100 endpoints.
// Existing slices are updated in place where possible, filled before new ones are created, and
// deleted once empty; a Service with no endpoints keeps one empty placeholder slice per family.
// Services without a selector are left alone.
//
// Writes go through the API; the controller remembers the resourceVersion of every slice it
// wrote and waits (requeueing the Service) while its informer cache still lags behind them, so
// a stale cache never makes it create duplicate slices.
//
// # Usage
//
//	factory := informers.NewSharedInformerFactory(client, 0)
//	c := endpointslice.New(client, factory.Core().V1().Pods(), factory.Core().V1().Services(),
//		factory.Core().V1().Nodes(), factory.Discovery().V1().EndpointSlices())
//	factory.Start(ctx.Done())
//	go c.Run(ctx, 5)
//
// The decisions (which endpoints, which slices to create, update and delete) are pure functions
// in reconcile.go.
package endpointslice
