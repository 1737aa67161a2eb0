// Package endpoints is the Endpoints controller: for every Service with a selector it keeps a
// core/v1 Endpoints object of the same name listing the pods the selector matches, as
// Kubernetes' legacy endpoint-controller does (the EndpointSlice controller in
// internal/controller/endpointslice keeps the newer API).
//
// A pod is listed when it has an IP of the service's family (its first ipFamily, else that of
// its cluster IP, else that of the pod's IP) and is not Succeeded/Failed; a terminating pod is
// listed only when the Service publishes not-ready addresses. Ready pods (or every pod, with
// publishNotReadyAddresses) go into addresses, the others into notReadyAddresses, each with
// nodeName, a targetRef to the pod and, when the pod's hostname is set and its subdomain names
// the Service, the hostname. Ports are resolved per pod (a named targetPort is looked up among
// the pod's container ports; a port the pod cannot resolve is left out) and the addresses are
// packed into subsets by the set of ports they offer, in a canonical order. A headless Service
// without ports lists its pods in a subset without ports.
//
// The Endpoints object carries the Service's labels (plus service.kubernetes.io/headless for
// services without a cluster IP) and the annotation endpoints.kubernetes.io/last-change-trigger-time:
// the earliest change (a pod's Ready transition or the Service's creation) not yet reflected.
// Over 1000 addresses, the list is truncated (ready addresses first, spread over the subsets
// in proportion) and annotated endpoints.kubernetes.io/over-capacity=truncated. The controller
// writes only when subsets, labels or the capacity annotation change.
//
// The Endpoints of a deleted Service are deleted; at start-up the controller also looks at
// every Endpoints object, so that leftovers of Services deleted while it was down go too (those
// holding a leader-election record are kept). Services without a selector, ExternalName
// Services and default/kubernetes (the API server's own) are left alone. Like upstream, the
// controller does not add endpointslice.kubernetes.io/skip-mirror: that label marks Endpoints
// that others (the API server, for default/kubernetes) maintain.
//
// # Usage
//
//	factory := informers.NewSharedInformerFactory(client, 0)
//	c := endpoints.New(client, factory.Core().V1().Pods(), factory.Core().V1().Services(),
//		factory.Core().V1().Endpoints())
//	factory.Start(ctx.Done())
//	go c.Run(ctx, 5)
//
// The content of the Endpoints object is computed by pure functions in subsets.go.
package endpoints
